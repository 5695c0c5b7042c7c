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
