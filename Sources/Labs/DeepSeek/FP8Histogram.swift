// What E4M3 does to a layer's activations: the magnitudes (log₂ bins) against the format's range —
// below half the smallest subnormal a value rounds to zero, between that and the smallest normal it
// keeps fewer mantissa bits, above 448 it saturates — under three scalings: none, one scale for the
// whole tensor, and DeepSeek-V3's one scale per 1 × 128 tile.
import Compute
import Foundation

public struct FP8Histogram: Sendable, Equatable {
    public enum Scaling: String, CaseIterable, Sendable {
        case none = "none"
        case tensor = "tensor"
        case tile = "1×128"
    }

    public struct Outcome: Sendable, Equatable {
        public var scaling: String
        /// Fractions of the nonzero values that round to zero, land among the subnormals, saturate.
        public var underflow = 0.0, subnormal = 0.0, saturated = 0.0
        /// ‖q(x) − x‖ / ‖x‖ after quantise-dequantise.
        public var relativeError = 0.0
        /// Fraction of the nonzero values in each log₂ bin [lowExponent + i, lowExponent + i + 1) of the
        /// scaled magnitudes (values below the lowest bin count in the first, above in the last).
        public var bins: [Double] = []
    }

    public static let lowExponent = -14, highExponent = 10
    public var outcomes: [Outcome] = []
    public var values = 0
    /// Which layer and tensor the values came from (for titles).
    public var source = ""

    public init() {}

    /// The histogram of `x` viewed as rows of `cols` values.
    public init(_ x: [Float], cols: Int, source: String) {
        self.source = source
        values = x.count
        let f = FP8Format.e4m3
        let maxFinite = f.maxFinite
        let half = f.minSubnormal / 2
        let binCount = FP8Histogram.highExponent - FP8Histogram.lowExponent
        var tensorAmax: Float = 0
        for v in x { tensorAmax = max(tensorAmax, abs(v)) }
        let cols = max(1, cols)
        for scaling in Scaling.allCases {
            var o = Outcome(scaling: scaling.rawValue)
            var bins = [Double](repeating: 0, count: binCount)
            var nonzero = 0
            var under = 0
            var sub = 0
            var sat = 0
            var err = 0.0
            var norm = 0.0
            var start = 0
            while start < x.count {
                let end = min(x.count, start + (scaling == .tile ? min(cols, 128) : x.count))
                var amax: Float = 0
                if scaling == .tile { for i in start..<end { amax = max(amax, abs(x[i])) } }
                let scale: Float =
                    switch scaling {
                    case .none: 1
                    case .tensor: tensorAmax > 0 ? tensorAmax / maxFinite : 1
                    case .tile: amax > 0 ? amax / maxFinite : 1
                    }
                for i in start..<end {
                    let v = x[i]
                    guard v != 0, v.isFinite else { continue }
                    nonzero += 1
                    let s = abs(v / scale)
                    if s < half { under += 1 } else if s < f.minNormal { sub += 1 }
                    if s > maxFinite * (1 + 1e-6) { sat += 1 }
                    let e = Int(Foundation.floor(Foundation.log2(Double(s))))
                    bins[min(binCount - 1, max(0, e - FP8Histogram.lowExponent))] += 1
                    let q = f.round(v / scale) * scale
                    err += Double((q - v) * (q - v))
                    norm += Double(v * v)
                }
                start = end
            }
            let n = Double(max(1, nonzero))
            o.underflow = Double(under) / n
            o.subnormal = Double(sub) / n
            o.saturated = Double(sat) / n
            o.relativeError = norm > 0 ? (err / norm).squareRoot() : 0
            o.bins = bins.map { $0 / n }
            outcomes.append(o)
        }
    }
}
