// Normalisation kernels (forward and hand-written backward): LayerNorm and RMSNorm over the last
// dimension, GroupNorm over [N, C, S]. Forward saves per-row mean and 1/σ for the backward.
// Parameter gradients are summed by column in a separate pass, so results do not depend on threads.
import CKernels
import Foundation

extension Kernels {
    /// LayerNorm / RMSNorm forward over rows x [R, C] (contiguous). rms: no mean subtraction, no bias.
    /// y = (x − μ)·rstd·w + b; writes mean [R] (0 for rms) and rstd [R]. The loops are C (norm.c).
    public static func normForward(
        x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, rows R: Int, cols C: Int,
        weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?, eps: Float, rms: Bool,
        mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>
    ) {
        Profiler.scope(.norm, bytes: 8 * Double(R * C)) {
            Parallel.forBlocksStealing(R, block: max(1, 8192 / max(C, 1))) { r in
                let o = r.lowerBound
                orr_norm_rows_forward(
                    x + o * C, y + o * C, r.count, C, weight, bias, eps, rms ? 1 : 0, mean + o, rstd + o)
            }
        }
    }

    /// Backward of `normForward`: dx (overwritten), dw and db (accumulated, may be nil). Rows go in
    /// fixed blocks of 64, each with its own parameter-gradient partial sums, added in block order:
    /// the result does not depend on the number of threads.
    public static func normBackward(
        dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rows R: Int, cols C: Int,
        weight: UnsafePointer<Float>?, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
        rms: Bool, dx: UnsafeMutablePointer<Float>,
        dw: UnsafeMutablePointer<Float>?, db: UnsafeMutablePointer<Float>?, add: UnsafePointer<Float>? = nil
    ) {
        Profiler.scope(.norm, bytes: (add == nil ? 12 : 16) * Double(R * C)) {
            normBackwardRaw(
                dy: dy, x: x, rows: R, cols: C, weight: weight, mean: mean, rstd: rstd, rms: rms, dx: dx, dw: dw,
                db: db, add: add)
        }
    }

    static func normBackwardRaw(
        dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rows R: Int, cols C: Int,
        weight: UnsafePointer<Float>?, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
        rms: Bool, dx: UnsafeMutablePointer<Float>,
        dw: UnsafeMutablePointer<Float>?, db: UnsafeMutablePointer<Float>?, add: UnsafePointer<Float>? = nil
    ) {
        let block = 64
        let blocks = (R + block - 1) / block
        let needParams = dw != nil || db != nil
        let partial = UnsafeMutablePointer<Float>.allocate(capacity: needParams ? 2 * blocks * C : 1)
        defer { partial.deallocate() }
        if needParams { partial.update(repeating: 0, count: 2 * blocks * C) }
        Parallel.forEachStealing(blocks) { b in
            let r0 = b * block
            let n = Swift.min(block, R - r0)
            orr_norm_rows_backward(
                dy + r0 * C, x + r0 * C, add.map { $0 + r0 * C }, n, C, weight, rms ? 1 : 0, mean + r0, rstd + r0,
                dx + r0 * C, dw != nil ? partial + b * C : nil, db != nil ? partial + (blocks + b) * C : nil)
        }
        if !needParams { return }
        for b in 0..<blocks {
            if let dw { for i in 0..<C { dw[i] += partial[b * C + i] } }
            if let db { for i in 0..<C { db[i] += partial[(blocks + b) * C + i] } }
        }
    }

    /// GroupNorm forward: x [N, C, S] contiguous, G groups of C/G channels; per-channel affine, then
    /// the activation `act` (NormActivation.code) fused in. One C call per (n, group) (norm.c).
    public static func groupNormForward(
        x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, N: Int, C: Int, S: Int,
        groups G: Int, weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
        eps: Float, activation: NormActivation = .none, mean: UnsafeMutablePointer<Float>,
        rstd: UnsafeMutablePointer<Float>
    ) {
        let cg = C / G
        let (act, slope) = activation.code
        Parallel.forRanges(N * G, grain: Swift.max(1, 8192 / Swift.max(cg * S, 1))) { range in
            for ng in range {
                let (n, g) = (ng / G, ng % G)
                let base = (n * C + g * cg) * S
                orr_groupnorm_forward(
                    x + base, y + base, cg, S, weight.map { $0 + g * cg }, bias.map { $0 + g * cg }, eps, act, slope,
                    mean + ng, rstd + ng)
            }
        }
    }

    /// Backward of `groupNormForward` (the pre-activation recomputed from x, mean and rstd): dx
    /// (overwritten), dw and db (accumulated, may be nil). Per-image channel sums are reduced over
    /// the batch in order afterwards, so results do not depend on threads.
    public static func groupNormBackward(
        dy: UnsafePointer<Float>, x: UnsafePointer<Float>, N: Int, C: Int, S: Int,
        groups G: Int, weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>? = nil,
        activation: NormActivation = .none, mean: UnsafePointer<Float>,
        rstd: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
        dw: UnsafeMutablePointer<Float>?, db: UnsafeMutablePointer<Float>?
    ) {
        let cg = C / G
        let (act, slope) = activation.code
        let needParams = dw != nil || db != nil
        let pw = UnsafeMutablePointer<Float>.allocate(capacity: needParams ? 2 * N * C : 1)
        defer { pw.deallocate() }
        let pb = pw + N * C
        Parallel.forRanges(N * G, grain: Swift.max(1, 8192 / Swift.max(cg * S, 1))) { range in
            for ng in range {
                let (n, g) = (ng / G, ng % G)
                let base = (n * C + g * cg) * S
                let off = n * C + g * cg
                orr_groupnorm_backward(
                    dy + base, x + base, cg, S, weight.map { $0 + g * cg }, bias.map { $0 + g * cg }, act, slope,
                    mean[ng], rstd[ng], dx + base, needParams ? pw + off : nil, needParams ? pb + off : nil)
            }
        }
        if !needParams { return }
        for n in 0..<N {
            if let dw { for c in 0..<C { dw[c] += pw[n * C + c] } }
            if let db { for c in 0..<C { db[c] += pb[n * C + c] } }
        }
    }
}

/// An activation fused into a normalisation's output (GroupNorm → SiLU in a UNet block, BatchNorm →
/// LeakyReLU in a DCGAN): one pass over the tensor instead of two, forward and backward.
public enum NormActivation: Equatable, Sendable {
    case none, silu
    /// max(x, slope·x); slope 0 is ReLU.
    case leakyRelu(Float)
    var code: (Int32, Float) {
        switch self {
        case .none: (0, 0)
        case .silu: (1, 0)
        case .leakyRelu(let s): (2, s)
        }
    }
}
