// An RGB canvas for exported figures, with the 5 × 7 bitmap font (Models/Datasets/BitmapFont), so a
// PNG carries its own title, axis values, legend and labels.
import Models

public struct PixelCanvas {
    public let width: Int, height: Int
    public var rgb: [UInt8]

    public init(width: Int, height: Int, background: (UInt8, UInt8, UInt8) = (255, 255, 255)) {
        self.width = width
        self.height = height
        rgb = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) {
            rgb[3 * i] = background.0
            rgb[3 * i + 1] = background.1
            rgb[3 * i + 2] = background.2
        }
    }

    public mutating func set(_ x: Int, _ y: Int, _ c: (UInt8, UInt8, UInt8)) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = (y * width + x) * 3
        rgb[i] = c.0
        rgb[i + 1] = c.1
        rgb[i + 2] = c.2
    }

    /// Fills a rectangle, clipped to the canvas (any part, or all of it, may lie outside).
    public mutating func fill(_ x0: Int, _ y0: Int, _ w: Int, _ h: Int, _ c: (UInt8, UInt8, UInt8)) {
        let ya = max(0, y0)
        let yb = min(height, y0 &+ h)
        let xa = max(0, x0)
        let xb = min(width, x0 &+ w)
        guard ya < yb, xa < xb else { return }
        for y in ya..<yb {
            for x in xa..<xb { set(x, y, c) }
        }
    }

    func clamp(_ v: Int, _ limit: Int) -> Int { min(max(v, -limit), limit) }

    /// A line between two points (Bresenham), `thickness` pixels.
    public mutating func line(
        _ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ c: (UInt8, UInt8, UInt8), thickness: Int = 1
    ) {
        // Clipped first: a point far outside (a diverged sample) must not make a line of 10⁹ steps.
        let limit = 4 * max(width, height)
        let (x0, y0, x1, y1) = (clamp(x0, limit), clamp(y0, limit), clamp(x1, limit), clamp(y1, limit))
        let n = max(abs(x1 - x0), abs(y1 - y0), 1)
        for t in 0...n {
            let x = x0 + (x1 - x0) * t / n
            let y = y0 + (y1 - y0) * t / n
            fill(x, y, thickness, thickness, c)
        }
    }

    /// Text at (x, y) (top-left), each glyph 6 × 8 pixels times `scale`; characters outside ASCII
    /// are drawn as their nearest ASCII (× as x, − as -), others as '?'. Returns the width drawn.
    @discardableResult
    public mutating func text(_ s: String, _ x: Int, _ y: Int, _ c: (UInt8, UInt8, UInt8), scale: Int = 1) -> Int {
        var cx = x
        for u in s.unicodeScalars {
            let ch: UInt32
            switch u {
            case "×": ch = 120
            case "−", "–", "—": ch = 45
            case "⏎": ch = 124
            case "·": ch = 46
            default: ch = u.value >= 32 && u.value < 127 ? u.value : 63
            }
            let glyph = BitmapFont.columns[Int(ch - 32) * 5..<(Int(ch - 32) * 5 + 5)]
            for (col, bits) in glyph.enumerated() {
                for row in 0..<7 where bits & (1 << row) != 0 {
                    fill(cx + col * scale, y + row * scale, scale, scale, c)
                }
            }
            cx += 6 * scale
        }
        return cx - x
    }

    public static func textWidth(_ s: String, scale: Int = 1) -> Int { s.unicodeScalars.count * 6 * scale }

}
