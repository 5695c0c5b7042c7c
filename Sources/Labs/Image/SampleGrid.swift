// A batch of small images as plain numbers (what the UI draws and PNG export writes): n images of
// side × side with 1 or 3 channels, pixels in [0, 1], image-major then channel-major (NCHW).
import Compute

public struct SampleGrid: Sendable, Equatable {
    public var count: Int, channels: Int, side: Int
    public var pixels: [Float]
    public init(count: Int, channels: Int, side: Int, pixels: [Float]) {
        precondition(pixels.count == count * channels * side * side, "image grid: pixel count")
        self.count = count
        self.channels = channels
        self.side = side
        self.pixels = pixels
    }
    public static let empty = SampleGrid(count: 0, channels: 1, side: 1, pixels: [])

    /// From a tensor [n, C, S, S] with values in [−1, 1] (clamped).
    public init(tensor t: Tensor) {
        precondition(t.rank == 4 && t.shape[2] == t.shape[3], "image grid: expected [n, C, S, S], got \(t.shape)")
        self.init(
            count: t.shape[0], channels: t.shape[1], side: t.shape[2],
            pixels: t.toArray().map { Swift.min(1, Swift.max(0, ($0 + 1) / 2)) })
    }

    /// Colour of pixel (x, y) of image i, as (r, g, b) in [0, 1].
    public func rgb(_ i: Int, _ x: Int, _ y: Int) -> (Float, Float, Float) {
        let plane = side * side
        let base = i * channels * plane + y * side + x
        if channels == 1 {
            let v = pixels[base]
            return (v, v, v)
        }
        return (pixels[base], pixels[base + plane], pixels[base + 2 * plane])
    }

    /// The first `n` images.
    public func prefix(_ n: Int) -> SampleGrid {
        let k = Swift.min(n, count)
        return SampleGrid(
            count: k, channels: channels, side: side, pixels: Array(pixels[0..<(k * channels * side * side)]))
    }
}

extension SampleGrid {
    /// Where one conditioning token looks: cross-attention probabilities [N, heads, g·g, L] of token
    /// `token`, averaged over heads, scaled to each image's range (minimum to maximum), upsampled to the image and laid
    /// over a dimmed grey copy of it in a black → red → yellow scale.
    public func attentionOverlay(_ attention: Tensor, token: Int) -> SampleGrid {
        let (N, H, P, L) = (attention.shape[0], attention.shape[1], attention.shape[2], attention.shape[3])
        let g = Int(Double(P).squareRoot().rounded())
        precondition(g * g == P && token >= 0 && token < L && N >= count, "attention overlay: shape")
        let a = attention.toArray()
        var px = [Float](repeating: 0, count: count * 3 * side * side)
        for n in 0..<count {
            var map = [Float](repeating: 0, count: P)
            for h in 0..<H { for p in 0..<P { map[p] += a[((n * H + h) * P + p) * L + token] / Float(H) } }
            let (lo, hi) = (map.min() ?? 0, map.max() ?? 1)
            let span = Swift.max(hi - lo, 1e-9)
            for y in 0..<side {
                for x in 0..<side {
                    let v = (map[(y * g / side) * g + x * g / side] - lo) / span
                    let (r, gg, b) = rgb(n, x, y)
                    let grey = 0.3 * (0.299 * r + 0.587 * gg + 0.114 * b)
                    let heat = (Swift.min(1, 2 * v), Swift.max(0, 2 * v - 1), Float(0))
                    let o = n * 3 * side * side + y * side + x
                    px[o] = Swift.min(1, grey + 0.75 * heat.0)
                    px[o + side * side] = Swift.min(1, grey + 0.75 * heat.1)
                    px[o + 2 * side * side] = Swift.min(1, grey + 0.75 * heat.2)
                }
            }
        }
        return SampleGrid(count: count, channels: 3, side: side, pixels: px)
    }
}
