// Export and text rendering of the image labs' pictures: sample grids as PNG (upscaled, titled), the
// 2-D GAN game as a PNG (critic field, real and generated points, axes and legend), the VQ view
// (originals, reconstructions, code maps, usage histogram), and sample grids as terminal art —
// 24-bit colour half-blocks, or an ASCII density ramp where colour or UTF-8 is not wanted.
import Foundation
import Labs
import TerminalUI

public enum ImageExport {
    /// Tiles `grid` into rows of `columns` images, each pixel a `scale`×`scale` square, 2-pixel gaps,
    /// with `title` above.
    public static func gridPNG(
        _ grid: SampleGrid, columns: Int, scale: Int = 4, title: String = "", rowLabels: [String] = []
    ) -> (Int, Int, [UInt8]) {
        let cols = max(1, min(columns, grid.count))
        let rows = max(1, (grid.count + cols - 1) / cols)
        let gap = 2
        let tile = grid.side * scale
        let labelW = (rowLabels.map { $0.count }.max() ?? 0) * 6 + (rowLabels.isEmpty ? 0 : 8)
        let top = title.isEmpty ? gap : 22
        let width = max(labelW + cols * (tile + gap) + gap, PixelCanvas.textWidth(title) + 16)
        let height = top + rows * (tile + gap) + gap
        var canvas = PixelCanvas(width: width, height: height, background: (40, 40, 40))
        if !title.isEmpty {
            canvas.fill(0, 0, width, 20, (255, 255, 255))
            canvas.text(title, 6, 6, (0, 0, 0))
        }
        for (r, label) in rowLabels.prefix(rows).enumerated() {
            let y: Int = top + r * (tile + gap) + tile / 2 - 3
            canvas.text(label, 4, y, (230, 230, 230))
        }
        for i in 0..<grid.count {
            let ox = labelW + gap + (i % cols) * (tile + gap)
            let oy = top + (i / cols) * (tile + gap)
            for y in 0..<grid.side {
                for x in 0..<grid.side {
                    let (r, g, b) = grid.rgb(i, x, y)
                    canvas.fill(ox + x * scale, oy + y * scale, scale, scale, (byte(r), byte(g), byte(b)))
                }
            }
        }
        return (width, height, canvas.rgb)
    }

    static func byte(_ v: Float) -> UInt8 { UInt8(max(0, min(255, (v * 255).rounded()))) }

    /// The 2-D game: the critic's value over the plane (blue low → red high, colour bar with values),
    /// real points (white) and generated points (black), axes with values, a legend and a title.
    public static func planePNG(_ p: GANPlaneProbe, title: String, size: Int = 480) -> (Int, Int, [UInt8]) {
        let left = 48
        let top = 30
        let bar = 16
        let width = left + size + 24 + bar + 56
        let height = top + size + 52
        var canvas = PixelCanvas(width: width, height: height)
        canvas.text(title, 8, 8, (0, 0, 0))
        let n = p.field.count
        let flat = p.field.flatMap { $0 }.filter(\.isFinite)
        let lo = flat.min() ?? 0
        let hi = flat.max() ?? 1
        if n > 0 {
            for py in 0..<size {
                let r = min(n - 1, py * n / size)
                for px in 0..<size {
                    let c = min(n - 1, px * n / size)
                    let v = p.field[r][c]
                    let f = v.isFinite ? (v - lo) / max(hi - lo, 1e-9) : 0
                    canvas.set(left + px, top + py, PNGExport.rgb(Heatmap.color(f)))
                }
            }
        }
        let b = p.bounds
        func toPixel(_ x: Float, _ y: Float) -> (Int, Int) {
            // Points off the plane (or not finite) land just outside it and are clipped.
            let fx = max(-1, min(2, (x - b.x0) / (b.x1 - b.x0)))
            let fy = max(-1, min(2, (b.y1 - y) / (b.y1 - b.y0)))
            return (left + Int((fx.isFinite ? fx : -1) * Float(size)), top + Int((fy.isFinite ? fy : -1) * Float(size)))
        }
        for q in p.real {
            let (x, y) = toPixel(q.x, q.y)
            canvas.fill(x - 1, y - 1, 3, 3, (255, 255, 255))
        }
        for q in p.fake {
            let (x, y) = toPixel(q.x, q.y)
            canvas.fill(x - 1, y - 1, 3, 3, (0, 0, 0))
        }
        // Axes with values.
        canvas.line(left, top + size, left + size, top + size, (0, 0, 0))
        canvas.line(left, top, left, top + size, (0, 0, 0))
        for k in 0...4 {
            let xv = b.x0 + (b.x1 - b.x0) * Float(k) / 4
            let yv = b.y0 + (b.y1 - b.y0) * Float(k) / 4
            let xl = String(format: "%.1f", xv)
            let yl = String(format: "%.1f", yv)
            let (px, _) = toPixel(xv, 0)
            let (_, py) = toPixel(0, yv)
            canvas.line(px, top + size, px, top + size + 4, (0, 0, 0))
            canvas.text(xl, px - PixelCanvas.textWidth(xl) / 2, top + size + 8, (60, 60, 60))
            canvas.line(left - 4, py, left, py, (0, 0, 0))
            canvas.text(yl, left - 8 - PixelCanvas.textWidth(yl), py - 3, (60, 60, 60))
        }
        // Colour bar and legend.
        let bx = left + size + 24
        for y in 0..<size {
            let f = 1 - Float(y) / Float(max(1, size - 1))
            canvas.fill(bx, top + y, bar, 1, PNGExport.rgb(Heatmap.color(f)))
        }
        canvas.text(String(format: "%.2f", hi), bx + bar + 4, top, (0, 0, 0))
        canvas.text(String(format: "%.2f", lo), bx + bar + 4, top + size - 7, (0, 0, 0))
        canvas.text("D(x)", bx, top - 12, (0, 0, 0))
        let ly = top + size + 24
        canvas.fill(left, ly, 8, 8, (0, 0, 0))
        canvas.fill(left + 1, ly + 1, 6, 6, (255, 255, 255))
        canvas.text("real", left + 12, ly, (0, 0, 0))
        canvas.fill(left + 60, ly, 8, 8, (0, 0, 0))
        canvas.text("generated", left + 72, ly, (0, 0, 0))
        let stats = String(
            format: "critic estimate %.3f  exact W1 %.3f  modes %d", p.estimate, p.exactW1, p.modesHit)
        canvas.text(stats, left + 140, ly, (0, 0, 0))
        return (width, height, canvas.rgb)
    }

    /// A distinct colour per code index (golden-angle hues), for code maps.
    public static func codeColour(_ k: Int) -> (UInt8, UInt8, UInt8) {
        let h = (Double(k) * 137.508).truncatingRemainder(dividingBy: 360) / 60
        let s = 0.65
        let v = 0.5 + 0.45 * Double((k * 7) % 3) / 2
        let c = v * s
        let x = c * (1 - abs(h.truncatingRemainder(dividingBy: 2) - 1))
        let (r, g, b): (Double, Double, Double)
        switch Int(h) {
        case 0: (r, g, b) = (c, x, 0)
        case 1: (r, g, b) = (x, c, 0)
        case 2: (r, g, b) = (0, c, x)
        case 3: (r, g, b) = (0, x, c)
        case 4: (r, g, b) = (x, 0, c)
        default: (r, g, b) = (c, 0, x)
        }
        let m = v - c
        return (UInt8((r + m) * 255), UInt8((g + m) * 255), UInt8((b + m) * 255))
    }

    /// Originals, reconstructions and code maps of the probe images, and the usage histogram.
    public static func vqPNG(_ s: VQSnapshot, title: String) -> (Int, Int, [UInt8]) {
        let scale = s.originals.side <= 16 ? 6 : 4
        let tile = s.originals.side * scale
        let gap = 4
        let n = s.originals.count
        let labelW = 110
        let top = 26
        let histH = 90
        let width = max(labelW + n * (tile + gap) + gap, 480)
        let height = top + 3 * (tile + gap) + histH + 50
        var canvas = PixelCanvas(width: width, height: height)
        canvas.text(title, 6, 8, (0, 0, 0))
        let rows = ["original", "reconstruction", "code map"]
        for (r, label) in rows.enumerated() {
            canvas.text(label, 4, top + r * (tile + gap) + tile / 2 - 3, (0, 0, 0))
        }
        for i in 0..<n {
            let ox = labelW + i * (tile + gap)
            for (r, g) in [s.originals, s.reconstructions].enumerated() where i < g.count {
                for y in 0..<g.side {
                    for x in 0..<g.side {
                        let (cr, cg, cb) = g.rgb(i, x, y)
                        canvas.fill(
                            ox + x * scale, top + r * (tile + gap) + y * scale, scale, scale,
                            (byte(cr), byte(cg), byte(cb)))
                    }
                }
            }
            if i < s.codeMaps.count {
                let m = s.codeMaps[i]
                let side = Int(Double(m.count).squareRoot())
                let cell = tile / max(1, side)
                for (j, k) in m.enumerated() {
                    canvas.fill(
                        ox + (j % side) * cell, top + 2 * (tile + gap) + (j / side) * cell, cell, cell, codeColour(k))
                }
            }
        }
        // Usage histogram: one bar per code, height ∝ share (dead codes drawn red at the baseline).
        let hy = top + 3 * (tile + gap) + 16
        canvas.text(
            String(format: "codebook usage (K = %d), restarts %d", s.usage.count, s.restarts), 4, hy - 12, (0, 0, 0))
        let maxU = s.usage.max() ?? 1
        let bw = max(1, (width - 16) / max(1, s.usage.count))
        for (k, u) in s.usage.enumerated() {
            let h = Int(Double(histH) * u / max(maxU, 1e-12))
            let x = 8 + k * bw
            if u < 1e-4 {
                canvas.fill(x, hy + histH - 2, max(1, bw - 1), 2, (220, 40, 40))
            } else {
                canvas.fill(x, hy + histH - h, max(1, bw - 1), h, codeColour(k))
            }
        }
        canvas.line(8, hy + histH, 8 + s.usage.count * bw, hy + histH, (0, 0, 0))
        if let p = s.perplexity.last?.y, let d = s.deadFraction.last?.y {
            canvas.text(
                String(format: "perplexity %.1f   dead %.0f%%   step %d", p, d * 100, s.step), 8, hy + histH + 8,
                (0, 0, 0))
        }
        return (width, height, canvas.rgb)
    }

    /// Terminal art of a grid: `columns` images per row. With `colour`, each character cell is two
    /// pixels stacked (▀ in the upper pixel's foreground over the lower's background, 24-bit ANSI);
    /// otherwise one character per pixel pair from a density ramp (plain ASCII).
    public static func text(_ grid: SampleGrid, columns: Int, colour: Bool) -> [String] {
        let cols = max(1, min(columns, grid.count))
        let rows = (grid.count + cols - 1) / cols
        var lines: [String] = []
        let ramp = Array(" .:-=+*#%@")
        for r in 0..<rows {
            for y in stride(from: 0, to: grid.side, by: 2) {
                var line = ""
                for c in 0..<cols {
                    let i = r * cols + c
                    guard i < grid.count else { break }
                    for x in 0..<grid.side {
                        let top = grid.rgb(i, x, y)
                        let bottom = y + 1 < grid.side ? grid.rgb(i, x, y + 1) : top
                        if colour {
                            line +=
                                "\u{1B}[38;2;\(byte(top.0));\(byte(top.1));\(byte(top.2))m"
                                + "\u{1B}[48;2;\(byte(bottom.0));\(byte(bottom.1));\(byte(bottom.2))m▀"
                        } else {
                            let l = (luma(top) + luma(bottom)) / 2
                            line.append(ramp[min(ramp.count - 1, Int(l * Float(ramp.count)))])
                        }
                    }
                    line += colour ? "\u{1B}[0m " : " "
                }
                lines.append(line)
            }
            lines.append("")
        }
        return lines
    }

    static func luma(_ c: (Float, Float, Float)) -> Float { 0.299 * c.0 + 0.587 * c.1 + 0.114 * c.2 }
}
