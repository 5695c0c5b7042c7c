// Scaled dot-product attention as a differentiable op: FlashAttention kernels on the fast path, the
// naive materialised definition as the reference (tests, benchmarks) and as the composite used when
// the backward itself must be differentiable. Also the two ways of *seeing* attention: a probe that
// returns one head's probabilities, and a trace of the online softmax for the UI to animate.
import Foundation

public enum AttentionImplementation: String, Sendable, CaseIterable {
    case flash, naive
}

extension Tensor {
    /// softmax(scale·Q Kᵀ + mask)·V for q [B, H, Nq, d] and k, v [B, Hkv, Nk, d] (grouped-query when
    /// Hkv < H). `causal` aligns the mask bottom-right (query i sees keys ≤ i + Nk − Nq, as a KV cache
    /// needs); `cuSeqlens` packs several documents in one sequence and keeps attention inside each.
    public static func attention(
        _ q: Tensor, _ k: Tensor, _ v: Tensor, causal: Bool = false, scale: Float? = nil,
        cuSeqlens: [Int]? = nil, implementation: AttentionImplementation = .flash
    ) -> Tensor {
        precondition(q.rank == 4 && k.rank == 4 && v.rank == 4, "attention expects [B, H, N, d] tensors")
        let B = q.shape[0]
        let H = q.shape[1]
        let Nq = q.shape[2]
        let d = q.shape[3]
        let Hkv = k.shape[1]
        let Nk = k.shape[2]
        precondition(
            k.shape == [B, Hkv, Nk, d] && v.shape == k.shape,
            "attention: k \(k.shape), v \(v.shape) do not match q \(q.shape)")
        precondition(Hkv > 0 && H % Hkv == 0, "attention: \(H) query heads not a multiple of \(Hkv) key/value heads")
        let sc = scale ?? 1 / Float(d).squareRoot()
        let mask = AttentionMask(nq: Nq, nk: Nk, causal: causal, cuSeqlens: cuSeqlens)
        if implementation == .naive { return naiveAttention(q, k, v, scale: sc, mask: mask) }

        let qc = q.lastDimContiguous()
        let kc = k.lastDimContiguous()
        let vc = v.lastDimContiguous()
        let out = Tensor.emptyAttentionLayout(like: q, [B, H, Nq, d])
        let lse = Tensor.empty([B, H, Nq])
        FlashAttention.forward(
            q: AttentionOperand(qc), k: AttentionOperand(kc), v: AttentionOperand(vc),
            o: AttentionOperand(out), lse: lse.data, B: B, H: H, Hkv: Hkv, d: d, scale: sc, mask: mask)
        let od = out.detach()
        return out.recorded("flashAttention", [q, k, v]) { g in
            if GradMode.isEnabled {
                return Autograd.compositeVJP([q, k, v], g) {
                    naiveAttention($0[0], $0[1], $0[2], scale: sc, mask: mask)
                }
            }
            let gc = g.lastDimContiguous()
            let dq = Tensor.emptyAttentionLayout(like: q, q.shape)
            let dk = Tensor.emptyAttentionLayout(like: k, k.shape)
            let dv = Tensor.emptyAttentionLayout(like: v, v.shape)
            FlashAttention.backward(
                q: AttentionOperand(qc), k: AttentionOperand(kc), v: AttentionOperand(vc),
                o: AttentionOperand(od), dO: AttentionOperand(gc), lse: lse.data,
                dq: AttentionOperand(dq), dk: AttentionOperand(dk), dv: AttentionOperand(dv),
                B: B, H: H, Hkv: Hkv, d: d, scale: sc, mask: mask)
            return [dq, dk, dv]
        }
    }

    /// Causal or full attention over the heads of a fused projection h [B, T, H + 2·Hkv, d] (H query
    /// heads, then Hkv key heads, then Hkv value heads along dim 2), with RoPE on the queries and keys.
    /// The same numbers as splitting h, rotating q and k and calling `attention`, in fewer passes over
    /// memory: the rotated queries and keys are written once, side by side; the backward writes dQ, dK
    /// and dV straight into h's gradient and rotates dQ and dK back in place (no rotated gradient
    /// copies, no copies into the slices of h's gradient). Returns [B, H, T, d], token-major.
    public static func ropeAttention(
        _ h: Tensor, heads H: Int, kvHeads Hkv: Int, rope: RotaryTable, positions: [Int], causal: Bool,
        cuSeqlens: [Int]? = nil
    ) -> Tensor {
        precondition(
            h.rank == 4 && h.shape[2] == H + 2 * Hkv && h.shape[3] == rope.headDim && Hkv > 0 && H % Hkv == 0,
            "ropeAttention: h \(h.shape) is not [B, T, \(H) + 2·\(Hkv), \(rope.headDim)]")
        let B = h.shape[0]
        let T = h.shape[1]
        let d = h.shape[3]
        let hc = h.strides[3] == 1 ? h : h.contiguousRaw()
        // The rotated queries and keys, head-major ([B, H + Hkv, T, d] seen as [B, T, H + Hkv, d]): each
        // head's rows are one contiguous run that attention reads in order, not rows a token apart
        // (`bench train-gpt --profile`, 4 × 128, Zen 4, five alternated pairs: attention backward
        // 12.73 → 12.19 ms a step, medians; the losses are bit for bit the same).
        let r = Tensor.empty([B, H + Hkv, T, d]).permute([0, 2, 1, 3])
        rope.rotate(
            hc.data, strides: (hc.strides[0], hc.strides[1], hc.strides[2]), into: r.data,
            strides: (r.strides[0], r.strides[1], r.strides[2]), B: B, T: T, H: H + Hkv, positions: positions,
            inverse: false)
        func heads(_ t: Tensor, _ h0: Int) -> AttentionOperand {
            AttentionOperand(t.data + h0 * t.strides[2], sb: t.strides[0], sh: t.strides[2], sn: t.strides[1])
        }
        let q = heads(r, 0)
        let k = heads(r, H)
        let v = heads(hc, H + Hkv)
        let sc = 1 / Float(d).squareRoot()
        let mask = AttentionMask(nq: T, nk: T, causal: causal, cuSeqlens: cuSeqlens)
        let out = Tensor.empty([B, T, H, d]).permute([0, 2, 1, 3])
        let lse = Tensor.empty([B, H, T])
        FlashAttention.forward(
            q: q, k: k, v: v, o: AttentionOperand(out), lse: lse.data, B: B, H: H, Hkv: Hkv, d: d, scale: sc,
            mask: mask)
        let od = out.detach()
        return out.recorded("ropeAttention", [h]) { g in
            if GradMode.isEnabled {
                return Autograd.compositeVJP([h], g) {
                    let parts = $0[0].split([H, Hkv, Hkv], dim: 2)
                    return attention(
                        parts[0].rope(rope, positions: positions).permute([0, 2, 1, 3]),
                        parts[1].rope(rope, positions: positions).permute([0, 2, 1, 3]),
                        parts[2].permute([0, 2, 1, 3]), causal: causal, cuSeqlens: cuSeqlens)
                }
            }
            let gc = g.lastDimContiguous()
            let dh = Tensor.empty([B, T, H + 2 * Hkv, d])
            FlashAttention.backward(
                q: q, k: k, v: v, o: AttentionOperand(od), dO: AttentionOperand(gc), lse: lse.data,
                dq: heads(dh, 0), dk: heads(dh, H), dv: heads(dh, H + Hkv), B: B, H: H, Hkv: Hkv, d: d, scale: sc,
                mask: mask)
            // Keep the saved operands alive until here (the closure holds r and hc through them).
            withExtendedLifetime((r, hc)) {}
            let st = (T * (H + 2 * Hkv) * d, (H + 2 * Hkv) * d, d)
            rope.rotate(
                dh.data, strides: st, into: dh.data, strides: st, B: B, T: T, H: H + Hkv, positions: positions,
                inverse: true)
            return [dh]
        }
    }

    /// The textbook definition with the scores materialised: the reference for tests and benchmarks.
    static func naiveAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, scale: Float, mask: AttentionMask) -> Tensor {
        let H = q.shape[1]
        let Hkv = k.shape[1]
        let kx = k.repeatHeads(H / Hkv)
        let vx = v.repeatHeads(H / Hkv)
        var s = q.matmul(kx.mT) * scale
        if mask.causal || mask.cuSeqlens != nil { s = s + mask.additive() }
        return s.softmax(-1).matmul(vx)
    }

    /// [B, Hkv, N, d] → [B, Hkv·g, N, d], each key/value head repeated for its g query heads.
    func repeatHeads(_ g: Int) -> Tensor {
        if g == 1 { return self }
        let B = shape[0]
        let Hkv = shape[1]
        let N = shape[2]
        let d = shape[3]
        return unsqueeze(2).expand([B, Hkv, g, N, d]).reshape([B, Hkv * g, N, d])
    }

    /// An uninitialised [B, H, N, d] tensor laid out as `x` is: token-major ([B, N, H, d] memory, seen
    /// through a permutation) when x's rows are farther apart than its heads, as the heads of a
    /// [B, T, C] projection are; else head-major. Outputs and gradients then reach the projections
    /// on either side without a transposing copy.
    static func emptyAttentionLayout(like x: Tensor, _ shape: [Int]) -> Tensor {
        if x.strides[2] > x.strides[1] && shape[1] > 1 && shape[2] > 1 {
            return Tensor.empty([shape[0], shape[2], shape[1], shape[3]]).permute([0, 2, 1, 3])
        }
        return Tensor.empty(shape)
    }

    /// A copy only if the last dimension is strided (attention kernels read rows directly).
    func lastDimContiguous() -> Tensor {
        if strides[rank - 1] == 1 || shape[rank - 1] == 1 { return self }
        return contiguousRaw(forceCopy: true)
    }

    /// Probabilities of one (batch, head) as an [Nq, Nk] tensor — what attention heatmaps show.
    /// Materialises the scores: meant for short probe sequences.
    public static func attentionProbabilities(
        _ q: Tensor, _ k: Tensor, batch: Int = 0, head: Int, causal: Bool,
        scale: Float? = nil, cuSeqlens: [Int]? = nil
    ) -> Tensor {
        noGrad {
            let H = q.shape[1]
            let Hkv = k.shape[1]
            let d = q.shape[3]
            let qh = q.select(0, batch).select(0, head)
            let kh = k.select(0, batch).select(0, head / (H / Hkv))
            let mask = AttentionMask(nq: q.shape[2], nk: k.shape[2], causal: causal, cuSeqlens: cuSeqlens)
            var s = qh.matmul(kh.mT) * (scale ?? 1 / Float(d).squareRoot())
            if causal || cuSeqlens != nil { s = s + mask.additive() }
            return s.softmax(-1)
        }
    }
}

extension AttentionMask {
    /// [nq, nk] tensor of 0 (visible) and −∞ (masked).
    public func additive() -> Tensor {
        let t = Tensor.empty([nq, nk])
        for i in 0..<nq {
            let (a, b) = range(i)
            for j in 0..<nk { t.data[i * nk + j] = (j >= a && j < b) ? 0 : -.infinity }
        }
        return t
    }
}

/// One step of the online softmax for one query row: the running max and normaliser before and
/// after a K/V tile was folded in (FlashAttention's state, recorded for the attention lesson).
public struct OnlineSoftmaxStep: Equatable, Sendable {
    public let row: Int, tile: Int
    public let keys: Range<Int>
    public let maxBefore: Float, sumBefore: Float
    public let maxAfter: Float, sumAfter: Float
    /// exp(maxBefore − maxAfter): how much the accumulated output was rescaled.
    public var rescale: Float { maxBefore == -.infinity ? 0 : Foundation.exp(maxBefore - maxAfter) }
}

extension FlashAttention {
    /// Runs the online-softmax algorithm in plain scalar code on one head (q [Nq, d], k/v [Nk, d],
    /// small N) with K/V tiles of `tile` rows, recording every row's (m, l) before and after each tile.
    /// Returns the attention output [Nq, d] (equal to the naive result) and the steps.
    public static func trace(q: Tensor, k: Tensor, v: Tensor, tile: Int, causal: Bool, scale: Float? = nil)
        -> (output: Tensor, steps: [OnlineSoftmaxStep])
    {
        let Nq = q.shape[0]
        let Nk = k.shape[0]
        let d = q.shape[1]
        let sc = scale ?? 1 / Float(d).squareRoot()
        let mask = AttentionMask(nq: Nq, nk: Nk, causal: causal)
        let Q = q.toArray()
        let K = k.toArray()
        let V = v.toArray()
        var out = [Float](repeating: 0, count: Nq * d)
        var steps: [OnlineSoftmaxStep] = []
        for i in 0..<Nq {
            var m = -Float.infinity
            var l: Float = 0
            var acc = [Float](repeating: 0, count: d)
            let (lo, hi) = mask.range(i)
            var t = 0
            var k0 = 0
            while k0 < Nk {
                let k1 = Swift.min(Nk, k0 + tile)
                defer {
                    k0 = k1
                    t += 1
                }
                let a = Swift.max(lo, k0)
                let b = Swift.min(hi, k1)
                if a >= b { continue }
                var scores: [Float] = []
                for j in a..<b {
                    var s: Float = 0
                    for c in 0..<d { s += Q[i * d + c] * K[j * d + c] }
                    scores.append(s * sc)
                }
                let mNew = Swift.max(m, scores.max()!)
                let alpha = m == -.infinity ? 0 : Foundation.exp(m - mNew)
                var lNew = l * alpha
                for c in 0..<d { acc[c] *= alpha }
                for (idx, j) in (a..<b).enumerated() {
                    let p = Foundation.exp(scores[idx] - mNew)
                    lNew += p
                    for c in 0..<d { acc[c] += p * V[j * d + c] }
                }
                steps.append(
                    OnlineSoftmaxStep(
                        row: i, tile: t, keys: a..<b, maxBefore: m, sumBefore: l, maxAfter: mNew, sumAfter: lNew))
                m = mNew
                l = lNew
            }
            for c in 0..<d { out[i * d + c] = l > 0 ? acc[c] / l : 0 }
        }
        return (Tensor(shape: [Nq, d], data: out), steps)
    }
}
