// Rotary position embedding (Su et al. 2021, RoFormer), in the "rotate half" layout used by LLaMA:
// for head dim d and i < d/2, (x_i, x_{i+d/2}) is rotated by the angle pos·θ_i, θ_i = base^(−2i/d).
// A rotation is linear and orthogonal, so its backward is the inverse rotation (the same op with −sin).
import CKernels
import Foundation

/// Precomputed cos/sin tables for positions 0..<maxPositions.
public final class RotaryTable {
    public let headDim: Int, maxPositions: Int, base: Float
    /// cos and sin of pos·θ_i, [maxPositions, headDim/2].
    public let cos: [Float], sin: [Float]

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

    /// Rotates the rows of x [B, T, H, headDim] (element strides xs; the head dimension contiguous)
    /// into y (strides ys; y may be x): token t of every batch row at position `positions[t]`.
    func rotate(
        _ x: UnsafePointer<Float>, strides xs: (Int, Int, Int), into y: UnsafeMutablePointer<Float>,
        strides ys: (Int, Int, Int), B: Int, T: Int, H: Int, positions: [Int], inverse: Bool
    ) {
        precondition(positions.count == T, "rope: \(positions.count) positions for \(T) tokens")
        for p in positions {
            precondition(p >= 0 && p < maxPositions, "rope: position \(p) beyond table (\(maxPositions))")
        }
        let half = headDim / 2
        Profiler.scope(.embedding, bytes: 8 * Double(B * T * H * headDim)) {
            cos.withUnsafeBufferPointer { cb in
                sin.withUnsafeBufferPointer { sb in
                    positions.withUnsafeBufferPointer { pb in
                        let (cp, sp, pp) = (cb.baseAddress!, sb.baseAddress!, pb.baseAddress!)
                        Parallel.forBlocksStealing(B * T, block: 64) { r in
                            orr_rope(
                                x, xs.0, xs.1, xs.2, y, ys.0, ys.1, ys.2, r.lowerBound, r.upperBound, T, H, half,
                                cp, sp, pp, inverse ? -1 : 1)
                        }
                    }
                }
            }
        }
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
        // Rows of d may sit anywhere (a head slice of a fused QKV projection, a permuted gradient):
        // read in place when the last dimension is contiguous.
        let x = strides[3] == 1 ? self : contiguousRaw()
        let out = Tensor.empty(shape)
        table.rotate(
            x.data, strides: (x.strides[0], x.strides[1], x.strides[2]), into: out.data,
            strides: (T * H * d, H * d, d), B: B, T: T, H: H, positions: positions, inverse: inverse)
        return out.recorded("rope", [self]) { g in [g.rope(table, positions: positions, inverse: !inverse)] }
    }
}
