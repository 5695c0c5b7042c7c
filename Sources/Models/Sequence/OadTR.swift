// OadTR (Wang et al., "OadTR: Online Action Detection with Transformers", ICCV 2021): online action
// detection labels the frame that has just arrived, seeing only the past. OadTR embeds the last T
// frames' features, prepends a learnable *task token*, adds learned position encodings and runs a
// transformer encoder over that window; a decoder of ℓ learned queries cross-attends to the encoded
// window and predicts the classes of the next ℓ frames (anticipation). The current frame's class comes
// from the task token's output concatenated with the decoder's pooled output. Training minimises the
// current frame's cross-entropy plus λ times the anticipated frames'.
//
// The switches are the paper's ablations: no task token (the current frame's own encoder output is
// classified instead), no position encoding, no decoder (no anticipation loss, the task token alone),
// and a shorter history T. Dimension letters: B windows, T history, F features, C width, ℓ anticipated.
import Compute
import Foundation
import NN

public struct OadTRConfig: Codable, Equatable, Sendable {
    public var features = 64
    public var classes = 7
    public var width = 64
    public var heads = 4
    public var encoderLayers = 2
    public var decoderLayers = 1
    /// Frames of history T the encoder sees (the current frame included).
    public var history = 32
    /// Future frames ℓ the decoder anticipates.
    public var anticipation = 8
    /// MLP hidden width as a multiple of `width`.
    public var mlpRatio = 2
    public var taskToken = true
    public var positionEncoding = true
    public var decoder = true
    /// λ: weight of the anticipation loss.
    public var anticipationWeight: Float = 0.5
    public init() {}

    public func validate() throws {
        func check(_ ok: Bool, _ what: String) throws { if !ok { throw OADError.config(what) } }
        try check(features >= 1 && features <= 4096, "features must be 1…4096, got \(features)")
        try check(classes >= 2 && classes <= 1000, "classes must be 2…1000, got \(classes)")
        try check(width >= 4 && width <= 1024, "width must be 4…1024, got \(width)")
        try check(heads >= 1 && heads <= width, "heads must be 1…width (\(width)), got \(heads)")
        try check(width % heads == 0, "heads must divide the width (\(width) by \(heads))")
        try check((1...12).contains(encoderLayers), "encoder layers must be 1…12, got \(encoderLayers)")
        try check((1...12).contains(decoderLayers), "decoder layers must be 1…12, got \(decoderLayers)")
        try check((1...1024).contains(history), "history must be 1…1024 frames, got \(history)")
        try check((1...256).contains(anticipation), "anticipation must be 1…256 frames, got \(anticipation)")
        try check((1...8).contains(mlpRatio), "MLP ratio must be 1…8, got \(mlpRatio)")
        try check(
            anticipationWeight >= 0 && anticipationWeight <= 100,
            "anticipation weight must be 0…100, got \(anticipationWeight)")
    }
}

public enum OADError: Error, CustomStringConvertible, Equatable {
    case config(String)
    public var description: String {
        switch self {
        case .config(let s): return "online action detection: \(s)"
        }
    }
}

/// Multi-head attention of queries x [B, Nq, C] over a memory [B, Nk, C] (self-attention when the
/// memory is x), unmasked: every token of the window is in the past of the current frame.
public final class MultiHeadAttention: Module {
    public let query: Linear, key: Linear, value: Linear, out: Linear
    let heads: Int
    public init(width: Int, heads: Int, rng: inout RNG) {
        self.heads = heads
        query = Linear(width, width, rng: &rng)
        key = Linear(width, width, rng: &rng)
        value = Linear(width, width, rng: &rng)
        out = Linear(width, width, rng: &rng)
    }

    func split(_ t: Tensor) -> Tensor {
        let B = t.shape[0]
        let N = t.shape[1]
        let C = t.shape[2]
        return t.reshape([B, N, heads, C / heads]).permute([0, 2, 1, 3])
    }

    public func callAsFunction(_ x: Tensor, memory: Tensor) -> Tensor {
        let B = x.shape[0]
        let N = x.shape[1]
        let C = x.shape[2]
        let a = Tensor.attention(split(query(x)), split(key(memory)), split(value(memory)), causal: false)
        return out(a.permute([0, 2, 1, 3]).reshape([B, N, C]))
    }

    /// Attention probabilities [Nq, Nk] of window `batch`, averaged over heads.
    public func probabilities(_ x: Tensor, memory: Tensor, batch: Int = 0) -> [Float] {
        noGrad {
            let q = split(query(x))
            let k = split(key(memory))
            var sum = Tensor.attentionProbabilities(q, k, batch: batch, head: 0, causal: false)
            for h in 1..<heads { sum = sum + Tensor.attentionProbabilities(q, k, batch: batch, head: h, causal: false) }
            return (sum / Float(heads)).toArray()
        }
    }
}

/// Pre-norm transformer layer: self-attention, optional cross-attention to a memory, GELU MLP.
public final class TransformerLayer: Module {
    public let norm1: LayerNorm, attention: MultiHeadAttention
    public let normCross: LayerNorm?, cross: MultiHeadAttention?
    public let norm2: LayerNorm, fc1: Linear, fc2: Linear

    public init(width: Int, heads: Int, mlpRatio: Int, crossAttention: Bool, rng: inout RNG) {
        norm1 = LayerNorm(width)
        attention = MultiHeadAttention(width: width, heads: heads, rng: &rng)
        normCross = crossAttention ? LayerNorm(width) : nil
        cross = crossAttention ? MultiHeadAttention(width: width, heads: heads, rng: &rng) : nil
        norm2 = LayerNorm(width)
        fc1 = Linear(width, mlpRatio * width, rng: &rng)
        fc2 = Linear(mlpRatio * width, width, rng: &rng)
    }

    public func callAsFunction(_ x: Tensor, memory: Tensor? = nil) -> Tensor {
        let h = norm1(x)
        var y = x + attention(h, memory: h)
        if let cross, let normCross, let memory { y = y + cross(normCross(y), memory: memory) }
        return y + fc2(fc1(norm2(y)).gelu())
    }
}

/// What OadTR says about the newest frame of each window.
public struct OadTROutput {
    /// Current-frame logits [B, classes].
    public let current: Tensor
    /// Anticipated frames' logits [B, ℓ, classes] (nil without the decoder).
    public let anticipated: Tensor?
}

public final class OadTR: Module {
    public let config: OadTRConfig
    public let embed: Linear
    public let task: Tensor?
    public let positions: Tensor?
    public let encoder: [TransformerLayer]
    public let encoderNorm: LayerNorm
    public let queries: Tensor?
    public let decoder: [TransformerLayer]
    public let decoderNorm: LayerNorm?
    public let head: Linear
    public let anticipationHead: Linear?

    public init(_ c: OadTRConfig, seed: UInt64) {
        var rng = RNG(seed: seed)
        config = c
        embed = Linear(c.features, c.width, rng: &rng)
        task = c.taskToken ? Parameter(Tensor.randn([1, 1, c.width], std: 0.02, rng: &rng)) : nil
        let tokens = c.history + (c.taskToken ? 1 : 0)
        positions = c.positionEncoding ? Parameter(Tensor.randn([tokens, c.width], std: 0.02, rng: &rng)) : nil
        encoder = (0..<c.encoderLayers).map { _ in
            TransformerLayer(width: c.width, heads: c.heads, mlpRatio: c.mlpRatio, crossAttention: false, rng: &rng)
        }
        encoderNorm = LayerNorm(c.width)
        if c.decoder {
            queries = Parameter(Tensor.randn([1, c.anticipation, c.width], std: 0.02, rng: &rng))
            decoder = (0..<c.decoderLayers).map { _ in
                TransformerLayer(width: c.width, heads: c.heads, mlpRatio: c.mlpRatio, crossAttention: true, rng: &rng)
            }
            decoderNorm = LayerNorm(c.width)
            anticipationHead = Linear(c.width, c.classes, rng: &rng)
        } else {
            queries = nil
            decoder = []
            decoderNorm = nil
            anticipationHead = nil
        }
        head = Linear(c.decoder ? 2 * c.width : c.width, c.classes, rng: &rng)
    }

    /// Frame embeddings [B, T, C] of feature windows [B, T, F].
    public func embedFrames(_ windows: Tensor) -> Tensor { embed(windows) }

    /// The encoder's input tokens: [task token,] embedded frames, plus position encodings.
    func tokens(_ e: Tensor) -> Tensor {
        let B = e.shape[0]
        var x = e
        if let task { x = Tensor.cat([task.expand([B, 1, config.width]), e], dim: 1) }
        if let positions { x = x + positions }
        return x
    }

    /// The encoded window [B, T(+1), C] after the final norm.
    func encode(_ e: Tensor) -> Tensor {
        var x = tokens(e)
        for l in encoder { x = l(x) }
        return encoderNorm(x)
    }

    /// Outputs for windows already embedded [B, T, C] (the streaming path caches embeddings).
    public func forward(embedded e: Tensor) -> OadTROutput {
        precondition(e.rank == 3 && e.shape[1] == config.history, "OadTR: window of \(config.history) frames expected")
        let B = e.shape[0]
        let memory = encode(e)
        // The task token's output, or without it the newest frame's own output.
        let summary = config.taskToken ? memory.select(1, 0) : memory.select(1, memory.shape[1] - 1)
        guard let queries, let decoderNorm, let anticipationHead else {
            return OadTROutput(current: head(summary), anticipated: nil)
        }
        var q = queries.expand([B, config.anticipation, config.width])
        for l in decoder { q = l(q, memory: memory) }
        q = decoderNorm(q)
        let current = head(Tensor.cat([summary, q.mean(1)], dim: 1))
        return OadTROutput(current: current, anticipated: anticipationHead(q))
    }

    /// Outputs for feature windows [B, T, F].
    public func callAsFunction(_ windows: Tensor) -> OadTROutput { forward(embedded: embedFrames(windows)) }

    /// Current-frame loss plus λ × anticipation loss (targets −100 are ignored). Returns the total and
    /// its two parts' values.
    public func loss(_ windows: Tensor, current: [Int], future: [Int]) -> (Tensor, current: Float, future: Float) {
        let o = self(windows)
        let lc = o.current.crossEntropy(current)
        guard let a = o.anticipated, config.anticipationWeight > 0, future.contains(where: { $0 >= 0 }) else {
            return (lc, lc.item(), .nan)
        }
        let la = a.reshape([a.shape[0] * a.shape[1], config.classes]).crossEntropy(future)
        return (lc + la * config.anticipationWeight, lc.item(), la.item())
    }

    /// The encoder's last-layer attention of the summary token (task token, or the newest frame) over
    /// the history frames [T] (oldest first), averaged over heads, for the window ending at the newest
    /// frame of `embedded` [1, T, C].
    public func historyAttention(embedded e: Tensor) -> [Float] {
        noGrad {
            var x = tokens(e)
            for l in encoder.dropLast() { x = l(x) }
            let last = encoder[encoder.count - 1]
            let h = last.norm1(x)
            let p = last.attention.probabilities(h, memory: h)
            let n = x.shape[1]
            let row = config.taskToken ? 0 : n - 1
            let off = config.taskToken ? 1 : 0
            return Array(p[(row * n + off)..<(row * n + n)])
        }
    }
}

/// Streaming OadTR: the frame embeddings of the last T frames are cached in a ring, so a new frame
/// costs one embedding and one pass of the encoder and decoder over the window. Frames before the
/// stream began are zero feature vectors, as in batched inference (their embedding is taken at the
/// first frame, with the weights of that moment).
public final class OadTRStream {
    public let model: OadTR
    var ring: [[Float]] = []
    var head = 0
    public private(set) var seen = 0

    public init(_ model: OadTR) { self.model = model }

    /// Feeds one frame [F]; returns the current frame's class probabilities, the anticipated frames'
    /// probabilities [ℓ][classes] (empty without a decoder) and the attention over the history [T].
    public func push(_ frame: [Float], attention: Bool = false) -> (
        probabilities: [Float], anticipated: [[Float]], attention: [Float]
    ) {
        let c = model.config
        precondition(frame.count == c.features, "OadTRStream: frame of \(c.features) features expected")
        return noGrad {
            if ring.isEmpty {
                let zero = model.embed(Tensor.zeros([1, c.features])).toArray()
                ring = Array(repeating: zero, count: c.history)
            }
            ring[head] = model.embed(Tensor(shape: [1, c.features], data: frame)).toArray()
            head = (head + 1) % c.history
            seen += 1
            var window: [Float] = []
            window.reserveCapacity(c.history * c.width)
            for k in 0..<c.history { window += ring[(head + k) % c.history] }
            let e = Tensor(shape: [1, c.history, c.width], data: window)
            let o = model.forward(embedded: e)
            let p = o.current.softmax(-1).toArray()
            var ant: [[Float]] = []
            if let a = o.anticipated {
                let flat = a.softmax(-1).toArray()
                ant = (0..<c.anticipation).map { Array(flat[($0 * c.classes)..<(($0 + 1) * c.classes)]) }
            }
            return (p, ant, attention ? model.historyAttention(embedded: e) : [])
        }
    }
}

extension OadTR {
    /// Batched inference over a whole stream: the class probabilities of every frame [N][classes] from
    /// the window ending at it (in chunks of `chunk` windows), and the anticipated classes (argmax of
    /// each of the ℓ future frames) made at each frame.
    public func predict(_ stream: ActionStream, chunk: Int = 256) -> (probabilities: [[Float]], anticipated: [[Int]]) {
        let c = config
        var probs: [[Float]] = []
        var ant: [[Int]] = []
        probs.reserveCapacity(stream.frames)
        noGrad {
            var start = 0
            while start < stream.frames {
                let n = Swift.min(chunk, stream.frames - start)
                var w: [Float] = []
                w.reserveCapacity(n * c.history * c.features)
                for t in start..<(start + n) { w += stream.window(endingAt: t, length: c.history) }
                let o = self(Tensor(shape: [n, c.history, c.features], data: w))
                let p = o.current.softmax(-1).toArray()
                for i in 0..<n { probs.append(Array(p[(i * c.classes)..<((i + 1) * c.classes)])) }
                if let a = o.anticipated {
                    let logits = a.toArray()
                    for i in 0..<n {
                        ant.append(
                            (0..<c.anticipation).map { k in
                                let row = (i * c.anticipation + k) * c.classes
                                return argmax(logits[row..<(row + c.classes)])
                            })
                    }
                }
                start += n
            }
        }
        return (probs, ant)
    }
}

/// Index of the largest value (the first on ties).
public func argmax<C: Collection>(_ v: C) -> Int where C.Element == Float {
    var best = 0
    var bestValue = -Float.infinity
    for (i, x) in v.enumerated() where x > bestValue {
        best = i
        bestValue = x
    }
    return best
}
