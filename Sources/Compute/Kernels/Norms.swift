// Normalisation kernels (forward and hand-written backward): LayerNorm and RMSNorm over the last
// dimension, GroupNorm over [N, C, S]. Forward saves per-row mean and 1/σ for the backward.
// Parameter gradients are summed by column in a separate pass, so results do not depend on threads.
import Foundation

extension Kernels {
    /// LayerNorm / RMSNorm forward over rows x [R, C] (contiguous). rms: no mean subtraction, no bias.
    /// y = (x − μ)·rstd·w + b; writes mean [R] (0 for rms) and rstd [R].
    public static func normForward(
        x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, rows R: Int, cols C: Int,
        weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?, eps: Float, rms: Bool,
        mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>
    ) {
        Parallel.forRanges(R, grain: max(1, 4096 / max(C, 1))) { range in
            for r in range {
                let xr = x + r * C
                let yr = y + r * C
                var mu: Float = 0
                if !rms { mu = sumContiguous(xr, C) / Float(C) }
                var v: Float = 0
                for i in 0..<C {
                    let d = xr[i] - mu
                    v += d * d
                }
                let rs = 1 / (v / Float(C) + eps).squareRoot()
                mean[r] = mu
                rstd[r] = rs
                if let w = weight {
                    if let b = bias {
                        for i in 0..<C { yr[i] = (xr[i] - mu) * rs * w[i] + b[i] }
                    } else {
                        for i in 0..<C { yr[i] = (xr[i] - mu) * rs * w[i] }
                    }
                } else {
                    for i in 0..<C { yr[i] = (xr[i] - mu) * rs }
                }
            }
        }
    }

    /// Backward of `normForward`: dx (overwritten), dw and db (accumulated, may be nil).
    public static func normBackward(
        dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rows R: Int, cols C: Int,
        weight: UnsafePointer<Float>?, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
        rms: Bool, dx: UnsafeMutablePointer<Float>,
        dw: UnsafeMutablePointer<Float>?, db: UnsafeMutablePointer<Float>?
    ) {
        Parallel.forRanges(R, grain: max(1, 4096 / max(C, 1))) { range in
            for r in range {
                let xr = x + r * C
                let gr = dy + r * C
                let dxr = dx + r * C
                let mu = mean[r]
                let rs = rstd[r]
                var sg: Float = 0
                var sgx: Float = 0
                for i in 0..<C {
                    let g = gr[i] * (weight?[i] ?? 1)
                    sg += g
                    sgx += g * (xr[i] - mu) * rs
                }
                let mg = rms ? 0 : sg / Float(C)
                let mgx = sgx / Float(C)
                for i in 0..<C {
                    let g = gr[i] * (weight?[i] ?? 1)
                    let xh = (xr[i] - mu) * rs
                    dxr[i] = rs * (g - mg - xh * mgx)
                }
            }
        }
        if dw == nil && db == nil { return }
        Parallel.forRanges(C, grain: 16) { cr in
            for r in 0..<R {
                let xr = x + r * C
                let gr = dy + r * C
                let mu = mean[r]
                let rs = rstd[r]
                if let dw = dw { for i in cr { dw[i] += gr[i] * (xr[i] - mu) * rs } }
                if let db = db { for i in cr { db[i] += gr[i] } }
            }
        }
    }

    /// GroupNorm forward: x [N, C, S] contiguous, G groups of C/G channels; per-channel affine.
    public static func groupNormForward(
        x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, N: Int, C: Int, S: Int,
        groups G: Int, weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
        eps: Float, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>
    ) {
        let cg = C / G
        let len = cg * S
        Parallel.forRanges(N * G, grain: 1) { range in
            for ng in range {
                let n = ng / G
                let g = ng % G
                let base = (n * C + g * cg) * S
                let xr = x + base
                let yr = y + base
                let mu = sumContiguous(xr, len) / Float(len)
                var v: Float = 0
                for i in 0..<len {
                    let d = xr[i] - mu
                    v += d * d
                }
                let rs = 1 / (v / Float(len) + eps).squareRoot()
                mean[ng] = mu
                rstd[ng] = rs
                for c in 0..<cg {
                    let ch = g * cg + c
                    let w = weight?[ch] ?? 1
                    let b = bias?[ch] ?? 0
                    for s in 0..<S {
                        let i = c * S + s
                        yr[i] = (xr[i] - mu) * rs * w + b
                    }
                }
            }
        }
    }

    public static func groupNormBackward(
        dy: UnsafePointer<Float>, x: UnsafePointer<Float>, N: Int, C: Int, S: Int,
        groups G: Int, weight: UnsafePointer<Float>?, mean: UnsafePointer<Float>,
        rstd: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
        dw: UnsafeMutablePointer<Float>?, db: UnsafeMutablePointer<Float>?
    ) {
        let cg = C / G
        let len = cg * S
        Parallel.forRanges(N * G, grain: 1) { range in
            for ng in range {
                let n = ng / G
                let g = ng % G
                let base = (n * C + g * cg) * S
                let xr = x + base
                let gr = dy + base
                let dxr = dx + base
                let mu = mean[ng]
                let rs = rstd[ng]
                var sg: Float = 0
                var sgx: Float = 0
                for c in 0..<cg {
                    let w = weight?[g * cg + c] ?? 1
                    for s in 0..<S {
                        let i = c * S + s
                        let gg = gr[i] * w
                        sg += gg
                        sgx += gg * (xr[i] - mu) * rs
                    }
                }
                let mg = sg / Float(len)
                let mgx = sgx / Float(len)
                for c in 0..<cg {
                    let w = weight?[g * cg + c] ?? 1
                    for s in 0..<S {
                        let i = c * S + s
                        dxr[i] = rs * (gr[i] * w - mg - (xr[i] - mu) * rs * mgx)
                    }
                }
            }
        }
        if dw == nil && db == nil { return }
        Parallel.forRanges(C, grain: 1) { cr in
            for ch in cr {
                let g = ch / cg
                var sw: Float = 0
                var sb: Float = 0
                for n in 0..<N {
                    let base = (n * C + ch) * S
                    let mu = mean[n * G + g]
                    let rs = rstd[n * G + g]
                    for s in 0..<S {
                        sw += dy[base + s] * (x[base + s] - mu) * rs
                        sb += dy[base + s]
                    }
                }
                dw?[ch] += sw
                db?[ch] += sb
            }
        }
    }
}
