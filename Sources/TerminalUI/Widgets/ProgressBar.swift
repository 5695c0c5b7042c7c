// A labelled progress bar with its percentage.
public struct ProgressBar: Widget, Sendable {
    public var fraction: Double, label: String
    public init(fraction: Double, label: String) {
        self.fraction = fraction
        self.label = label
    }
    public func render(_ area: Rect, into buf: inout Buffer, _ ctx: WidgetContext) {
        let glyphs = ctx.glyphs
        let lw = buf.text(area.x, area.y, label + " ", Style(fg: ctx.theme.label))
        let w = Swift.max(0, area.width - lw - 6)
        let n = Int((Swift.max(0, Swift.min(1, fraction)) * Double(w)).rounded())
        for i in 0..<w {
            buf.set(area.x + lw + i, area.y, i < n ? glyphs.full : glyphs.shade, Style(fg: i < n ? 41 : 238))
        }
        buf.text(area.x + lw + w + 1, area.y, "\(Int(fraction * 100))%", Style(fg: ctx.theme.label))
    }
}
