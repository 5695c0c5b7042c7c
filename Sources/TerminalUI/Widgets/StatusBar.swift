// The status line: fields on the left, the newest message on the right (never dropped).
/// A one-line bar of key/value fields, reversed colours.
public struct StatusBar: Widget, Sendable {
    public var fields: [(String, String)], message: String
    public init(fields: [(String, String)], message: String = "") {
        self.fields = fields
        self.message = message
    }
    public func render(_ area: Rect, into buf: inout Buffer, _ ctx: WidgetContext) {
        buf.fill(area, " ", Style(fg: 16, bg: ctx.theme.statusBackground))
        // The message (what just happened: "wrote …", "saved …") is never dropped: it keeps up to 70 %
        // of the line (a written file's whole path at 80 columns), the fields get the rest and are cut
        // at a field boundary.
        let messageRoom = message.isEmpty ? 0 : Swift.min(message.unicodeScalars.count, area.width * 7 / 10)
        let fieldEnd = area.x + area.width - messageRoom - (messageRoom > 0 ? 2 : 0)
        var x = area.x + 1
        for (k, v) in fields {
            let need = (k.isEmpty ? 0 : k.unicodeScalars.count + 1) + v.unicodeScalars.count
            if x + need > fieldEnd { break }
            if !k.isEmpty {
                x += buf.text(x, area.y, k + " ", Style(fg: ctx.theme.label, bg: ctx.theme.statusBackground))
            }
            x +=
                buf.text(x, area.y, v, Style(fg: ctx.theme.statusValue, bg: ctx.theme.statusBackground, bold: true)) + 2
        }
        if messageRoom > 0 {
            let scalars = Array(message.unicodeScalars)
            var shown = String(String.UnicodeScalarView(scalars.prefix(messageRoom)))
            if scalars.count > messageRoom {
                // Keep the first word (what happened) and the end (a path's file name); mark the cut.
                let head = Array((message.split(separator: " ").first.map { String($0) + " …" } ?? "…").unicodeScalars)
                let keepHead = head.count < messageRoom / 2 ? head : ["…"]
                shown = String(String.UnicodeScalarView(keepHead + scalars.suffix(messageRoom - keepHead.count)))
            }
            buf.text(
                area.x + area.width - messageRoom - 1, area.y, shown,
                Style(fg: ctx.theme.model, bg: ctx.theme.statusBackground))
        }
    }
}
