// Line plot at braille resolution (2 × 4 dots per cell), several series, optional log-y and EMA
// smoothing, y tick labels on the left and the x range below; markers instead of colour when monochrome.
import Foundation

public struct Series: Sendable {
    public var name: String
    public var points: [(x: Double, y: Double)]
    public var color: Color
    public init(name: String, points: [(x: Double, y: Double)], color: Color) {
        self.name = name
        self.points = points
        self.color = color
    }
}

public struct LinePlot: Widget, Sendable {
    public var series: [Series]
    public var logY = false
    /// Exponential moving average factor (0: raw values).
    public var smoothing: Double = 0
    /// Without colour, series after the first are drawn as marker glyphs at their points (o, x, +), so
    /// curves stay distinguishable on a monochrome terminal or with NO_COLOR.
    public var monochrome = false
    /// Label the x axis with integers (steps).
    public var integerX = true
    /// Fixed axis ranges (nil: from the data). A fixed y range is drawn as given, without padding.
    public var xRange: ClosedRange<Double>?
    public var yRange: ClosedRange<Double>?
    public static let markers: [Unicode.Scalar] = ["o", "x", "+", "*", "#", "@"]
    public init(series: [Series], logY: Bool = false, smoothing: Double = 0) {
        self.series = series
        self.logY = logY
        self.smoothing = smoothing
    }

    func transformed(_ s: Series) -> [(Double, Double)] {
        var out: [(Double, Double)] = []
        var ema: Double?
        for p in s.points where p.y.isFinite && (!logY || p.y > 0) {
            let y = logY ? Foundation.log10(p.y) : p.y
            ema = ema.map { smoothing * $0 + (1 - smoothing) * y } ?? y
            out.append((p.x, smoothing > 0 ? ema! : y))
        }
        return out
    }

    static func label(_ v: Double) -> String {
        let a = Swift.abs(v)
        if a >= 1000 { return String(format: "%.0fk", v / 1000) }
        if a >= 100 { return String(format: "%.0f", v) }
        if a >= 10 { return String(format: "%.1f", v) }
        return String(format: "%.2f", v)
    }

    public func render(_ area: Rect, into buf: inout Buffer, _ ctx: WidgetContext) {
        let glyphs = ctx.glyphs
        guard area.width >= 12 && area.height >= 3 else { return }
        let data = series.map(transformed)
        let all = data.flatMap { $0 }
        let labelW = 7
        let (plot, xAxis) = Rect(x: area.x + labelW, y: area.y, width: area.width - labelW, height: area.height)
            .splitBottom(1)
        guard !all.isEmpty, !plot.isEmpty else {
            buf.text(area.x, area.y, "waiting for data…", Style(fg: ctx.theme.dim), maxWidth: area.width)
            return
        }
        var (x0, x1) = xRange.map { ($0.lowerBound, $0.upperBound) } ?? (all.map(\.0).min()!, all.map(\.0).max()!)
        var (y0, y1) = (all.map(\.1).min()!, all.map(\.1).max()!)
        if x1 == x0 { x1 = x0 + 1 }
        if let r = yRange, r.upperBound > r.lowerBound {
            (y0, y1) = (r.lowerBound, r.upperBound)
        } else {
            if y1 == y0 {
                y0 -= 0.5
                y1 += 0.5
            }
            let pad = (y1 - y0) * 0.05
            y0 = y0 >= 0 ? Swift.max(0, y0 - pad) : y0 - pad
            y1 += pad
        }
        let dotsW = plot.width * 2
        let dotsH = plot.height * 4
        var bits = [UInt8](repeating: 0, count: plot.width * plot.height)
        var color = [Color](repeating: -1, count: plot.width * plot.height)
        func dot(_ dx: Int, _ dy: Int, _ c: Color) {
            guard dx >= 0, dy >= 0, dx < dotsW, dy < dotsH else { return }
            let cx = dx / 2
            let cy = dy / 4
            let bit: [[UInt8]] = [[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]]
            bits[cy * plot.width + cx] |= bit[dy % 4][dx % 2]
            color[cy * plot.width + cx] = c
        }
        var marks: [(Int, Int, Unicode.Scalar)] = []
        for (si, pts) in data.enumerated() {
            if monochrome && si > 0 {
                let m = LinePlot.markers[(si - 1) % LinePlot.markers.count]
                for (x, y) in pts {
                    let cx = Int(((x - x0) / (x1 - x0) * Double(plot.width - 1)).rounded())
                    let cy = Int(((y1 - y) / (y1 - y0) * Double(plot.height - 1)).rounded())
                    marks.append((cx, cy, m))
                }
                continue
            }
            var prev: (Int, Int)?
            for (x, y) in pts {
                let dx = Int(((x - x0) / (x1 - x0) * Double(dotsW - 1)).rounded())
                let dy = Int(((y1 - y) / (y1 - y0) * Double(dotsH - 1)).rounded())
                if let (px, py) = prev {  // Bresenham between consecutive points
                    var (cx, cy) = (px, py)
                    let sx = dx > px ? 1 : -1
                    let sy = dy > py ? 1 : -1
                    let ddx = Swift.abs(dx - px)
                    let ddy = -Swift.abs(dy - py)
                    var err = ddx + ddy
                    while true {
                        dot(cx, cy, series[si].color)
                        if cx == dx && cy == dy { break }
                        let e2 = 2 * err
                        if e2 >= ddy {
                            err += ddy
                            cx += sx
                        }
                        if e2 <= ddx {
                            err += ddx
                            cy += sy
                        }
                    }
                } else {
                    dot(dx, dy, series[si].color)
                }
                prev = (dx, dy)
            }
        }
        for cy in 0..<plot.height {
            for cx in 0..<plot.width {
                let b = bits[cy * plot.width + cx]
                guard b != 0 else { continue }
                let ch: Unicode.Scalar =
                    glyphs.unicode ? Unicode.Scalar(0x2800 + UInt32(b))! : (b.nonzeroBitCount > 2 ? "*" : ".")
                buf.set(plot.x + cx, plot.y + cy, ch, Style(fg: color[cy * plot.width + cx]))
            }
        }
        for (cx, cy, m) in marks where cx >= 0 && cy >= 0 && cx < plot.width && cy < plot.height {
            buf.set(plot.x + cx, plot.y + cy, m, Style(fg: ctx.theme.text, bold: true))
        }
        // y ticks: top, middle, bottom
        for (frac, row) in [(0.0, 0), (0.5, plot.height / 2), (1.0, plot.height - 1)] {
            var v = y1 - frac * (y1 - y0)
            if logY { v = Foundation.pow(10, v) }
            buf.text(
                area.x, plot.y + row, LinePlot.label(v).padding(toLength: labelW - 1, withPad: " ", startingAt: 0),
                Style(fg: ctx.theme.dim))
            buf.set(area.x + labelW - 1, plot.y + row, glyphs.unicode ? "┤" : "+", Style(fg: ctx.theme.faint))
        }
        let xLabel = { (v: Double) in integerX ? String(Int(v.rounded())) : LinePlot.label(v) }
        let left = xLabel(x0)
        let right = xLabel(x1)
        buf.text(xAxis.x, xAxis.y, left, Style(fg: ctx.theme.dim))
        buf.text(xAxis.x + xAxis.width - right.count, xAxis.y, right, Style(fg: ctx.theme.dim))
        var lx = xAxis.x + left.count + 2
        for (si, s) in series.enumerated() where lx < xAxis.x + xAxis.width - right.count - 2 {
            let key =
                monochrome && si > 0
                ? String(LinePlot.markers[(si - 1) % LinePlot.markers.count]) + " " : (glyphs.unicode ? "━ " : "- ")
            let room = xAxis.x + xAxis.width - right.count - 2 - lx
            let entry = key + s.name
            // An entry that does not fit whole is left out ("━ gr" named nothing); the first is cut
            // with a mark instead, so that a narrow plot still says what its line is.
            if entry.terminalColumns > room {
                if si == 0 {
                    buf.text(lx, xAxis.y, elided(entry, columns: room, unicode: glyphs.unicode), Style(fg: s.color))
                }
                break
            }
            lx += buf.text(lx, xAxis.y, entry, Style(fg: s.color)) + 2
        }
    }
}
