// The bridge out: a language-lab GPT written as a `llama`-architecture GGUF file that llama.cpp loads
// and runs, and that Orrery reads back with the same greedy output. The language lab's GPT already is
// a Llama block (RMSNorm, RoPE, SwiGLU, no biases, tied embedding); what changes is naming and the
// rotary layout: Orrery rotates (xᵢ, xᵢ₊d/2) pairs, GGUF's llama adjacent pairs, so the rows of the
// query and key projections are permuted per head exactly as llama.cpp's converter permutes a
// Hugging Face checkpoint.
//
// Tokenizers: a character tokenizer becomes a SentencePiece-style (`llama`) vocabulary — its 256 byte
// tokens as <0xNN>, then one piece per character (a space written "▁"), no space prefix — so that both
// llama.cpp and Orrery split text into the same ids the model was trained on. A byte-level BPE becomes a
// `gpt2` vocabulary with its merges in rank order (llama.cpp then pre-splits text with GPT-2's pattern,
// which Orrery's BPE does not: ids can differ on text that crosses those splits).
import Compute
import Formats
import Foundation
import Models

public enum GGUFExportError: Error, CustomStringConvertible, Equatable {
    case notExportable(String)
    public var description: String {
        switch self {
        case .notExportable(let why): return why
        }
    }
}

public enum GGUFExport {
    public static let types: [GGMLType] = [.f32, .f16, .q8_0]

    /// Writes `model` and `tokenizer` to `path` (atomically) with 2-D weights stored as `type`.
    public static func write(model: GPT, tokenizer: Tokenizer, name: String, type: GGMLType, to path: String) throws {
        guard types.contains(type) else {
            throw GGUFExportError.notExportable("weights can be written as f32, f16 or q8_0, not \(type)")
        }
        let c = model.config
        if c.moe != nil || c.mla != nil {
            throw GGUFExportError.notExportable(
                "a GPT with mixture of experts or latent attention has no llama layout; export dense MHA models")
        }
        if type == .q8_0 {
            for (what, n) in [("width", c.width), ("MLP width", c.mlpHidden)] where n % 32 != 0 {
                throw GGUFExportError.notExportable("q8_0 needs rows a multiple of 32; the \(what) is \(n)")
            }
        }
        var w = GGUFWriter()
        w.set("general.architecture", string: "llama")
        w.set("general.name", string: name)
        w.set("general.file_type", uint32: type == .f32 ? 0 : type == .f16 ? 1 : 7)
        w.set("llama.block_count", uint32: c.layers)
        w.set("llama.context_length", uint32: c.contextLength)
        w.set("llama.embedding_length", uint32: c.width)
        w.set("llama.feed_forward_length", uint32: c.mlpHidden)
        w.set("llama.attention.head_count", uint32: c.heads)
        w.set("llama.attention.head_count_kv", uint32: c.kvHeads)
        w.set("llama.rope.dimension_count", uint32: c.headDim)
        w.set("llama.rope.freq_base", float32: c.ropeBase)
        w.set("llama.attention.layer_norm_rms_epsilon", float32: model.finalNorm.eps)
        w.set("llama.vocab_size", uint32: c.vocabSize)
        try writeTokenizer(tokenizer, vocab: c.vocabSize, into: &w)

        func matrix(_ n: String, _ t: Tensor) {
            let rows = t.shape[0]
            let cols = t.shape[1]
            w.add(n, dimensions: [cols, rows], type: type, bytes: GGUFWriter.encode(t.contiguous().toArray(), type))
        }
        func vector(_ n: String, _ t: Tensor) { w.add(n, t.contiguous()) }
        matrix("token_embd.weight", model.embed.weight)
        let (H, KV, D) = (c.heads, c.kvHeads, c.headDim)
        for (i, b) in model.blocks.enumerated() {
            let p = "blk.\(i)."
            let parts = b.qkv!.weight.split([H * D, KV * D, KV * D], dim: 0)
            vector(p + "attn_norm.weight", b.attnNorm.weight)
            matrix(p + "attn_q.weight", interleaveRotaryRows(parts[0], heads: H, headDim: D))
            matrix(p + "attn_k.weight", interleaveRotaryRows(parts[1], heads: KV, headDim: D))
            matrix(p + "attn_v.weight", parts[2])
            matrix(p + "attn_output.weight", b.proj!.weight)
            vector(p + "ffn_norm.weight", b.mlpNorm.weight)
            matrix(p + "ffn_gate.weight", b.gate!.weight)
            matrix(p + "ffn_up.weight", b.up!.weight)
            matrix(p + "ffn_down.weight", b.down!.weight)
        }
        vector("output_norm.weight", model.finalNorm.weight)
        try w.write(to: path)
    }

    /// Rows of a projection [heads·d, width] reordered per head from the rotate-half layout (row i and
    /// i + d/2 rotate together) to adjacent pairs (rows 2i, 2i + 1).
    public static func interleaveRotaryRows(_ w: Tensor, heads: Int, headDim d: Int) -> Tensor {
        let cols = w.shape[1]
        let src = w.contiguous().toArray()
        var out = [Float](repeating: 0, count: src.count)
        for h in 0..<heads {
            for i in 0..<(d / 2) {
                for (to, from) in [(2 * i, i), (2 * i + 1, d / 2 + i)] {
                    let a = (h * d + to) * cols
                    let b = (h * d + from) * cols
                    out[a..<(a + cols)] = src[b..<(b + cols)]
                }
            }
        }
        return Tensor(shape: w.shape, data: out)
    }

    static func writeTokenizer(_ tokenizer: Tokenizer, vocab: Int, into w: inout GGUFWriter) throws {
        switch tokenizer {
        case let t as CharTokenizer:
            var pieces = (0..<256).map { String(format: "<0x%02X>", $0) }
            pieces += t.chars.map { $0 == " " ? "\u{2581}" : String($0) }
            guard pieces.count == vocab else {
                throw GGUFExportError.notExportable("the tokenizer has \(pieces.count) tokens, the model \(vocab)")
            }
            if let dup = Dictionary(grouping: pieces, by: { $0 }).first(where: { $0.value.count > 1 }) {
                throw GGUFExportError.notExportable("the character vocabulary holds \(dup.key.debugDescription) twice")
            }
            w.set("tokenizer.ggml.model", string: "llama")
            w.set("tokenizer.ggml.tokens", strings: pieces)
            w.set("tokenizer.ggml.scores", float32s: [Float](repeating: 0, count: pieces.count))
            w.set(
                "tokenizer.ggml.token_type",
                int32s: [Int](repeating: 6, count: 256) + [Int](repeating: 1, count: t.chars.count))
            w.set("tokenizer.ggml.add_space_prefix", bool: false)
            w.set("tokenizer.ggml.add_bos_token", bool: false)
            w.set("tokenizer.ggml.add_eos_token", bool: false)
        case let t as ByteBPE:
            let table = PretrainedTokenizer.byteToUnicode
            let text = (0..<t.vocabSize).map { id in String(t.decode([id]).map { table[Int($0)] }) }
            guard text.count == vocab else {
                throw GGUFExportError.notExportable("the tokenizer has \(text.count) tokens, the model \(vocab)")
            }
            w.set("tokenizer.ggml.model", string: "gpt2")
            w.set("tokenizer.ggml.pre", string: "default")
            w.set("tokenizer.ggml.tokens", strings: text)
            w.set("tokenizer.ggml.token_type", int32s: [Int](repeating: 1, count: text.count))
            w.set("tokenizer.ggml.merges", strings: t.merges.map { text[$0.0] + " " + text[$0.1] })
            w.set("tokenizer.ggml.add_bos_token", bool: false)
        default:
            throw GGUFExportError.notExportable("only character and byte-level BPE tokenizers can be exported")
        }
    }
}

/// The same model for PyTorch users: a Hugging Face `LlamaForCausalLM` directory (config.json and
/// model.safetensors, tied embedding). Hugging Face's Llama rotates (xᵢ, xᵢ₊d/2) pairs as Orrery
/// does, so the weights go out unpermuted.
public enum HuggingFaceExport {
    public static func write(model: GPT, to dir: String) throws {
        let c = model.config
        if c.moe != nil || c.mla != nil {
            throw GGUFExportError.notExportable("a GPT with mixture of experts or latent attention has no Llama layout")
        }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var items: [SafetensorsWriter.Item] = [.init("model.embed_tokens.weight", model.embed.weight.contiguous())]
        let (H, KV, D) = (c.heads, c.kvHeads, c.headDim)
        for (i, b) in model.blocks.enumerated() {
            let p = "model.layers.\(i)."
            let parts = b.qkv!.weight.split([H * D, KV * D, KV * D], dim: 0)
            items += [
                .init(p + "input_layernorm.weight", b.attnNorm.weight.contiguous()),
                .init(p + "self_attn.q_proj.weight", parts[0].contiguous()),
                .init(p + "self_attn.k_proj.weight", parts[1].contiguous()),
                .init(p + "self_attn.v_proj.weight", parts[2].contiguous()),
                .init(p + "self_attn.o_proj.weight", b.proj!.weight.contiguous()),
                .init(p + "post_attention_layernorm.weight", b.mlpNorm.weight.contiguous()),
                .init(p + "mlp.gate_proj.weight", b.gate!.weight.contiguous()),
                .init(p + "mlp.up_proj.weight", b.up!.weight.contiguous()),
                .init(p + "mlp.down_proj.weight", b.down!.weight.contiguous()),
            ]
        }
        items.append(.init("model.norm.weight", model.finalNorm.weight.contiguous()))
        try SafetensorsWriter.write(items, metadata: ["format": "pt"], to: dir + "/model.safetensors")
        let config: [String: Any] = [
            "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": c.width,
            "intermediate_size": c.mlpHidden, "num_hidden_layers": c.layers, "num_attention_heads": c.heads,
            "num_key_value_heads": c.kvHeads, "head_dim": c.headDim, "rms_norm_eps": Double(model.finalNorm.eps),
            "rope_theta": Double(c.ropeBase), "vocab_size": c.vocabSize, "max_position_embeddings": c.contextLength,
            "tie_word_embeddings": true, "hidden_act": "silu", "attention_bias": false, "mlp_bias": false,
            "torch_dtype": "float32",
        ]
        let data = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(Array(data), to: dir + "/config.json")
    }
}
