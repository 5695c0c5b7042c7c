// An RGB image in colour half-blocks (two pixels per cell), coloured cells on an ASCII terminal with
// colour, or an ASCII ramp without colour.
/// An RGB image (row-major, 3 bytes per pixel) in half-blocks: each cell shows two pixels; scaled up by
/// a whole factor where the area allows.
public struct ImageView: Widget, Sendable {
    public var width: Int, height: Int, rgb: [UInt8]
    public init(width: Int, height: Int, rgb: [UInt8]) {
        self.width = width
        self.height = height
        self.rgb = rgb
    }

    /// Nearest colour of the 256-colour palette's 6×6×6 cube or grey ramp.
    public static func quantize(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> Color {
        func level(_ v: UInt8) -> Int { v < 48 ? 0 : v < 115 ? 1 : (Int(v) - 35) / 40 }
        let (ri, gi, bi) = (level(r), level(g), level(b))
        let steps = [0, 95, 135, 175, 215, 255]
        let cube = 16 + 36 * ri + 6 * gi + bi
        let grey = (Int(r) + Int(g) + Int(b)) / 3
        let gi2 = grey > 238 ? 23 : Swift.max(0, (grey - 3) / 10)
        let gv = 8 + 10 * gi2
        func dist(_ a: (Int, Int, Int)) -> Int {
            (a.0 - Int(r)) * (a.0 - Int(r)) + (a.1 - Int(g)) * (a.1 - Int(g)) + (a.2 - Int(b)) * (a.2 - Int(b))
        }
        return dist((steps[ri], steps[gi], steps[bi])) <= dist((gv, gv, gv)) ? Color(cube) : Color(232 + gi2)
    }

    public func render(_ area: Rect, into buf: inout Buffer, _ ctx: WidgetContext) {
        let glyphs = ctx.glyphs
        let colors = ctx.colors
        guard width > 0, height > 0 else { return }
        // Whole-number upscaling when the area has room (a 16-pixel glyph in a 40-column pane is drawn
        // 2× rather than small); downscaling otherwise.
        let k = Swift.max(1, Swift.min(area.width / width, 2 * area.height / height))
        let cols = Swift.min(area.width, width * k)
        let rows = Swift.min(area.height, (height * k + 1) / 2)
        func px(_ x: Int, _ y: Int) -> (UInt8, UInt8, UInt8) {
            let sx = x * width / cols
            let sy = Swift.min(height - 1, y * height / (rows * 2))
            let i = (sy * width + sx) * 3
            return (rgb[i], rgb[i + 1], rgb[i + 2])
        }
        for cy in 0..<rows {
            for cx in 0..<cols {
                let top = px(cx, 2 * cy)
                let bottom = px(cx, 2 * cy + 1)
                if colors > 0 && glyphs.unicode {
                    buf.set(
                        area.x + cx, area.y + cy, "▀",
                        Style(
                            fg: ImageView.quantize(top.0, top.1, top.2),
                            bg: ImageView.quantize(bottom.0, bottom.1, bottom.2)))
                } else if colors > 0 {
                    // No half-block glyph (an ASCII terminal) but colour: one cell, the mean of its
                    // two pixels, as a background colour.
                    let mean = (
                        UInt8((Int(top.0) + Int(bottom.0)) / 2), UInt8((Int(top.1) + Int(bottom.1)) / 2),
                        UInt8((Int(top.2) + Int(bottom.2)) / 2)
                    )
                    buf.set(area.x + cx, area.y + cy, " ", Style(bg: ImageView.quantize(mean.0, mean.1, mean.2)))
                } else {
                    let lum = (Int(top.0) + Int(top.1) + Int(top.2) + Int(bottom.0) + Int(bottom.1) + Int(bottom.2)) / 6
                    let ramp: [Unicode.Scalar] = [" ", ".", ":", "-", "=", "+", "*", "#", "%", "@"]
                    buf.set(area.x + cx, area.y + cy, ramp[Swift.min(9, lum * 10 / 256)])
                }
            }
        }
    }
}
