// Inference for the `llama` family of real checkpoints (Llama, SmolLM, TinyLlama) and `qwen2` (the
// same block with biases on Q, K and V): pre-norm decoder blocks with RMSNorm, rotary position
// embedding, grouped-query attention and a SwiGLU MLP. Weights stay in their file's types
// (`QuantizedMatrix`); activations are float32. One forward pass takes a chunk of tokens (a prompt,
// or one generated token) and extends the key/value cache.
import CKernels
import Compute
import Foundation

public struct LlamaConfig: Equatable, Sendable {
    public enum RopeOrdering: String, Sendable {
        /// Rotates adjacent pairs (x₂ᵢ, x₂ᵢ₊₁): GGUF's `llama` (its converter permutes Q and K to it).
        case interleaved
        /// Rotates (xᵢ, xᵢ₊d/2): GPT-NeoX's layout, which GGUF's `qwen2` keeps.
        case halves
    }
    public var architecture: String
    public var layers: Int
    public var width: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var ffn: Int
    public var vocab: Int
    public var context: Int
    public var ropeBase: Float
    /// Rotated dimensions per head (≤ headDim).
    public var ropeDims: Int
    public var ropeOrdering: RopeOrdering
    public var normEps: Float
    public var qkvBias: Bool
    /// Linear RoPE scaling: positions are multiplied by this (1 / the scaling factor).
    public var ropePositionScale: Float

    public init(
        architecture: String, layers: Int, width: Int, heads: Int, kvHeads: Int, headDim: Int, ffn: Int, vocab: Int,
        context: Int, ropeBase: Float, ropeDims: Int, ropeOrdering: RopeOrdering, normEps: Float, qkvBias: Bool,
        ropePositionScale: Float = 1
    ) {
        self.ropePositionScale = ropePositionScale
        self.architecture = architecture
        self.layers = layers
        self.width = width
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.ffn = ffn
        self.vocab = vocab
        self.context = context
        self.ropeBase = ropeBase
        self.ropeDims = ropeDims
        self.ropeOrdering = ropeOrdering
        self.normEps = normEps
        self.qkvBias = qkvBias
    }

    /// Weights in parameters (for display).
    public var parameterCount: Int {
        let attn = width * heads * headDim * 2 + width * kvHeads * headDim * 2
        return vocab * width + layers * (attn + 3 * width * ffn + 2 * width) + width
    }
}

/// One decoder block's weights.
public struct LlamaLayer: @unchecked Sendable {
    public var attnNorm: [Float]
    public var wq: QuantizedMatrix
    public var wk: QuantizedMatrix
    public var wv: QuantizedMatrix
    public var bq: [Float]?
    public var bk: [Float]?
    public var bv: [Float]?
    public var wo: QuantizedMatrix
    public var ffnNorm: [Float]
    public var gate: QuantizedMatrix
    public var up: QuantizedMatrix
    public var down: QuantizedMatrix

    public init(
        attnNorm: [Float], wq: QuantizedMatrix, wk: QuantizedMatrix, wv: QuantizedMatrix, bq: [Float]?, bk: [Float]?,
        bv: [Float]?, wo: QuantizedMatrix, ffnNorm: [Float], gate: QuantizedMatrix, up: QuantizedMatrix,
        down: QuantizedMatrix
    ) {
        self.attnNorm = attnNorm
        self.wq = wq
        self.wk = wk
        self.wv = wv
        self.bq = bq
        self.bk = bk
        self.bv = bv
        self.wo = wo
        self.ffnNorm = ffnNorm
        self.gate = gate
        self.up = up
        self.down = down
    }
}

public final class LlamaModel: AutoregressiveModel, @unchecked Sendable {
    public let config: LlamaConfig
    public let embedding: QuantizedMatrix
    public let layers: [LlamaLayer]
    public let outputNorm: [Float]
    /// The output head (the embedding itself when tied).
    public let output: QuantizedMatrix
    /// Inverse frequencies of the rotary embedding (ropeDims / 2).
    let inverseFrequencies: [Float]

    public init(
        config: LlamaConfig, embedding: QuantizedMatrix, layers: [LlamaLayer], outputNorm: [Float],
        output: QuantizedMatrix
    ) {
        self.config = config
        self.embedding = embedding
        self.layers = layers
        self.outputNorm = outputNorm
        self.output = output
        let half = config.ropeDims / 2
        inverseFrequencies = (0..<half).map { i in
            Float(1.0 / pow(Double(config.ropeBase), Double(2 * i) / Double(config.ropeDims)))
        }
    }

    public var contextLength: Int { config.context }
    public func makeDecoder() -> IncrementalDecoder { LlamaDecoder(model: self) }
}

/// Pieces of one forward pass a UI may show (filled only when asked for).
public struct LlamaProbe {
    /// The final-norm hidden state of the last token after each layer (for the logit lens).
    public var layerStates: [[Float]] = []
}

/// The key/value cache and the forward pass.
public final class LlamaDecoder: IncrementalDecoder {
    public let model: LlamaModel
    public private(set) var length = 0
    let kvWidth: Int
    /// keys[layer], values[layer]: [context, kvHeads·headDim].
    var keys: [UnsafeMutablePointer<Float>]
    var values: [UnsafeMutablePointer<Float>]
    /// The last fed token's attention per layer and head over positions 0..<length.
    var lastAttention: [[Float]] = []
    /// Round Q, K, V and the attention probabilities to float16 as llama.cpp does (its KV cache is
    /// float16), so that greedy answers agree with it; off gives plain float32 attention.
    public var llamaCppRounding = true
    /// Record each layer's hidden state of the last token (logit lens); off by default.
    public var recordLayerStates = false
    public private(set) var probe = LlamaProbe()

    init(model: LlamaModel) {
        self.model = model
        let c = model.config
        kvWidth = c.kvHeads * c.headDim
        keys = (0..<c.layers).map { _ in
            UnsafeMutablePointer<Float>.allocate(capacity: c.context * c.kvHeads * c.headDim)
        }
        values = (0..<c.layers).map { _ in
            UnsafeMutablePointer<Float>.allocate(capacity: c.context * c.kvHeads * c.headDim)
        }
    }

    deinit {
        for p in keys + values { p.deallocate() }
    }

    public var attentionShape: (layers: Int, heads: Int)? { (model.config.layers, model.config.heads) }

    public func attentionRow(layer: Int, head: Int) -> [Float]? {
        let i = layer * model.config.heads + head
        guard i >= 0 && i < lastAttention.count else { return nil }
        return lastAttention[i]
    }

    /// Forgets everything after the first `n` tokens (to rewind a conversation).
    public func truncate(to n: Int) { length = min(length, max(0, n)) }

    /// Feeds tokens (at most the room left in the context) and returns the last one's logits [V].
    public func feed(_ tokens: [Int]) -> Tensor {
        let c = model.config
        precondition(!tokens.isEmpty && length + tokens.count <= c.context, "feed: \(tokens.count) tokens at \(length)")
        precondition(tokens.allSatisfy { $0 >= 0 && $0 < c.vocab }, "feed: token outside the vocabulary")
        let T = tokens.count
        let D = c.width
        let (H, KV, hd) = (c.heads, c.kvHeads, c.headDim)
        let x = UnsafeMutablePointer<Float>.allocate(capacity: T * D)
        let h = UnsafeMutablePointer<Float>.allocate(capacity: T * D)
        let q = UnsafeMutablePointer<Float>.allocate(capacity: T * H * hd)
        let k = UnsafeMutablePointer<Float>.allocate(capacity: T * kvWidth)
        let v = UnsafeMutablePointer<Float>.allocate(capacity: T * kvWidth)
        let att = UnsafeMutablePointer<Float>.allocate(capacity: T * H * hd)
        let g = UnsafeMutablePointer<Float>.allocate(capacity: T * c.ffn)
        let u = UnsafeMutablePointer<Float>.allocate(capacity: T * c.ffn)
        defer { for p in [x, h, q, k, v, att, g, u] { p.deallocate() } }
        for (t, id) in tokens.enumerated() { model.embedding.dequantizeRow(id, into: x + t * D) }
        let p0 = length
        var attention: [[Float]] = Array(repeating: [], count: c.layers * H)
        probe.layerStates = []
        for (li, layer) in model.layers.enumerated() {
            rmsNorm(x, layer.attnNorm, T, D, c.normEps, into: h)
            QuantizedMatrix.apply([(layer.wq, q), (layer.wk, k), (layer.wv, v)], to: h, count: T)
            if let b = layer.bq { addBias(q, b, T) }
            if let b = layer.bk { addBias(k, b, T) }
            if let b = layer.bv { addBias(v, b, T) }
            for t in 0..<T {
                rope(q + t * H * hd, heads: H, position: p0 + t)
                rope(k + t * kvWidth, heads: KV, position: p0 + t)
            }
            // llama.cpp keeps K and V in float16 and multiplies Q and the probabilities in float16
            // too: the same rounding here keeps greedy answers the same as llama.cpp's.
            if llamaCppRounding {
                orr_round_to_half(k, T * kvWidth)
                orr_round_to_half(v, T * kvWidth)
                orr_round_to_half(q, T * H * hd)
            }
            (keys[li] + p0 * kvWidth).update(from: k, count: T * kvWidth)
            (values[li] + p0 * kvWidth).update(from: v, count: T * kvWidth)
            let rows = attend(q, layer: li, T: T, p0: p0, into: att)
            for (hh, row) in rows.enumerated() { attention[li * H + hh] = row }
            layer.wo.apply(att, count: T, into: h)
            for i in 0..<(T * D) { x[i] += h[i] }
            rmsNorm(x, layer.ffnNorm, T, D, c.normEps, into: h)
            QuantizedMatrix.apply([(layer.gate, g), (layer.up, u)], to: h, count: T)
            for i in 0..<(T * c.ffn) {
                let a = g[i]
                g[i] = a / (1 + expf(-a)) * u[i]
            }
            layer.down.apply(g, count: T, into: h)
            for i in 0..<(T * D) { x[i] += h[i] }
            if recordLayerStates {
                let last = Array(UnsafeBufferPointer(start: x + (T - 1) * D, count: D))
                probe.layerStates.append(last)
            }
        }
        length += T
        lastAttention = attention
        // Only the last token's logits are needed.
        rmsNorm(x + (T - 1) * D, model.outputNorm, 1, D, c.normEps, into: h)
        let logits = Tensor.empty([c.vocab])
        model.output.apply(h, count: 1, into: logits.data)
        return logits
    }

    /// The logit lens (nostalgebraist 2020): each recorded layer's last hidden state read through the
    /// final norm and the output head — what the model "would say" after that layer. Returns, for every
    /// `stride`-th layer and the last, the most likely token and its probability. Needs
    /// `recordLayerStates` on during the last `feed`.
    public func logitLens(stride: Int) -> [(layer: Int, token: Int, probability: Float)] {
        let states = probe.layerStates
        guard !states.isEmpty else { return [] }
        var layers = Array(Swift.stride(from: max(0, stride - 1), to: states.count, by: max(1, stride)))
        if layers.last != states.count - 1 { layers.append(states.count - 1) }
        return layers.map { l in
            let z = logits(ofHidden: states[l])
            var best = 0
            for i in 1..<z.count where z[i] > z[best] { best = i }
            var sum: Float = 0
            for v in z { sum += expf(v - z[best]) }
            return (l, best, 1 / sum)
        }
    }

    /// Logits [V] of a hidden state through the final norm and the output head (the logit lens).
    public func logits(ofHidden state: [Float]) -> [Float] {
        let c = model.config
        let h = UnsafeMutablePointer<Float>.allocate(capacity: c.width)
        defer { h.deallocate() }
        state.withUnsafeBufferPointer { rmsNorm($0.baseAddress!, model.outputNorm, 1, c.width, c.normEps, into: h) }
        var out = [Float](repeating: 0, count: c.vocab)
        out.withUnsafeMutableBufferPointer { model.output.apply(h, count: 1, into: $0.baseAddress!) }
        return out
    }

    func addBias(_ y: UnsafeMutablePointer<Float>, _ b: [Float], _ T: Int) {
        let n = b.count
        b.withUnsafeBufferPointer { bp in
            for t in 0..<T { for i in 0..<n { y[t * n + i] += bp[i] } }
        }
    }

    func rmsNorm(
        _ x: UnsafePointer<Float>, _ w: [Float], _ T: Int, _ D: Int, _ eps: Float, into y: UnsafeMutablePointer<Float>
    ) {
        w.withUnsafeBufferPointer { wp in
            for t in 0..<T {
                let r = x + t * D
                // As ggml: the sum of squares in double, the mean and scale in float.
                var ss: Double = 0
                for i in 0..<D { ss += Double(r[i] * r[i]) }
                let mean = Float(ss / Double(D))
                let scale = 1 / (mean + eps).squareRoot()
                for i in 0..<D { y[t * D + i] = r[i] * scale * wp[i] }
            }
        }
    }

    func rope(_ x: UnsafeMutablePointer<Float>, heads: Int, position: Int) {
        let c = model.config
        let hd = c.headDim
        let half = c.ropeDims / 2
        inverseFrequenciesCosSin(position) { cosv, sinv in
            for hh in 0..<heads {
                let base = x + hh * hd
                for i in 0..<half {
                    let (a, b) = c.ropeOrdering == .interleaved ? (2 * i, 2 * i + 1) : (i, i + half)
                    let x0 = base[a]
                    let x1 = base[b]
                    base[a] = x0 * cosv[i] - x1 * sinv[i]
                    base[b] = x0 * sinv[i] + x1 * cosv[i]
                }
            }
        }
    }

    /// cos and sin of position·θᵢ, with θᵢ = base^(−2i/d) built up by repeated multiplication in
    /// float as ggml does (the angles then round as llama.cpp's do).
    func inverseFrequenciesCosSin(_ position: Int, _ body: (UnsafePointer<Float>, UnsafePointer<Float>) -> Void) {
        let n = model.inverseFrequencies.count
        let thetaScale = powf(model.config.ropeBase, -2 / Float(model.config.ropeDims))
        var cosv = [Float](repeating: 0, count: n)
        var sinv = [Float](repeating: 0, count: n)
        var theta = Float(position) * model.config.ropePositionScale
        for i in 0..<n {
            cosv[i] = cosf(theta)
            sinv[i] = sinf(theta)
            theta *= thetaScale
        }
        cosv.withUnsafeBufferPointer { cp in
            sinv.withUnsafeBufferPointer { sp in body(cp.baseAddress!, sp.baseAddress!) }
        }
    }

    /// Causal attention of T new queries over the cache (positions 0..<p0+t+1 for query t); returns
    /// the last query's probabilities per head.
    func attend(_ q: UnsafeMutablePointer<Float>, layer li: Int, T: Int, p0: Int, into out: UnsafeMutablePointer<Float>)
        -> [[Float]]
    {
        let c = model.config
        let (H, KV, hd) = (c.heads, c.kvHeads, c.headDim)
        let group = H / KV
        let scale = 1 / Float(hd).squareRoot()
        let K = keys[li]
        let V = values[li]
        let kvw = kvWidth
        let total = p0 + T
        let half = llamaCppRounding
        // Every (query, head) pair is independent: split them over the worker team (the SIMD loops
        // are CKernels' orr_attend).
        let lastRows = UnsafeMutablePointer<Float>.allocate(capacity: H * total)
        defer { lastRows.deallocate() }
        // Query t's cost grows with t: job k of the split takes queries from both ends in turn, so
        // every contiguous range holds as many late (long) queries as early ones.
        let n = T * H
        Parallel.onTeam(n, grain: 1) { r in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: total)
            defer { scratch.deallocate() }
            for k in r {
                let job = k % 2 == 0 ? k / 2 : n - 1 - k / 2
                orr_attend(q, K, V, T, H, group, hd, kvw, p0, scale, half ? 1 : 0, out, lastRows, scratch, job, job + 1)
            }
        }
        return (0..<H).map { Array(UnsafeBufferPointer(start: lastRows + $0 * total, count: total)) }
    }
}
