// Multi-head latent attention (DeepSeek-V2, 2024): keys and values are compressed jointly into a small
// latent c_KV per token, and only that latent (plus one small RoPE key shared by all heads) is cached.
//
//   c_KV = RMSNorm(W_DKV h)          [d_c]          the cached latent
//   k_R  = RoPE(W_KR h)              [d_r]          the cached, decoupled rotary key (one for all heads)
//   k_i  = [W_UK,i c_KV ; k_R],  v_i = W_UV,i c_KV  per head i (never cached)
//   c_Q  = RMSNorm(W_DQ h),  q_i = [W_UQ,i c_Q ; RoPE(W_QR,i c_Q)]
//   o_i  = softmax(q_i·k_iᵀ / √(d_h + d_r)) v_i,    u = W_O [o_1 … o_H]
//
// Position goes through the separate rotary part because RoPE applied to W_UK c_KV would stop W_UK
// from being folded into the query. Decoding folds it (the absorbed path): q̃_i = W_UK,iᵀ q_i^C, so
// scores are q̃_i·c_KV + q_i^R·k_R and the values' weighted sum is taken in the latent space and mapped
// up by W_UV,i afterwards — attention runs over d_c + d_r numbers per cached token for every head.
import Compute
import Foundation
import NN

public struct MLAConfig: Codable, Equatable, Sendable {
    /// d_c: the latent every cached token keeps.
    public var kvLatent = 64
    /// d_c′: the query latent.
    public var queryLatent = 96
    /// d_r: the decoupled rotary dimensions of queries and the shared key.
    public var ropeDim = 16
    public init() {}

    public func validate(width: Int, heads: Int) throws {
        func check(_ ok: Bool, _ what: String) throws { if !ok { throw MLAError.config(what) } }
        try check((1...8192).contains(kvLatent), "KV latent must be 1…8192, got \(kvLatent)")
        try check((1...8192).contains(queryLatent), "query latent must be 1…8192, got \(queryLatent)")
        try check(ropeDim >= 2 && ropeDim % 2 == 0 && ropeDim <= 1024, "rope dimensions must be even, 2…1024")
        try check(heads >= 1 && width % heads == 0, "width \(width) must split into \(heads) heads")
    }
}

public enum MLAError: Error, CustomStringConvertible, Equatable {
    case config(String)
    public var description: String {
        switch self {
        case .config(let s): return "latent attention: \(s)"
        }
    }
}

public final class MultiHeadLatentAttention: Module {
    public let config: MLAConfig
    public let heads: Int, headDim: Int
    public let queryDown: Linear, queryNorm: RMSNorm, queryUp: Linear
    /// W_DKV and W_KR in one projection: [d_c + d_r, C].
    public let kvDown: Linear
    public let kvNorm: RMSNorm
    /// W_UK and W_UV of every head: [H · 2d_h, d_c] (head i: rows of k, then rows of v).
    public let kvUp: Linear
    public let out: Linear
    let rope: RotaryTable

    public init(width: Int, heads: Int, context: Int, _ c: MLAConfig, ropeBase: Float = 10000, rng: inout RNG) {
        config = c
        self.heads = heads
        headDim = width / heads
        queryDown = Linear(width, c.queryLatent, bias: false, rng: &rng)
        queryNorm = RMSNorm(c.queryLatent)
        queryUp = Linear(c.queryLatent, heads * (headDim + c.ropeDim), bias: false, rng: &rng)
        kvDown = Linear(width, c.kvLatent + c.ropeDim, bias: false, rng: &rng)
        kvNorm = RMSNorm(c.kvLatent)
        kvUp = Linear(c.kvLatent, heads * 2 * headDim, bias: false, rng: &rng)
        out = Linear(heads * headDim, width, bias: false, rng: &rng)
        rope = RotaryTable(headDim: c.ropeDim, maxPositions: context, base: ropeBase)
    }

    /// Every Linear (FP8 mode switches them together).
    public var linears: [Linear] { [queryDown, queryUp, kvDown, kvUp, out] }

    /// Queries [B, T, H, d_h] (content) and [B, T, H, d_r] (rotated).
    func queries(_ x: Tensor, positions: [Int]) -> (Tensor, Tensor) {
        let B = x.shape[0]
        let T = x.shape[1]
        let q = queryUp(queryNorm(queryDown(x))).reshape([B, T, heads, headDim + config.ropeDim])
        let parts = q.split([headDim, config.ropeDim], dim: 3)
        return (parts[0], parts[1].rope(rope, positions: positions))
    }

    /// What a token caches: c_KV [B, T, d_c] and the rotated k_R [B, T, d_r].
    public func latents(_ x: Tensor, positions: [Int]) -> (Tensor, Tensor) {
        let B = x.shape[0]
        let T = x.shape[1]
        let parts = kvDown(x).split([config.kvLatent, config.ropeDim], dim: 2)
        let kR = parts[1].reshape([B, T, 1, config.ropeDim]).rope(rope, positions: positions)
        return (kvNorm(parts[0]), kR.reshape([B, T, config.ropeDim]))
    }

    /// The naive path's q, k [B, H, T, d_h + d_r] and v [B, H, T, d_h + d_r] (v zero-padded to the key
    /// width so the attention kernel sees one head size; `output` drops the padding).
    public func queriesKeysValues(_ x: Tensor, positions: [Int]) -> (Tensor, Tensor, Tensor) {
        let B = x.shape[0]
        let T = x.shape[1]
        let (qC, qR) = queries(x, positions: positions)
        let (cKV, kR) = latents(x, positions: positions)
        let kv = kvUp(cKV).reshape([B, T, heads, 2 * headDim]).split([headDim, headDim], dim: 3)
        let q = Tensor.cat([qC, qR], dim: 3).permute([0, 2, 1, 3])
        let k = Tensor.cat(
            [kv[0], kR.reshape([B, T, 1, config.ropeDim]).expand([B, T, heads, config.ropeDim])], dim: 3
        )
        .permute([0, 2, 1, 3])
        let v = Tensor.cat([kv[1], Tensor.zeros([B, T, heads, config.ropeDim])], dim: 3).permute([0, 2, 1, 3])
        return (q, k, v)
    }

    /// u = W_O [o_1 … o_H] from attention outputs a [B, H, T, d_h (+ padding)].
    public func output(_ a: Tensor) -> Tensor {
        let B = a.shape[0]
        let T = a.shape[2]
        return out(a.slice(3, 0, headDim).permute([0, 2, 1, 3]).reshape([B, T, heads * headDim]))
    }

    /// The absorbed decoding step for n new tokens x [1, n, C] at positions `positions`, given the cache
    /// holding the latents of every earlier token plus these (cKV [L, d_c], kR [L, d_r], the new ones
    /// last). Returns u [1, n, C] and the attention probabilities [H, n, L].
    public func absorbedStep(_ x: Tensor, positions: [Int], cKV: Tensor, kR: Tensor) -> (Tensor, Tensor) {
        let n = x.shape[1]
        let L = cKV.shape[0]
        let H = heads
        let dh = headDim
        let dc = config.kvLatent
        let (qC, qR) = queries(x, positions: positions)  // [1, n, H, ·]
        let w = kvUp.weight.reshape([H, 2 * dh, dc])
        let wUK = w.slice(1, 0, dh)  // [H, d_h, d_c]
        let wUV = w.slice(1, dh, 2 * dh)  // [H, d_h, d_c]
        let qTilde = qC.reshape([n, H, dh]).permute([1, 0, 2]).matmul(wUK)  // [H, n, d_c]
        let rope = qR.reshape([n, H, config.ropeDim]).permute([1, 0, 2])  // [H, n, d_r]
        var scores = qTilde.matmul(cKV.mT) + rope.matmul(kR.mT)  // [H, n, L]
        scores = scores * (1 / Float(dh + config.ropeDim).squareRoot())
        if n > 1 {  // causal within the new tokens: query j sees keys ≤ L − n + j
            var mask = [Float](repeating: 0, count: n * L)
            for j in 0..<n { for t in (L - n + j + 1)..<L { mask[j * L + t] = -.infinity } }
            scores = scores + Tensor(shape: [n, L], data: mask)
        }
        let p = scores.softmax(-1)
        let latent = p.matmul(cKV)  // [H, n, d_c]: the weighted sum in the latent space
        let o = latent.matmul(wUV.mT)  // [H, n, d_h]
        return (out(o.permute([1, 0, 2]).reshape([1, n, H * dh])), p)
    }

    /// Bytes one token occupies in the cache (float32): d_c + d_r numbers per layer.
    public var cacheBytesPerToken: Int { 4 * (config.kvLatent + config.ropeDim) }
}
