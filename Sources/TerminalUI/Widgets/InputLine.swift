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
        // Scroll so that the cursor's cell is in view, counting the cells the buffer gives each
        // character (two for a wide one, none for a combining mark on its own).
        let cells = chars.map(\.terminalColumns)
        var start = field.cursor
        var used = 1  // the cursor's own cell
        while start > 0 && used + cells[start - 1] <= room {
            start -= 1
            used += cells[start]
        }
        let shown = String(chars[start...])
        buf.text(area.x + x, area.y, shown, .plain, maxWidth: room)
        if active {
            let column = cells[start..<field.cursor].reduce(0, +)
            let under = field.cursor < chars.count ? String(chars[field.cursor]) : " "
            buf.text(
                area.x + x + Swift.min(column, room), area.y, under, Style(fg: 16, bg: ctx.theme.accent, bold: true),
                maxWidth: Swift.max(1, room + 1 - Swift.min(column, room)))
        }
    }
}
