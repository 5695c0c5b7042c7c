// A real checkpoint from a GGUF file: the `llama` or `qwen2` network with its weights left in the
// file's types, its tokenizer and its chat template, every piece checked against the metadata.
import Compute
import Formats
import Foundation
import Models

public final class PretrainedModel: @unchecked Sendable {
    public let file: GGUFFile
    public let model: LlamaModel
    public let tokenizer: PretrainedTokenizer
    public let template: ChatTemplate
    /// general.name, or the file name.
    public let name: String
    /// The weight types and how many tensors each (for display).
    public let typeCounts: [(GGMLType, Int)]

    /// Largest context a decoder allocates by default (the key/value cache is allocated up front:
    /// SmolLM2's 8192 would take 377 MB).
    public static let defaultContextCap = 2048

    public static let supportedArchitectures = ["llama", "qwen2"]

    /// `repack`: four-row interleaved copies of the weights where the CPU has kernels for them
    /// (bit-identical products, faster; the weights then live in memory rather than in the mapping).
    public init(
        path: String, template: String? = nil, contextCap: Int = PretrainedModel.defaultContextCap, repack: Bool = true
    ) throws {
        let f = try GGUFFile(path: path)
        file = f
        let arch = try f.string("general.architecture")
        guard PretrainedModel.supportedArchitectures.contains(arch) else {
            throw GGUFError.unsupported("architecture \(arch.debugDescription) is not supported (llama and qwen2 are)")
        }
        name = (try? f.optionalString("general.name")) ?? nil ?? URL(fileURLWithPath: path).lastPathComponent
        func key(_ k: String) -> String { "\(arch).\(k)" }
        func positive(_ k: String, _ v: Int, max: Int = 1 << 20) throws -> Int {
            guard v >= 1 && v <= max else {
                throw GGUFError.wrongValueType(key: k, expected: "an integer in 1…\(max)", found: "\(v)")
            }
            return v
        }
        let layers = try positive(key("block_count"), f.integer(key("block_count")), max: 1024)
        let width = try positive(key("embedding_length"), f.integer(key("embedding_length")), max: 65536)
        let ffn = try positive(key("feed_forward_length"), f.integer(key("feed_forward_length")))
        let heads = try positive(key("attention.head_count"), f.integer(key("attention.head_count")), max: 1024)
        let kvHeads = try positive(
            key("attention.head_count_kv"), f.optionalInteger(key("attention.head_count_kv")) ?? heads, max: heads)
        guard width % heads == 0, heads % kvHeads == 0 else {
            throw GGUFError.unsupported("width \(width), \(heads) heads and \(kvHeads) KV heads do not divide evenly")
        }
        let headDim = width / heads
        let context = try positive(
            key("context_length"), f.optionalInteger(key("context_length")) ?? 2048, max: 1 << 24)
        let ropeDims = try positive(
            key("rope.dimension_count"), f.optionalInteger(key("rope.dimension_count")) ?? headDim)
        guard ropeDims % 2 == 0, ropeDims <= headDim else {
            throw GGUFError.unsupported(
                "rope.dimension_count \(ropeDims) must be even and at most the head size \(headDim)")
        }
        let base = try f.optionalNumber(key("rope.freq_base")) ?? 10000
        let eps = try f.number(key("attention.layer_norm_rms_epsilon"))
        // Rotary scaling: none, or linear (positions divided by the factor); others are refused rather
        // than run wrongly.
        var positionScale: Float = 1
        if let kind = try f.optionalString(key("rope.scaling.type")), kind != "none" {
            guard kind == "linear", let factor = try f.optionalNumber(key("rope.scaling.factor")), factor >= 1,
                factor.isFinite
            else {
                throw GGUFError.unsupported("RoPE scaling \(kind.debugDescription) is not supported (none, linear)")
            }
            positionScale = Float(1 / factor)
        }
        if f.tensor("rope_freqs.weight") != nil {
            throw GGUFError.unsupported(
                "per-frequency RoPE factors (rope_freqs.weight, Llama 3.1 style) are not supported")
        }
        guard base > 0, base.isFinite, eps > 0, eps < 1 else {
            throw GGUFError.unsupported("rope base \(base) or RMSNorm epsilon \(eps) out of range")
        }

        // Tokenizer first: the vocabulary size checks the embedding.
        tokenizer = try PretrainedModel.loadTokenizer(f)
        let vocab = tokenizer.vocabSize
        if let v = try f.optionalInteger(key("vocab_size")), v != vocab {
            throw GGUFError.unsupported("\(key("vocab_size")) \(v) differs from the \(vocab) tokens of the tokenizer")
        }
        let config = LlamaConfig(
            architecture: arch, layers: layers, width: width, heads: heads, kvHeads: kvHeads, headDim: headDim,
            ffn: ffn,
            vocab: vocab, context: min(context, max(16, contextCap)), ropeBase: Float(base), ropeDims: ropeDims,
            ropeOrdering: arch == "qwen2" ? .halves : .interleaved, normEps: Float(eps), qkvBias: arch == "qwen2",
            ropePositionScale: positionScale)

        func matrix(_ n: String, rows: Int, cols: Int) throws -> QuantizedMatrix {
            guard let t = f.tensor(n) else { throw GGUFError.missingTensor(n) }
            guard t.dimensions == [cols, rows] else {
                throw GGUFError.shapeMismatch(tensor: n, expected: [rows, cols], found: t.shape)
            }
            return QuantizedMatrix(type: t.type, rows: rows, cols: cols, data: f.data(t), owner: f)
        }
        func vector(_ n: String, _ count: Int) throws -> [Float] {
            guard let t = f.tensor(n) else { throw GGUFError.missingTensor(n) }
            guard t.dimensions == [count] else {
                throw GGUFError.shapeMismatch(tensor: n, expected: [count], found: t.shape)
            }
            let m = QuantizedMatrix(type: t.type, rows: 1, cols: count, data: f.data(t), owner: f)
            var out = [Float](repeating: 0, count: count)
            out.withUnsafeMutableBufferPointer { m.dequantizeRow(0, into: $0.baseAddress!) }
            guard out.allSatisfy({ $0.isFinite }) else {
                throw GGUFError.unsupported("tensor \(n) holds NaN or infinity")
            }
            return out
        }
        let embedding = try matrix("token_embd.weight", rows: vocab, cols: width)
        var blocks: [LlamaLayer] = []
        let (qw, kvw) = (heads * headDim, kvHeads * headDim)
        for i in 0..<layers {
            let p = "blk.\(i)."
            blocks.append(
                LlamaLayer(
                    attnNorm: try vector(p + "attn_norm.weight", width),
                    wq: try matrix(p + "attn_q.weight", rows: qw, cols: width),
                    wk: try matrix(p + "attn_k.weight", rows: kvw, cols: width),
                    wv: try matrix(p + "attn_v.weight", rows: kvw, cols: width),
                    bq: config.qkvBias ? try vector(p + "attn_q.bias", qw) : nil,
                    bk: config.qkvBias ? try vector(p + "attn_k.bias", kvw) : nil,
                    bv: config.qkvBias ? try vector(p + "attn_v.bias", kvw) : nil,
                    wo: try matrix(p + "attn_output.weight", rows: width, cols: qw),
                    ffnNorm: try vector(p + "ffn_norm.weight", width),
                    gate: try matrix(p + "ffn_gate.weight", rows: ffn, cols: width),
                    up: try matrix(p + "ffn_up.weight", rows: ffn, cols: width),
                    down: try matrix(p + "ffn_down.weight", rows: width, cols: ffn)))
        }
        let outputNorm = try vector("output_norm.weight", width)
        let output =
            f.tensor("output.weight") == nil ? embedding : try matrix("output.weight", rows: vocab, cols: width)
        model = LlamaModel(config: config, embedding: embedding, layers: blocks, outputNorm: outputNorm, output: output)
        if repack {
            for l in blocks { for m in [l.wq, l.wk, l.wv, l.wo, l.gate, l.up, l.down] { m.repackForSpeed() } }
            output.repackForSpeed()
        }
        if let t = template {
            self.template = try ChatTemplate.named(t)
        } else {
            self.template = try ChatTemplate.recognise(try f.optionalString("tokenizer.chat_template"))
        }
        var counts: [GGMLType: Int] = [:]
        for t in f.tensors { counts[t.type, default: 0] += 1 }
        typeCounts = counts.sorted { $0.value > $1.value }.map { ($0.key, $0.value) }
    }

    static func loadTokenizer(_ f: GGUFFile) throws -> PretrainedTokenizer {
        let modelName = try f.string("tokenizer.ggml.model")
        let kind: PretrainedTokenizer.Kind
        switch modelName {
        case "gpt2": kind = .gpt2
        case "llama": kind = .llama
        default:
            throw GGUFError.unsupported("tokenizer model \(modelName.debugDescription) is not supported (gpt2, llama)")
        }
        // Counts are checked before anything is decoded: an array of 10⁸ entries costs nothing until then.
        guard let n = f.arrayCount("tokenizer.ggml.tokens") else {
            _ = try f.stringArray("tokenizer.ggml.tokens")  // the missing-key or wrong-type error
            throw GGUFError.missingKey("tokenizer.ggml.tokens")
        }
        if let e = f.tensor("token_embd.weight"), e.dimensions.count == 2, e.dimensions[1] != n {
            throw GGUFError.unsupported(
                "the vocabulary has \(n) tokens but token_embd.weight has \(e.dimensions[1]) rows")
        }
        for k in ["tokenizer.ggml.token_type", "tokenizer.ggml.scores"] {
            if let c = f.arrayCount(k), c != n {
                throw GGUFError.unsupported("\(k) has \(c) entries for \(n) tokens")
            }
        }
        let tokens = try f.stringArray("tokenizer.ggml.tokens")
        let types = try f.optionalNumberArray("tokenizer.ggml.token_type", integerOnly: true)?.map { Int($0) }
        let scores = try f.optionalNumberArray("tokenizer.ggml.scores")?.map { Float($0) }
        let merges = try f.optionalStringArray("tokenizer.ggml.merges")
        let preName = try f.optionalString("tokenizer.ggml.pre") ?? "default"
        let pre: PretrainedTokenizer.PreTokenizer
        switch preName {
        case "smollm", "starcoder", "refact", "codeshell", "command-r", "exaone": pre = .digitsThenGPT2
        case "qwen2", "llama3", "llama-bpe", "llama-v3": pre = .qwen2
        default: pre = .gpt2
        }
        let bos = try f.optionalInteger("tokenizer.ggml.bos_token_id")
        let eos = try f.optionalInteger("tokenizer.ggml.eos_token_id")
        let addBOS = try f.optionalBool("tokenizer.ggml.add_bos_token") ?? (kind == .llama)
        let addSpace = try f.optionalBool("tokenizer.ggml.add_space_prefix") ?? (kind == .llama)
        do {
            return try PretrainedTokenizer(
                kind: kind, pre: pre, pieces: tokens, types: types, scores: scores, merges: merges, bos: bos, eos: eos,
                addBOS: addBOS, addSpacePrefix: addSpace)
        } catch PretrainedTokenizerError.malformedToken(let i, let t) {
            throw GGUFError.malformedToken(index: i, text: t)
        } catch let e as PretrainedTokenizerError {
            throw GGUFError.unsupported(e.description)
        }
    }

    /// Token ids of a chat conversation rendered by the template, ready for the answer.
    public func chatPrompt(_ messages: [ChatMessage]) -> [Int] {
        let text = template.render(messages)
        var ids = tokenizer.encode(Array(text.utf8), special: true)
        if tokenizer.addBOS, let b = tokenizer.bos, ids.first != b { ids.insert(b, at: 0) }
        return ids
    }

    /// Token ids of plain text (BOS first when the model wants one).
    public func textPrompt(_ text: String) -> [Int] {
        var ids = tokenizer.encode(Array(text.utf8), special: false)
        if tokenizer.addBOS, let b = tokenizer.bos { ids.insert(b, at: 0) }
        return ids
    }
}
