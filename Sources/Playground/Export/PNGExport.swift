// PNG export of what a pane shows: a heatmap as coloured squares, a line plot rasterised.
import CPNG
import Foundation
import TerminalUI

public struct PNGError: Error, CustomStringConvertible {
    public let description: String
}

public enum PNGExport {
    /// RGB of a 256-colour palette index (xterm's cube and grey ramp).
    static func rgb(_ c: Color) -> (UInt8, UInt8, UInt8) {
        let i = Int(c)
        if i >= 232 {
            let v = UInt8(8 + 10 * (i - 232))
            return (v, v, v)
        }
        if i >= 16 {
            let steps: [UInt8] = [0, 95, 135, 175, 215, 255]
            let k = i - 16
            return (steps[k / 36], steps[(k / 6) % 6], steps[k % 6])
        }
        return (128, 128, 128)
    }

    public static func write(_ path: String, width: Int, height: Int, rgb: [UInt8]) throws {
        var err = [CChar](repeating: 0, count: 256)
        if png_write_rgb(path, rgb, Int32(width), Int32(height), &err, 256) != 0 {
            throw PNGError(description: "cannot write \(path): \(String(cString: err))")
        }
    }

    /// A heatmap readable on its own: title, row and column labels (tokens), `cell`-pixel squares, and
    /// a colour bar with its end values.
    public static func heatmap(
        _ values: [[Float]], title: String = "", rowLabels: [String] = [], columnLabels: [String] = [],
        cell: Int = 16
    ) -> (Int, Int, [UInt8]) {
        let rows = values.count
        let cols = values.first?.count ?? 0
        let rowLabelWidth = (rowLabels.map { min(6, $0.unicodeScalars.count) }.max() ?? 0) * 6 + 6
        let left = rowLabelWidth + 4
        let top = 28 + (columnLabels.isEmpty ? 0 : 12)
        let bar = 16
        let width = max(left + cols * cell + 12 + bar + 48, PixelCanvas.textWidth(title) + 16)
        let height = max(top + rows * cell + 12, 120)
        var canvas = PixelCanvas(width: width, height: height)
        canvas.text(title, 8, 8, (0, 0, 0))
        let flat = values.flatMap { $0 }.filter(\.isFinite)
        let lo = flat.min() ?? 0
        let hi = flat.max() ?? 1
        for r in 0..<rows {
            if r < rowLabels.count {
                canvas.text(String(rowLabels[r].prefix(6)), 4, top + r * cell + (cell - 7) / 2, (60, 60, 60))
            }
            for c in 0..<cols {
                let v = values[r][c]
                let colour = rgb(Heatmap.color(v.isFinite ? (v - lo) / max(hi - lo, 1e-9) : 0))
                canvas.fill(left + c * cell, top + r * cell, cell, cell, colour)
            }
        }
        for (c, label) in columnLabels.prefix(cols).enumerated() {
            canvas.text(
                String(label.prefix(2)), left + c * cell + (cell - 6 * min(2, label.count)) / 2, top - 10, (60, 60, 60))
        }
        // Colour bar: high at the top.
        let bx = left + cols * cell + 12
        let barHeight = max(24, rows * cell)
        for y in 0..<barHeight {
            let f = 1 - Float(y) / Float(max(1, barHeight - 1))
            canvas.fill(bx, top + y, bar, 1, rgb(Heatmap.color(f)))
        }
        canvas.text(String(format: "%.2f", hi), bx + bar + 4, top, (0, 0, 0))
        canvas.text(String(format: "%.2f", lo), bx + bar + 4, top + barHeight - 7, (0, 0, 0))
        return (width, height, canvas.rgb)
    }

    /// A line plot readable on its own: title, axes with tick values (integer steps on x), a legend,
    /// 2-pixel lines; `logY` plots log10 of the values with the ticks labelled in the values.
    public static func plot(
        _ series: [Series], title: String = "", xLabel: String = "step", logY: Bool = false,
        width: Int = 640, height: Int = 360
    ) -> (Int, Int, [UInt8]) {
        var canvas = PixelCanvas(width: width, height: height)
        let left = 64
        let right = 16
        let top = 32
        let bottom = 40
        let plotW = width - left - right
        let plotH = height - top - bottom
        canvas.text(title, 8, 8, (0, 0, 0), scale: 2)
        let transform = { (y: Double) -> Double in logY ? log10(y) : y }
        let all = series.flatMap(\.points).filter { $0.y.isFinite && (!logY || $0.y > 0) }
        canvas.line(left, top, left, top + plotH, (0, 0, 0))
        canvas.line(left, top + plotH, left + plotW, top + plotH, (0, 0, 0))
        guard let x0r = all.map(\.x).min(), let x1r = all.map(\.x).max(), let y0r = all.map({ transform($0.y) }).min(),
            let y1r = all.map({ transform($0.y) }).max()
        else {
            return (width, height, canvas.rgb)
        }
        // Sparse series (a sweep's runs, a single prediction) are drawn as markers; pad the axes so
        // a marker at an end stays whole.
        let sparse = series.contains { !$0.points.isEmpty && $0.points.count <= 16 }
        let padX = sparse ? (x1r > x0r ? (x1r - x0r) * 0.04 : 0.5) : 0
        let x0 = x0r - padX
        let x1 = x1r > x0r ? x1r + padX : x0r + 1
        let (y0, y1) = y1r > y0r ? (y0r - (y1r - y0r) * 0.04, y1r + (y1r - y0r) * 0.04) : (y0r - 0.5, y1r + 0.5)
        func px(_ x: Double) -> Int { left + Int((x - x0) / (x1 - x0) * Double(plotW)) }
        func py(_ y: Double) -> Int { top + plotH - Int((y - y0) / (y1 - y0) * Double(plotH)) }
        for k in 0...4 {
            let yv = y0 + (y1 - y0) * Double(k) / 4
            let label = String(format: "%.3g", logY ? pow(10, yv) : yv)
            canvas.line(left - 4, py(yv), left, py(yv), (0, 0, 0))
            canvas.text(label, left - 8 - PixelCanvas.textWidth(label), py(yv) - 3, (60, 60, 60))
            let xv = x0 + (x1 - x0) * Double(k) / 4
            let xl = x1 - x0 < 20 ? String(format: "%.3g", xv) : String(Int(xv.rounded()))
            canvas.line(px(xv), top + plotH, px(xv), top + plotH + 4, (0, 0, 0))
            canvas.text(xl, px(xv) - PixelCanvas.textWidth(xl) / 2, top + plotH + 8, (60, 60, 60))
        }
        canvas.text(xLabel, left + plotW / 2 - PixelCanvas.textWidth(xLabel) / 2, top + plotH + 22, (0, 0, 0))
        if logY { canvas.text("(log scale)", left + 4, top + 4, (120, 120, 120)) }
        for s in series {
            let c = rgb(s.color)
            var prev: (Int, Int)?
            for p in s.points where p.y.isFinite && (!logY || p.y > 0) {
                let pt = (px(p.x), py(transform(p.y)))
                if let (a, b) = prev { canvas.line(a, b, pt.0, pt.1, c, thickness: 2) }
                prev = pt
            }
            if s.points.count <= 16 {
                for p in s.points where p.y.isFinite && (!logY || p.y > 0) {
                    canvas.fill(px(p.x) - 3, py(transform(p.y)) - 3, 7, 7, c)
                }
            }
        }
        // Legend, top right.
        var ly = top + 6
        for s in series {
            let w = PixelCanvas.textWidth(s.name) + 22
            let lx = left + plotW - w - 6
            canvas.fill(lx, ly + 2, 14, 3, rgb(s.color))
            canvas.text(s.name, lx + 20, ly, (0, 0, 0))
            ly += 12
        }
        return (width, height, canvas.rgb)
    }
}
