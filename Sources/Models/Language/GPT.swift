// GPT: a decoder-only transformer in the LLaMA style — token embedding, rotary positions, pre-norm
// RMSNorm, multi-head (optionally grouped-query) attention through the FlashAttention kernel, SwiGLU
// MLP, output head tied to the embedding. Dimension letters: B batch, T tokens, C width, H heads,
// D head dim, V vocabulary.
import Compute
import Foundation
import NN

public struct GPTConfig: Codable, Equatable, Sendable {
    public var vocabSize: Int
    public var contextLength: Int
    public var layers: Int
    public var heads: Int
    public var kvHeads: Int
    public var width: Int
    /// SwiGLU hidden width (default ⌈8C/3⌉ rounded up to a multiple of 16, as LLaMA).
    public var mlpHidden: Int
    public var ropeBase: Float
    /// Recompute each block in the backward pass instead of storing its activations.
    public var checkpointBlocks: Bool
    /// Dropout on each residual branch while training (0: off).
    public var dropout: Float = 0
    /// A DeepSeekMoE feed-forward in every block instead of the dense SwiGLU (nil: dense).
    public var moe: MoEConfig? = nil
    /// Simulated FP8 (E4M3, fine-grained scaling) inputs to the blocks' Linear layers; the embedding,
    /// the output head, the router, norms and attention stay FP32, as in DeepSeek-V3.
    public var fp8: Bool? = nil
    /// Multi-head latent attention in every block instead of (grouped-query) multi-head attention.
    public var mla: MLAConfig? = nil
    /// Multi-token prediction: D sequential MTP modules (nil or 0: none) and their loss weight λ.
    public var mtpDepth: Int? = nil
    public var mtpWeight: Float? = nil

    public init(
        vocabSize: Int, contextLength: Int, layers: Int, heads: Int, kvHeads: Int? = nil, width: Int,
        mlpHidden: Int? = nil, ropeBase: Float = 10000, checkpointBlocks: Bool = false
    ) {
        self.vocabSize = vocabSize
        self.contextLength = contextLength
        self.layers = layers
        self.heads = heads
        self.kvHeads = kvHeads ?? heads
        self.width = width
        self.mlpHidden = mlpHidden ?? ((8 * width / 3 + 15) / 16 * 16)
        self.ropeBase = ropeBase
        self.checkpointBlocks = checkpointBlocks
    }

    public var headDim: Int { width / heads }
}

/// One pre-norm block: x + Attn(RMSNorm(x)), then + SwiGLU(RMSNorm(·)) — or + DeepSeekMoE(RMSNorm(·)).
public final class GPTBlock: Module {
    public let attnNorm: RMSNorm
    /// Multi-head attention's projections (nil in an MLA block).
    public let qkv: Linear?, proj: Linear?
    public let mla: MultiHeadLatentAttention?
    public let mlpNorm: RMSNorm
    /// The dense SwiGLU (nil in a MoE block).
    public let gate: Linear?, up: Linear?, down: Linear?
    public let moe: DeepSeekMoE?
    let config: GPTConfig

    public init(_ c: GPTConfig, rng: inout RNG) {
        config = c
        attnNorm = RMSNorm(c.width)
        if let m = c.mla {
            mla = MultiHeadLatentAttention(
                width: c.width, heads: c.heads, context: c.contextLength, m, ropeBase: c.ropeBase, rng: &rng)
            (qkv, proj) = (nil, nil)
        } else {
            mla = nil
            qkv = Linear(c.width, (c.heads + 2 * c.kvHeads) * c.headDim, bias: false, rng: &rng)
            proj = Linear(c.width, c.width, bias: false, rng: &rng)
        }
        mlpNorm = RMSNorm(c.width)
        if let m = c.moe {
            moe = DeepSeekMoE(width: c.width, m, rng: &rng)
            (gate, up, down) = (nil, nil, nil)
        } else {
            moe = nil
            gate = Linear(c.width, c.mlpHidden, bias: false, rng: &rng)
            up = Linear(c.width, c.mlpHidden, bias: false, rng: &rng)
            down = Linear(c.mlpHidden, c.width, bias: false, rng: &rng)
        }
        if c.fp8 == true {
            for l in [qkv, proj, gate, up, down].compactMap({ $0 }) + (moe?.linears ?? []) + (mla?.linears ?? []) {
                l.fp8 = true
            }
        }
    }

    /// Queries [B, H, T, D], keys and values [B, Hkv, T, D] (rotated) of the attention sub-layer.
    public func queriesKeysValues(_ x: Tensor, rope: RotaryTable, positions: [Int]) -> (Tensor, Tensor, Tensor) {
        if let mla { return mla.queriesKeysValues(attnNorm(x), positions: positions) }
        let B = x.shape[0]
        let T = x.shape[1]
        let H = config.heads
        let Hkv = config.kvHeads
        let D = config.headDim
        let h = qkv!(attnNorm(x)).reshape([B, T, H + 2 * Hkv, D])
        let parts = h.split([H, Hkv, Hkv], dim: 2)
        let q = parts[0].rope(rope, positions: positions).permute([0, 2, 1, 3])
        let k = parts[1].rope(rope, positions: positions).permute([0, 2, 1, 3])
        return (q, k, parts[2].permute([0, 2, 1, 3]))
    }

    /// x [B, T, C] → [B, T, C]. `positions` [T] per token; `cuSeqlens` packs documents along T.
    public func callAsFunction(_ x: Tensor, rope: RotaryTable, positions: [Int], cuSeqlens: [Int]?) -> Tensor {
        if mla == nil {  // fused: the rotated heads and their gradients take no extra copies
            let h = qkv!(attnNorm(x)).reshape([
                x.shape[0], x.shape[1], config.heads + 2 * config.kvHeads, config.headDim,
            ])
            return finish(
                x,
                Tensor.ropeAttention(
                    h, heads: config.heads, kvHeads: config.kvHeads, rope: rope, positions: positions, causal: true,
                    cuSeqlens: cuSeqlens))
        }
        let (q, k, v) = queriesKeysValues(x, rope: rope, positions: positions)
        return finish(x, Tensor.attention(q, k, v, causal: true, cuSeqlens: cuSeqlens))
    }

    /// silu(gate(m)) · up(m). Without biases or FP8 the two projections are one GEMM against their
    /// stacked weights [gate; up] (the parameters stay two tensors: checkpoints are unchanged). Only
    /// for a training-sized batch of rows: stacking copies both weights, which for the few rows of a
    /// decoding step would cost more than the products themselves.
    func gatedUp(_ m: Tensor) -> Tensor {
        guard let (gu, h) = stackedGatedUp(m) else { return gate!(m).swiglu(up!(m)) }
        return gu.swigluHalves(computed: h)
    }

    /// The stacked product m·[gate; up]ᵀ and its activation h, computed as the product's epilogue: each
    /// block of rows is activated as soon as it is final, while it is still in cache (the product is
    /// 2F wide: 11.5 MB at 4 × 128, T 128, B 32). nil where `gatedUp` takes two products.
    func stackedGatedUp(_ m: Tensor) -> (gu: Tensor, h: Tensor)? {
        let rows = m.count / Swift.max(1, m.shape[m.rank - 1])
        guard rows >= 256, let gate, let up, gate.bias == nil, up.bias == nil, !gate.fp8, !up.fp8 else {
            return nil
        }
        var outShape = m.shape
        outShape[m.rank - 1] = gate.weight.shape[0]
        let h = Tensor.empty(outShape)
        let gu = m.matmul(Tensor.cat([gate.weight, up.weight], dim: 0).mT) { out, r0, r1 in
            Tensor.swigluHalvesRows(out, into: h, r0, r1)
        }
        return (gu, h)
    }

    /// x1 + down(SwiGLU(m)): with the stacked product, the activation's backward runs as the
    /// epilogue of the down projection's input gradient (one node for both), and the residual as the
    /// down projection's epilogue.
    func mlp(_ m: Tensor, adding x1: Tensor) -> Tensor {
        guard let down, down.bias == nil, !down.fp8, let (gu, h) = stackedGatedUp(m) else {
            return down!(gatedUp(m), adding: x1)
        }
        return gu.swigluHalvesMatmul(down.weight.mT, computed: h, adding: x1)
    }

    /// Seeded by the model before each training step when dropout is on (deterministic, resumable).
    var dropoutRNG: RNG?

    /// The rest of the block once attention a [B, H, T, D] is known: residual, then the SwiGLU MLP.
    public func finish(_ x: Tensor, _ a: Tensor) -> Tensor {
        let B = x.shape[0]
        let T = x.shape[1]
        let H = config.heads
        let D = config.headDim
        if mla == nil && !(config.dropout > 0 && isTraining) {
            // The residual added as the output projection's epilogue.
            return finish(x, residualSum: proj!(a.permute([0, 2, 1, 3]).reshape([B, T, H * D]), adding: x))
        }
        return finish(x, projected: mla?.output(a) ?? proj!(a.permute([0, 2, 1, 3]).reshape([B, T, H * D])))
    }

    /// The rest of the block once the attention sub-layer's output [B, T, C] is known.
    public func finish(_ x: Tensor, projected: Tensor) -> Tensor {
        let B = x.shape[0]
        var attn = projected
        if config.dropout > 0 && isTraining, var r = dropoutRNG {
            attn = attn.dropout(config.dropout, rng: &r)
            dropoutRNG = r
        }
        return finish(x, residualSum: x + attn)
    }

    /// The MLP sub-layer once x1 = x + attention is known.
    func finish(_ x: Tensor, residualSum x1: Tensor) -> Tensor {
        let B = x.shape[0]
        let m = mlpNorm(x1)
        if moe == nil && !(config.dropout > 0 && isTraining) {
            return mlp(m, adding: x1)
        }
        var mlp: Tensor
        if let moe {
            mlp = moe(m, sequences: B)
        } else {
            mlp = down!(gatedUp(m))
        }
        if config.dropout > 0 && isTraining, var r = dropoutRNG {
            mlp = mlp.dropout(config.dropout, rng: &r)
            dropoutRNG = r
        }
        return x1 + mlp
    }
}

public final class GPT: Module, LanguageModel {
    public let config: GPTConfig
    public let embed: Embedding
    public let blocks: [GPTBlock]
    public let finalNorm: RMSNorm
    public let rope: RotaryTable
    /// Multi-token prediction modules (empty without MTP).
    public let mtp: [MTPModule]

    public init(_ c: GPTConfig, seed: UInt64) {
        precondition(c.width % c.heads == 0 && c.heads % c.kvHeads == 0, "GPT: width, heads and kvHeads do not divide")
        var rng = RNG(seed: seed)
        config = c
        embed = Embedding(c.vocabSize, c.width, rng: &rng)
        blocks = (0..<c.layers).map { _ in GPTBlock(c, rng: &rng) }
        finalNorm = RMSNorm(c.width)
        rope = RotaryTable(headDim: c.headDim, maxPositions: c.contextLength)
        mtp = (0..<(c.mtpDepth ?? 0)).map { _ in MTPModule(c, rng: &rng) }
    }

    /// Logits [B·T, V] for tokens [B, T] (row-major). Positions default to 0..<T per row; for packed
    /// documents pass each token's position within its document and the cumulative lengths.
    public func logits(_ tokens: [Int], batch B: Int, positions: [Int]? = nil, cuSeqlens: [Int]? = nil) -> Tensor {
        let x = hidden(tokens, batch: B, positions: positions, cuSeqlens: cuSeqlens)
        return head(x.reshape([x.count / config.width, config.width]))
    }

    /// The shared output head: logits of hidden states [N, C] (final norm, tied embedding).
    public func head(_ h: Tensor) -> Tensor { finalNorm(h).matmul(embed.weight.mT) }

    /// The last block's output [B, T, C] (before the final norm): what the head and MTP modules read.
    public func hidden(_ tokens: [Int], batch B: Int, positions: [Int]? = nil, cuSeqlens: [Int]? = nil) -> Tensor {
        let T = tokens.count / B
        precondition(T * B == tokens.count && T >= 1, "GPT: \(tokens.count) tokens do not make \(B) rows")
        let pos = positions ?? Array(0..<T)
        var x = embed(tokens).reshape([B, T, config.width])
        for b in blocks {
            if config.checkpointBlocks {
                let rope = self.rope
                x = Autograd.checkpoint([x], parameters: b.parameters) {
                    b($0[0], rope: rope, positions: pos, cuSeqlens: cuSeqlens)
                }
            } else {
                x = b(x, rope: rope, positions: pos, cuSeqlens: cuSeqlens)
            }
        }
        return x
    }

    public var vocabSize: Int { config.vocabSize }
    public var contextLength: Int { config.contextLength }

    public func logits(_ tokens: [Int], batch B: Int) -> Tensor {
        logits(tokens, batch: B, positions: nil, cuSeqlens: nil)
    }

    /// Seeds every block's dropout stream (call before a training step with a step-derived seed).
    public func seedDropout(_ seed: UInt64) {
        var r = RNG(seed: seed)
        for b in blocks { b.dropoutRNG = r.split() }
    }

    public func makeDecoder() -> IncrementalDecoder { GPTDecoder(self) }

    /// The MoE layers, MTP modules' included (empty for a dense GPT).
    public var moeLayers: [DeepSeekMoE] { (blocks + mtp.map(\.block)).compactMap(\.moe) }

    /// The balance losses of the last forward's MoE layers (nil when none adds one).
    public var balanceLoss: Tensor? {
        let parts = moeLayers.compactMap(\.lastBalanceLoss)
        return parts.isEmpty ? nil : parts.dropFirst().reduce(parts[0], +)
    }

    /// Auxiliary-loss-free balancing's bias step in every MoE layer (after each optimizer step).
    public func updateRouterBiases() { for m in moeLayers { m.updateBias() } }

    /// Attention probabilities [T, T] of (layer, head) on a short probe sequence — what heatmaps show.
    public func attentionProbabilities(_ tokens: [Int], layer: Int, head: Int) -> Tensor {
        precondition(
            layer >= 0 && layer < config.layers && head >= 0 && head < config.heads,
            "probe: no layer \(layer) head \(head)")
        return noGrad {
            let pos = Array(0..<tokens.count)
            var x = embed(tokens).reshape([1, tokens.count, config.width])
            for l in 0..<layer { x = blocks[l](x, rope: rope, positions: pos, cuSeqlens: nil) }
            let (q, k, _) = blocks[layer].queriesKeysValues(x, rope: rope, positions: pos)
            return Tensor.attentionProbabilities(q, k, head: head, causal: true)
        }
    }

    /// Mean next-token cross-entropy; targets of −100 are ignored (padding, document ends).
    public func loss(_ tokens: [Int], targets: [Int], batch B: Int, positions: [Int]? = nil, cuSeqlens: [Int]? = nil)
        -> Tensor
    {
        logits(tokens, batch: B, positions: positions, cuSeqlens: cuSeqlens).crossEntropy(targets)
    }
}

/// Incremental decoding with a KV cache: each layer's rotated keys and values of every token seen so
/// far are kept in preallocated [1, Hkv, context, D] buffers, so a new token costs one row of work.
public final class GPTDecoder: IncrementalDecoder {
    let model: GPT
    let keys: [Tensor], values: [Tensor]
    /// Each layer's rotated query of the last token fed [H, D], kept for `attentionRow`.
    var lastQueries: [[Float]] = []
    public private(set) var length = 0

    /// MLA blocks cache only the latent c_KV [context, d_c] and the rotary key [context, d_r].
    let latents: [Tensor], ropeKeys: [Tensor]
    /// MLA blocks: the last fed token's attention [H, length] (for `attentionRow`).
    var lastLatentAttention: [Tensor?] = []
    /// Decode MLA by the naive path (keys and values rebuilt and cached in full) instead of the absorbed one.
    public var naiveLatentAttention = false

    init(_ m: GPT) {
        model = m
        let c = m.config
        let mla = c.mla != nil
        keys = (0..<c.layers).map { _ in
            mla ? Tensor.zeros([1]) : Tensor.zeros([1, c.kvHeads, c.contextLength, c.headDim])
        }
        values = (0..<c.layers).map { _ in
            mla ? Tensor.zeros([1]) : Tensor.zeros([1, c.kvHeads, c.contextLength, c.headDim])
        }
        latents = (0..<c.layers).map { _ in Tensor.zeros(mla ? [c.contextLength, c.mla!.kvLatent] : [1]) }
        ropeKeys = (0..<c.layers).map { _ in Tensor.zeros(mla ? [c.contextLength, c.mla!.ropeDim] : [1]) }
        lastLatentAttention = Array(repeating: nil, count: c.layers)
    }

    /// Bytes held by the cache.
    public var cacheBytes: Int {
        if model.config.mla != nil && !naiveLatentAttention {
            return (latents + ropeKeys).reduce(0) { $0 + $1.count * 4 }
        }
        return (keys + values).reduce(0) { $0 + $1.count * 4 }
    }

    /// Bytes per cached token (all layers).
    public var cacheBytesPerToken: Int { cacheBytes / model.config.contextLength }

    /// The naive path for an MLA model: full keys and values rebuilt from the latents, cached per head.
    var naiveKeys: [Tensor?] = [], naiveValues: [Tensor?] = []

    /// The last feed's hidden states [n, C] (before the final norm): what MTP drafting reads.
    public private(set) var lastHidden: Tensor?

    /// Feeds tokens and returns the logits of every one of them [n, V].
    public func feedAll(_ tokens: [Int]) -> Tensor {
        _ = feed(tokens)
        return noGrad { model.head(lastHidden!) }
    }

    /// Forgets every token after the first `count` (their cache entries are overwritten by later feeds).
    public func truncate(to count: Int) {
        precondition(count >= 0 && count <= length, "truncate: \(count) of \(length) tokens")
        if model.config.mla != nil && naiveLatentAttention {
            for l in naiveKeys.indices {
                naiveKeys[l] = naiveKeys[l]?.slice(2, 0, count).contiguous()
                naiveValues[l] = naiveValues[l]?.slice(2, 0, count).contiguous()
            }
        }
        length = count
    }

    public func feed(_ tokens: [Int]) -> Tensor {
        let n = tokens.count
        let c = model.config
        precondition(
            n >= 1 && length + n <= c.contextLength,
            "KV cache holds \(c.contextLength) tokens; \(length) + \(n) do not fit")
        return noGrad {
            let pos = Array(length..<(length + n))
            var x = model.embed(tokens).reshape([1, n, c.width])
            for (l, b) in model.blocks.enumerated() {
                if let mla = b.mla, !naiveLatentAttention {
                    let h = b.attnNorm(x)
                    let (cKV, kR) = mla.latents(h, positions: pos)
                    latents[l].slice(0, length, length + n).assign(cKV.reshape([n, mla.config.kvLatent]))
                    ropeKeys[l].slice(0, length, length + n).assign(kR.reshape([n, mla.config.ropeDim]))
                    let (u, p) = mla.absorbedStep(
                        h, positions: pos, cKV: latents[l].slice(0, 0, length + n),
                        kR: ropeKeys[l].slice(0, 0, length + n))
                    lastLatentAttention[l] = p.slice(1, n - 1, n).contiguous()
                    x = b.finish(x, projected: u)
                    continue
                }
                let (q, k, v) = b.queriesKeysValues(x, rope: model.rope, positions: pos)
                if b.mla != nil {  // the naive path: grow full per-head caches
                    if naiveKeys.count < c.layers {
                        naiveKeys = Array(repeating: nil, count: c.layers)
                        naiveValues = naiveKeys
                    }
                    naiveKeys[l] = naiveKeys[l].map { Tensor.cat([$0, k], dim: 2) } ?? k.contiguous()
                    naiveValues[l] = naiveValues[l].map { Tensor.cat([$0, v], dim: 2) } ?? v.contiguous()
                    x = b.finish(x, Tensor.attention(q, naiveKeys[l]!, naiveValues[l]!, causal: true))
                    continue
                }
                if lastQueries.count < c.layers { lastQueries.append([]) }
                lastQueries[l] = q.slice(2, n - 1, n).contiguous().toArray()  // [1, H, 1, D] → H·D
                keys[l].slice(2, length, length + n).assign(k)
                values[l].slice(2, length, length + n).assign(v)
                let a = Tensor.attention(
                    q, keys[l].slice(2, 0, length + n), values[l].slice(2, 0, length + n), causal: true)
                x = b.finish(x, a)
            }
            length += n
            lastHidden = x.reshape([n, c.width])
            return model.finalNorm(x.select(1, n - 1)).matmul(model.embed.weight.mT).reshape([c.vocabSize])
        }
    }

    public var attentionShape: (layers: Int, heads: Int)? { (model.config.layers, model.config.heads) }

    /// softmax(q·Kᵀ/√D) of the last token over the cached keys of its head's KV group.
    public func attentionRow(layer: Int, head: Int) -> [Float]? {
        let c = model.config
        if c.mla != nil {
            guard layer >= 0, layer < c.layers, head >= 0, head < c.heads, let p = lastLatentAttention[layer] else {
                return nil
            }
            return p.select(0, head).reshape([length]).toArray()
        }
        guard layer >= 0, layer < c.layers, head >= 0, head < c.heads, layer < lastQueries.count, length > 0 else {
            return nil
        }
        let D = c.headDim
        let group = head / (c.heads / c.kvHeads)
        let q = Array(lastQueries[layer][(head * D)..<(head * D + D)])
        let k = keys[layer].slice(1, group, group + 1).slice(2, 0, length).contiguous().toArray()  // [length · D]
        let scale = 1 / Float(D).squareRoot()
        var scores = (0..<length).map { t -> Float in
            var dot: Float = 0
            for d in 0..<D { dot += q[d] * k[t * D + d] }
            return dot * scale
        }
        let m = scores.max() ?? 0
        var total: Float = 0
        for i in scores.indices {
            scores[i] = Foundation.exp(scores[i] - m)
            total += scores[i]
        }
        return scores.map { $0 / total }
    }
}
