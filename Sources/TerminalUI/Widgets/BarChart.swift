// Horizontal bars with labels and values (gradient norms by layer, a lesson's normalisers).
/// Horizontal bars with labels and values (codebook usage, expert load, gradient norms).
public struct BarChart: Widget, Sendable {
    public var items: [(label: String, value: Double)]
    public var color: Color
    public init(items: [(label: String, value: Double)], color: Color = 75) {
        self.items = items
        self.color = color
    }

    public func render(_ area: Rect, into buf: inout Buffer, _ ctx: WidgetContext) {
        let glyphs = ctx.glyphs
        guard !items.isEmpty, area.width >= 10 else { return }
        let labelW = Swift.min(12, items.map(\.label.count).max() ?? 0) + 1
        let maxV = items.map(\.value).filter(\.isFinite).max() ?? 1
        let barW = area.width - labelW - 8
        // Counts (a histogram) read as whole numbers, not "8.00" beside "248".
        let counts = items.allSatisfy {
            $0.value.isFinite && $0.value == $0.value.rounded() && Swift.abs($0.value) < 1e6
        }
        for (i, it) in items.prefix(area.height).enumerated() {
            buf.text(area.x, area.y + i, String(it.label.prefix(labelW - 1)), Style(fg: ctx.theme.label))
            let n = maxV > 0 && it.value.isFinite ? Int((it.value / maxV * Double(barW)).rounded()) : 0
            for k in 0..<Swift.max(0, n) { buf.set(area.x + labelW + k, area.y + i, glyphs.full, Style(fg: color)) }
            buf.text(
                area.x + labelW + Swift.max(0, n) + 1, area.y + i,
                counts ? String(Int(it.value)) : LinePlot.label(it.value), Style(fg: ctx.theme.dim))
        }
    }
}
