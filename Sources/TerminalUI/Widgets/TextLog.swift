// A scrolling log: the newest lines that fit, each wrapped to the width.
public struct TextLog: Widget, Sendable {
    public var lines: [(String, Style)]
    public init(lines: [(String, Style)]) { self.lines = lines }
    /// Shows the newest lines that fit (wrapped).
    public func render(_ area: Rect, into buf: inout Buffer, _ ctx: WidgetContext) {
        var rows: [(String, Style)] = []
        for (l, st) in lines { for w in wrap(l, width: area.width) { rows.append((w, st)) } }
        for (i, (l, st)) in rows.suffix(area.height).enumerated() {
            buf.text(area.x, area.y + i, l, st, maxWidth: area.width)
        }
    }
}
