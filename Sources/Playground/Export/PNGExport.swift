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

    /// A heatmap with `cell`-pixel squares.
    public static func heatmap(_ values: [[Float]], cell: Int = 16) -> (Int, Int, [UInt8]) {
        let rows = values.count
        let cols = values.first?.count ?? 0
        let w = max(1, cols * cell)
        let h = max(1, rows * cell)
        var px = [UInt8](repeating: 255, count: w * h * 3)
        let flat = values.flatMap { $0 }.filter(\.isFinite)
        let lo = flat.min() ?? 0
        let hi = flat.max() ?? 1
        for r in 0..<rows {
            for c in 0..<cols {
                let v = values[r][c]
                let (R, G, B) = rgb(Heatmap.color(v.isFinite ? (v - lo) / max(hi - lo, 1e-9) : 0))
                for y in (r * cell)..<((r + 1) * cell) {
                    for x in (c * cell)..<((c + 1) * cell) {
                        let i = (y * w + x) * 3
                        px[i] = R
                        px[i + 1] = G
                        px[i + 2] = B
                    }
                }
            }
        }
        return (w, h, px)
    }

    /// Line plot series on white, 2-pixel lines, axes at the left and bottom.
    public static func plot(_ series: [Series], width: Int = 640, height: Int = 360) -> (Int, Int, [UInt8]) {
        var px = [UInt8](repeating: 255, count: width * height * 3)
        func put(_ x: Int, _ y: Int, _ c: (UInt8, UInt8, UInt8)) {
            guard x >= 0, y >= 0, x < width, y < height else { return }
            let i = (y * width + x) * 3
            px[i] = c.0
            px[i + 1] = c.1
            px[i + 2] = c.2
        }
        let m = 20
        for x in m..<(width - m) { put(x, height - m, (0, 0, 0)) }
        for y in m..<(height - m) { put(m, y, (0, 0, 0)) }
        let all = series.flatMap(\.points).filter { $0.y.isFinite }
        guard let x0 = all.map(\.x).min(), let x1 = all.map(\.x).max(), let y0 = all.map(\.y).min(),
            let y1 = all.map(\.y).max()
        else {
            return (width, height, px)
        }
        for s in series {
            let c = rgb(s.color)
            var prev: (Int, Int)?
            for p in s.points where p.y.isFinite {
                let x = m + Int((p.x - x0) / max(x1 - x0, 1e-9) * Double(width - 2 * m))
                let y = height - m - Int((p.y - y0) / max(y1 - y0, 1e-9) * Double(height - 2 * m))
                if let (a, b) = prev {
                    let n = max(abs(x - a), abs(y - b), 1)
                    for t in 0...n {
                        let xx = a + (x - a) * t / n
                        let yy = b + (y - b) * t / n
                        put(xx, yy, c)
                        put(xx, yy + 1, c)
                    }
                }
                prev = (x, y)
            }
        }
        return (width, height, px)
    }
}
