// A one-line text input drawn from a TextField, with its cursor.
public struct InputLine: Widget, Sendable {
    public var prompt: String, field: TextField, active: Bool
    public init(prompt: String, field: TextField, active: Bool) {
        self.prompt = prompt
        self.field = field
        self.active = active
    }
    public init(prompt: String, text: String, active: Bool) {
        var f = TextField()
        f.insert(text)
        self.init(prompt: prompt, field: f, active: active)
    }
    /// The prompt, then as much of the text as fits with the cursor kept in view; the cursor is shown
    /// as a reversed cell when the field is active.
    public func render(_ area: Rect, into buf: inout Buffer, _ ctx: WidgetContext) {
        let x = buf.text(area.x, area.y, prompt, Style(fg: ctx.theme.accent, bold: true), maxWidth: area.width)
        let room = Swift.max(1, area.width - x - 1)
        let chars = field.characters
        let start = Swift.max(0, field.cursor - room + 1)
        let shown = String(chars[Swift.min(start, chars.count)..<Swift.min(chars.count, start + room)])
        buf.text(area.x + x, area.y, shown, .plain, maxWidth: room)
        if active {
            let column = String(chars[Swift.min(start, chars.count)..<field.cursor]).unicodeScalars.count
            let under = field.cursor < chars.count ? chars[field.cursor].unicodeScalars.first ?? " " : " "
            buf.set(
                area.x + x + Swift.min(column, room), area.y, under, Style(fg: 16, bg: ctx.theme.accent, bold: true))
        }
    }
}
