// Glyphs: digits and capital letters drawn from the project's bitmap font with random affine jitter
// (scale, rotation, shift) and stroke width, as grey S × S images — an MNIST-like dataset made in code.
import Compute
import Foundation

public struct GlyphImages {
    public static let alphabet: [Character] = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    /// Images [n, 1, size, size] in [0, 1] (ink is 1) and their class (index into `alphabet`).
    public let images: Tensor
    public let labels: [Int]
    public let size: Int

    /// `classes`: how many characters of the alphabet to use (10: digits only).
    public init(count: Int, size: Int = 16, classes: Int = 10, seed: UInt64) {
        precondition(count >= 0 && size >= 8 && (1...GlyphImages.alphabet.count).contains(classes), "glyphs: bad sizes")
        self.size = size
        var rng = RNG(seed: seed)
        var pixels = [Float](repeating: 0, count: count * size * size)
        var labels: [Int] = []
        for n in 0..<count {
            let label = rng.int(below: classes)
            labels.append(label)
            let c = GlyphImages.alphabet[label]
            // The glyph's 5 × 7 cell is mapped to about 60 % of the image, then jittered.
            let scale = Float(size) * 0.6 / 7 * rng.uniform(0.85, 1.15)
            let angle = rng.uniform(-0.25, 0.25)
            let shiftX = rng.uniform(-0.1, 0.1) * Float(size)
            let shiftY = rng.uniform(-0.1, 0.1) * Float(size)
            let stroke = rng.uniform(0.45, 0.8)  // half-width of a stroke, in font pixels
            let (ca, sa) = (cos(angle), sin(angle))
            let centre = Float(size) / 2
            for y in 0..<size {
                for x in 0..<size {
                    // Inverse map: image pixel → font coordinates.
                    let dx = (Float(x) + 0.5 - centre - shiftX) / scale
                    let dy = (Float(y) + 0.5 - centre - shiftY) / scale
                    let fx = ca * dx + sa * dy + 2.5
                    let fy = -sa * dx + ca * dy + 3.5
                    var ink: Float = 0
                    let ix = Int(fx.rounded(.down))
                    let iy = Int(fy.rounded(.down))
                    for gy in (iy - 1)...(iy + 1) {
                        for gx in (ix - 1)...(ix + 1) where BitmapFont.pixel(c, gx, gy) {
                            // Distance from the point to the font pixel's square, against the stroke.
                            let ex = max(0, abs(fx - (Float(gx) + 0.5)) - 0.5)
                            let ey = max(0, abs(fy - (Float(gy) + 0.5)) - 0.5)
                            let d = (ex * ex + ey * ey).squareRoot()
                            ink = max(ink, min(1, max(0, (stroke - d) / 0.25)))
                        }
                    }
                    pixels[(n * size + y) * size + x] = ink
                }
            }
        }
        images = Tensor(shape: [count, 1, size, size], data: pixels)
        self.labels = labels
    }
}
