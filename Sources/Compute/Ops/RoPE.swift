// Rotary position embedding (Su et al. 2021, RoFormer), in the "rotate half" layout used by LLaMA:
// for head dim d and i < d/2, (x_i, x_{i+d/2}) is rotated by the angle pos·θ_i, θ_i = base^(−2i/d).
// A rotation is linear and orthogonal, so its backward is the inverse rotation (the same op with −sin).
import Foundation

/// Precomputed cos/sin tables for positions 0..<maxPositions.
public final class RotaryTable {
    public let headDim: Int, maxPositions: Int, base: Float
    let cos: [Float], sin: [Float]  // [maxPositions, headDim/2]

    public init(headDim: Int, maxPositions: Int, base: Float = 10000) {
        precondition(headDim % 2 == 0, "RoPE needs an even head dimension")
        self.headDim = headDim
        self.maxPositions = maxPositions
        self.base = base
        let half = headDim / 2
        var c = [Float](repeating: 0, count: maxPositions * half)
        var s = c
        for p in 0..<maxPositions {
            for i in 0..<half {
                let theta = Double(p) * pow(Double(base), -2.0 * Double(i) / Double(headDim))
                c[p * half + i] = Float(Foundation.cos(theta))
                s[p * half + i] = Float(Foundation.sin(theta))
            }
        }
        cos = c
        sin = s
    }
}

extension Tensor {
    /// Applies RoPE to x [B, T, H, d] where token t of every batch row has position `positions[t]`
    /// (positions restart per packed document).
    public func rope(_ table: RotaryTable, positions: [Int], inverse: Bool = false) -> Tensor {
        precondition(
            rank == 4 && shape[3] == table.headDim && positions.count == shape[1],
            "rope: x \(shape), \(positions.count) positions, head dim \(table.headDim)")
        let B = shape[0]
        let T = shape[1]
        let H = shape[2]
        let d = shape[3]
        let half = d / 2
        for p in positions {
            precondition(p >= 0 && p < table.maxPositions, "rope: position \(p) beyond table (\(table.maxPositions))")
        }
        // Rows of d may sit anywhere (a head slice of a fused QKV projection, a permuted gradient):
        // read in place when the last dimension is contiguous.
        let x = strides[3] == 1 ? self : contiguousRaw()
        let out = Tensor.empty(shape)
        let xp = x.data
        let op = out.data
        let (xsB, xsT, xsH) = (x.strides[0], x.strides[1], x.strides[2])
        let sign: Float = inverse ? -1 : 1
        Profiler.scope(.embedding, bytes: 8 * Double(B * T * H * d)) {
            table.cos.withUnsafeBufferPointer { cb in
                table.sin.withUnsafeBufferPointer { sb in
                    let cp = cb.baseAddress!
                    let sp = sb.baseAddress!
                    Parallel.forRanges(B * T, grain: 16) { r in
                        for bt in r {
                            let pos = positions[bt % T]
                            let c = cp + pos * half
                            let s = sp + pos * half
                            for h in 0..<H {
                                let src = xp + (bt / T) * xsB + (bt % T) * xsT + h * xsH
                                let dst = op + (bt * H + h) * d
                                for i in 0..<half {
                                    let a = src[i]
                                    let b = src[i + half]
                                    let sn = sign * s[i]
                                    dst[i] = a * c[i] - b * sn
                                    dst[i + half] = a * sn + b * c[i]
                                }
                            }
                        }
                    }
                }
            }
        }
        return out.recorded("rope", [self]) { g in [g.rope(table, positions: positions, inverse: !inverse)] }
    }
}
