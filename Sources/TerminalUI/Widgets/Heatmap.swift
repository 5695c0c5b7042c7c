// Heatmap of a matrix (e.g. attention probabilities) with row and column labels and a colour scale.
// Larger matrices than the area are shown by block maxima; without colour, an intensity ramp.
public struct Heatmap: Widget, Sendable {
    public var values: [[Float]]
    public var rowLabels: [String]
    public var columnLabels: [String]
    public var range: (Float, Float)?
    public init(values: [[Float]], rowLabels: [String] = [], columnLabels: [String] = [], range: (Float, Float)? = nil)
    {
        self.values = values
        self.rowLabels = rowLabels
        self.columnLabels = columnLabels
        self.range = range
    }

    /// 256-colour ramp from dark blue through teal to yellow (viridis-like).
    public static let palette: [Color] = [17, 18, 19, 25, 31, 37, 43, 42, 78, 114, 148, 184, 220, 226]

    public static func color(_ t: Float) -> Color {
        let i = Int((Swift.max(0, Swift.min(1, t)) * Float(palette.count - 1)).rounded())
        return palette[i]
    }

    public func render(_ area: Rect, into buf: inout Buffer, _ ctx: WidgetContext) {
        let glyphs = ctx.glyphs
        let colors = ctx.colors
        let rows = values.count
        let cols = values.first?.count ?? 0
        guard rows > 0, cols > 0, area.width >= 6, area.height >= 3 else { return }
        let labelW = rowLabels.isEmpty ? 0 : Swift.min(8, rowLabels.map(\.count).max() ?? 0) + 1
        let (grid0, legend) = Rect(
            x: area.x + labelW, y: area.y + (columnLabels.isEmpty ? 0 : 1),
            width: area.width - labelW, height: area.height - (columnLabels.isEmpty ? 0 : 1)
        ).splitBottom(1)
        // Two cells per column when there is room, so the map is not squashed.
        let cw = grid0.width >= 2 * cols ? 2 : 1
        let gw = Swift.min(cols, grid0.width / cw)
        let gh = Swift.min(rows, grid0.height)
        guard gw > 0 && gh > 0 else { return }
        let flat = values.flatMap { $0 }.filter(\.isFinite)
        let (lo, hi) = range ?? (flat.min() ?? 0, flat.max() ?? 1)
        let span = hi > lo ? hi - lo : 1
        for gy in 0..<gh {
            let r0 = gy * rows / gh
            let r1 = Swift.max(r0 + 1, (gy + 1) * rows / gh)
            if !rowLabels.isEmpty, r0 < rowLabels.count {
                buf.text(area.x, grid0.y + gy, String(rowLabels[r0].prefix(labelW - 1)), Style(fg: ctx.theme.label))
            }
            for gx in 0..<gw {
                let c0 = gx * cols / gw
                let c1 = Swift.max(c0 + 1, (gx + 1) * cols / gw)
                var v = -Float.infinity
                for r in r0..<r1 { for c in c0..<c1 where values[r][c].isFinite { v = Swift.max(v, values[r][c]) } }
                // No finite value under this cell (a separator row, a masked entry): leave it blank.
                guard v.isFinite else { continue }
                let t = (v - lo) / span
                for k in 0..<cw {
                    if colors > 0 {
                        buf.set(grid0.x + gx * cw + k, grid0.y + gy, " ", Style(bg: Heatmap.color(t)))
                    } else {
                        let ramp = glyphs.ramp
                        buf.set(
                            grid0.x + gx * cw + k, grid0.y + gy,
                            ramp[Swift.min(ramp.count - 1, Int(t * Float(ramp.count - 1) + 0.5))])
                    }
                }
            }
        }
        if !columnLabels.isEmpty {
            for gx in 0..<gw {
                let c0 = gx * cols / gw
                if c0 < columnLabels.count {
                    buf.text(grid0.x + gx * cw, area.y, String(columnLabels[c0].prefix(cw)), Style(fg: ctx.theme.label))
                }
            }
        }
        // Colour scale.
        var x = grid0.x
        x += buf.text(x, legend.y, LinePlot.label(Double(lo)) + " ", Style(fg: ctx.theme.dim))
        for i in 0..<Swift.min(10, Swift.max(0, legend.width - 14)) {
            let t = Float(i) / 9
            if colors > 0 {
                buf.set(x + i, legend.y, " ", Style(bg: Heatmap.color(t)))
            } else {
                buf.set(
                    x + i, legend.y,
                    glyphs.ramp[Swift.min(glyphs.ramp.count - 1, Int(t * Float(glyphs.ramp.count - 1) + 0.5))])
            }
        }
        buf.text(x + 11, legend.y, LinePlot.label(Double(hi)), Style(fg: ctx.theme.dim))
    }
}
