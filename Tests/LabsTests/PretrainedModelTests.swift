import Compute
import Formats
import Foundation
import Labs
import Models
import TestSupport
import XCTest

/// Tiny `llama` and `qwen2` GGUF files written by the tests themselves, with known weights.
enum TinyGGUF {
    struct Shape {
        var vocab = 64
        var width = 256
        var heads = 4
        var kvHeads = 2
        var ffn = 512
        var layers = 2
    }

    /// Random weights of `type` for a [rows, cols] matrix; returns the bytes.
    static func weights(_ type: GGMLType, rows: Int, cols: Int, rng: inout SeededGenerator) -> [UInt8] {
        let std = Float(1) / Float(cols).squareRoot()
        switch type {
        case .f32, .f16, .bf16:
            let v = (0..<(rows * cols)).map { _ in Float.random(in: -1.7...1.7, using: &rng) * std }
            return GGUFWriter.encode(v, type)
        case .q8_0:
            let v = (0..<(rows * cols)).map { _ in Float.random(in: -1.7...1.7, using: &rng) * std }
            return GGUFWriter.encode(v, .q8_0)
        default:
            return QuantFixturesLabs.randomBlocks(type, count: rows * cols, scale: std / 6, rng: &rng)
        }
    }

    /// A GPT-2-style byte-level vocabulary: the 256 byte symbols, a few merges, ChatML tokens.
    static func gpt2Vocab(_ vocab: Int) -> (tokens: [String], types: [Int], merges: [String]) {
        var tokens = PretrainedTokenizerFixtures.byteSymbols
        var merges: [String] = []
        for (a, b) in [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("Ġ", "c"), ("a", "t"), ("Ġc", "at")] {
            merges.append(a + " " + b)
            tokens.append(a + b)
        }
        var types = [Int](repeating: 1, count: tokens.count)
        for s in ["<|im_start|>", "<|im_end|>"] {
            tokens.append(s)
            types.append(3)
        }
        precondition(tokens.count <= vocab || vocab == 0)
        return (tokens, types, merges)
    }

    static func file(
        arch: String, type: GGMLType, shape s: Shape = Shape(), tokenizerModel: String = "gpt2",
        tokens: [String]? = nil, extra: (inout GGUFWriter) -> Void = { _ in }
    ) -> GGUFWriter {
        var rng = SeededGenerator(seed: 101)
        var w = GGUFWriter()
        let hd = s.width / s.heads
        w.set("general.architecture", string: arch)
        w.set("general.name", string: "tiny-\(arch)-\(type)")
        w.set("\(arch).block_count", uint32: s.layers)
        w.set("\(arch).context_length", uint32: 64)
        w.set("\(arch).embedding_length", uint32: s.width)
        w.set("\(arch).feed_forward_length", uint32: s.ffn)
        w.set("\(arch).attention.head_count", uint32: s.heads)
        w.set("\(arch).attention.head_count_kv", uint32: s.kvHeads)
        w.set("\(arch).rope.freq_base", float32: 10000)
        w.set("\(arch).attention.layer_norm_rms_epsilon", float32: 1e-5)
        let vocab: [String]
        if let t = tokens {
            vocab = t
        } else {
            var v = gpt2Vocab(0).tokens
            while v.count < s.vocab { v.append("<extra\(v.count)>") }
            vocab = Array(v.prefix(max(s.vocab, v.count)))
        }
        w.set("tokenizer.ggml.model", string: tokenizerModel)
        w.set("tokenizer.ggml.tokens", strings: vocab)
        if tokenizerModel == "gpt2" {
            let g = gpt2Vocab(0)
            w.set("tokenizer.ggml.merges", strings: g.merges)
            var types = g.types
            while types.count < vocab.count { types.append(1) }
            w.set("tokenizer.ggml.token_type", int32s: types)
        }
        w.set("tokenizer.ggml.eos_token_id", uint32: 0)
        extra(&w)
        let V = vocab.count
        func mat(_ n: String, _ rows: Int, _ cols: Int, _ t: GGMLType = type) {
            w.add(n, dimensions: [cols, rows], type: t, bytes: weights(t, rows: rows, cols: cols, rng: &rng))
        }
        func vec(_ n: String, _ count: Int, around: Float) {
            let v = (0..<count).map { _ in around + Float.random(in: -0.2...0.2, using: &rng) }
            w.add(n, Tensor(shape: [count], data: v))
        }
        mat("token_embd.weight", V, s.width)
        for i in 0..<s.layers {
            let p = "blk.\(i)."
            vec(p + "attn_norm.weight", s.width, around: 1)
            mat(p + "attn_q.weight", s.heads * hd, s.width)
            mat(p + "attn_k.weight", s.kvHeads * hd, s.width)
            mat(p + "attn_v.weight", s.kvHeads * hd, s.width)
            if arch == "qwen2" {
                vec(p + "attn_q.bias", s.heads * hd, around: 0)
                vec(p + "attn_k.bias", s.kvHeads * hd, around: 0)
                vec(p + "attn_v.bias", s.kvHeads * hd, around: 0)
            }
            mat(p + "attn_output.weight", s.width, s.heads * hd)
            vec(p + "ffn_norm.weight", s.width, around: 1)
            mat(p + "ffn_gate.weight", s.ffn, s.width)
            mat(p + "ffn_up.weight", s.ffn, s.width)
            // ffn_down's rows are ffn long: K-quants need 256-multiples, which 512 is.
            mat(p + "ffn_down.weight", s.width, s.ffn)
        }
        vec("output_norm.weight", s.width, around: 1)
        if arch == "qwen2" { mat("output.weight", V, s.width) }
        return w
    }
}

enum QuantFixturesLabs {
    static func half(_ f: Float) -> [UInt8] {
        let b = HalfConversion.toFloat16Bits(Tensor(shape: [1], data: [f]))[0]
        return [UInt8(b & 0xFF), UInt8(b >> 8)]
    }

    /// Random blocks whose values are about ±`scale`·(range of the quants).
    static func randomBlocks(_ type: GGMLType, count: Int, scale: Float, rng: inout SeededGenerator)
        -> [UInt8]
    {
        var out: [UInt8] = []
        func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) } }
        for _ in 0..<(count / type.blockSize) {
            switch type {
            case .q4_0: out += half(scale) + bytes(16)
            case .q4_1: out += half(scale) + half(-7.5 * scale) + bytes(16)
            // Scale bytes 0x88 give every sub-block equal 6-bit scale and min (8 for the first four, 40
            // for the rest), so d·sc·q − dmin·m is centred when dmin = 7.5·d (15.5·d for 5 bits).
            case .q4_K:
                out += half(scale / 16) + half(scale / 16 * 7.5) + [UInt8](repeating: 0x88, count: 12) + bytes(128)
            case .q5_K:
                out += half(scale / 32) + half(scale / 32 * 15.5) + [UInt8](repeating: 0x88, count: 12) + bytes(160)
            case .q6_K: out += bytes(192) + [UInt8](repeating: 8, count: 16) + half(scale / 8 / 4)
            default: preconditionFailure("\(type)")
            }
        }
        return out
    }
}

enum PretrainedTokenizerFixtures {
    /// GPT-2's 256 byte symbols in byte order.
    static let byteSymbols: [String] = {
        var out: [String] = []
        var n = 0
        for b in 0..<256 {
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            if printable {
                out.append(String(Character(Unicode.Scalar(UInt8(b)))))
            } else {
                out.append(String(Character(Unicode.Scalar(UInt32(256 + n))!)))
                n += 1
            }
        }
        return out
    }()
}

/// A plain float64 forward pass over the dequantised weights (no activation quantisation, no
/// float16 rounding): the reference the decoder is held to.
struct ReferenceLlama {
    let m: LlamaModel
    /// GGUF's llama keeps (x₂ᵢ, x₂ᵢ₊₁) pairs; qwen2 keeps NeoX's (xᵢ, xᵢ₊d/2).
    var interleaved: Bool { m.config.architecture == "llama" }
    func dense(_ q: QuantizedMatrix) -> [[Double]] {
        let t = q.dequantized().toArray()
        return (0..<q.rows).map { r in (0..<q.cols).map { Double(t[r * q.cols + $0]) } }
    }

    func logits(_ tokens: [Int]) -> [Double] {
        let c = m.config
        let (H, KV, hd, D) = (c.heads, c.kvHeads, c.headDim, c.width)
        let emb = dense(m.embedding)
        var x = tokens.map { emb[$0] }
        func rms(_ v: [Double], _ w: [Float]) -> [Double] {
            let ms = v.reduce(0) { $0 + $1 * $1 } / Double(v.count)
            let s = 1 / (ms + Double(c.normEps)).squareRoot()
            return zip(v, w).map { $0 * s * Double($1) }
        }
        func mv(_ w: [[Double]], _ v: [Double]) -> [Double] {
            w.map { row in zip(row, v).reduce(0) { $0 + $1.0 * $1.1 } }
        }
        func rope(_ v: inout [Double], heads: Int, pos: Int) {
            for h in 0..<heads {
                for i in 0..<(c.ropeDims / 2) {
                    let f = pow(Double(c.ropeBase), -Double(2 * i) / Double(c.ropeDims))
                    let a = Double(pos) * f
                    let (i0, i1) = interleaved ? (2 * i, 2 * i + 1) : (i, i + c.ropeDims / 2)
                    let (x0, x1) = (v[h * hd + i0], v[h * hd + i1])
                    v[h * hd + i0] = x0 * cos(a) - x1 * sin(a)
                    v[h * hd + i1] = x0 * sin(a) + x1 * cos(a)
                }
            }
        }
        for layer in m.layers {
            let (wq, wk, wv, wo) = (dense(layer.wq), dense(layer.wk), dense(layer.wv), dense(layer.wo))
            let (wg, wu, wd) = (dense(layer.gate), dense(layer.up), dense(layer.down))
            var qs: [[Double]] = []
            var ks: [[Double]] = []
            var vs: [[Double]] = []
            for (t, row) in x.enumerated() {
                let h = rms(row, layer.attnNorm)
                var q = mv(wq, h)
                var k = mv(wk, h)
                var v = mv(wv, h)
                if let b = layer.bq { q = zip(q, b).map { $0 + Double($1) } }
                if let b = layer.bk { k = zip(k, b).map { $0 + Double($1) } }
                if let b = layer.bv { v = zip(v, b).map { $0 + Double($1) } }
                rope(&q, heads: H, pos: t)
                rope(&k, heads: KV, pos: t)
                qs.append(q)
                ks.append(k)
                vs.append(v)
            }
            var next = x
            for t in 0..<x.count {
                var att = [Double](repeating: 0, count: H * hd)
                for h in 0..<H {
                    let g = h / (H / KV)
                    var s = (0...t).map { j in
                        (0..<hd).reduce(0.0) { $0 + qs[t][h * hd + $1] * ks[j][g * hd + $1] } / Double(hd).squareRoot()
                    }
                    let mx = s.max()!
                    s = s.map { exp($0 - mx) }
                    let z = s.reduce(0, +)
                    for j in 0...t { for i in 0..<hd { att[h * hd + i] += s[j] / z * vs[j][g * hd + i] } }
                }
                let o = mv(wo, att)
                var r = zip(x[t], o).map { $0 + $1 }
                let h2 = rms(r, layer.ffnNorm)
                let gate = mv(wg, h2)
                let up = mv(wu, h2)
                let a = zip(gate, up).map { $0 / (1 + exp(-$0)) * $1 }
                r = zip(r, mv(wd, a)).map { $0 + $1 }
                next[t] = r
            }
            x = next
        }
        _ = D
        return mv(dense(m.output), rms(x.last!, m.outputNorm))
    }
}

final class PretrainedModelTests: XCTestCase {
    func load(_ w: GGUFWriter, template: String? = nil) throws -> PretrainedModel {
        let path = try temporaryDirectory("tiny-gguf") + "/m.gguf"
        try w.write(to: path)
        return try PretrainedModel(path: path, template: template)
    }

    /// End-to-end logits of tiny llama and qwen2 models in every weight type against the plain
    /// reference: 1e-4 relative for float types (plain float32 attention), within the activation
    /// quantisation's error for block types.
    func testLogitsMatchTheReferenceInEveryType() throws {
        let tokens = [3, 17, 40, 8, 25]
        for arch in ["llama", "qwen2"] {
            for type: GGMLType in [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q4_K, .q5_K, .q6_K] {
                let m = try load(TinyGGUF.file(arch: arch, type: type))
                XCTAssertEqual(m.model.config.ropeOrdering, arch == "qwen2" ? .halves : .interleaved)
                let ref = ReferenceLlama(m: m.model).logits(tokens)
                // Prompt in one chunk, then the last token alone (the cache path).
                for split in [tokens.count, 2] {
                    let dec = try XCTUnwrap(m.model.makeDecoder() as? LlamaDecoder)
                    dec.llamaCppRounding = false
                    var got = dec.feed(Array(tokens.prefix(split)))
                    if split < tokens.count { got = dec.feed(Array(tokens.suffix(from: split))) }
                    let g = got.toArray().map(Double.init)
                    let scale = ref.map(abs).max()!
                    let err = zip(g, ref).map { abs($0 - $1) }.max()!
                    let float = type == .f32 || type == .f16 || type == .bf16
                    let limit = float ? 1e-4 * scale + 1e-5 : 0.06 * scale
                    XCTAssertLessThanOrEqual(
                        err, limit, "\(arch) \(type) split \(split): max error \(err), scale \(scale)")
                }
            }
        }
    }

    /// The logit lens's last layer is the model's own next-token prediction.
    func testLogitLensEndsAtTheModelsPrediction() throws {
        let m = try load(TinyGGUF.file(arch: "llama", type: .f32))
        let dec = try XCTUnwrap(m.model.makeDecoder() as? LlamaDecoder)
        XCTAssertTrue(dec.logitLens(stride: 1).isEmpty, "nothing recorded yet")
        dec.recordLayerStates = true
        let logits = dec.feed([5, 6, 7]).toArray()
        let lens = dec.logitLens(stride: 1)
        XCTAssertEqual(lens.map(\.layer), [0, 1])
        XCTAssertEqual(lens.last?.token, logits.indices.max { logits[$0] < logits[$1] })
        XCTAssertTrue(lens.allSatisfy { $0.probability > 0 && $0.probability <= 1 })
    }

    /// llama.cpp's float16 rounding of Q, K, V and the probabilities moves logits only slightly.
    func testFloat16AttentionRoundingIsSmall() throws {
        let m = try load(TinyGGUF.file(arch: "llama", type: .f32))
        let ref = ReferenceLlama(m: m.model).logits([1, 2, 3])
        let g = m.model.makeDecoder().feed([1, 2, 3]).toArray().map(Double.init)
        let scale = ref.map(abs).max()!
        XCTAssertLessThanOrEqual(zip(g, ref).map { abs($0 - $1) }.max()!, 5e-3 * scale)
    }

    func testMissingAndMisshapenTensorsAndKeysAreNamed() throws {
        var w = TinyGGUF.file(arch: "llama", type: .f32)
        w.tensors.removeAll { $0.name == "blk.1.ffn_up.weight" }
        XCTAssertThrowsError(try load(w)) { XCTAssertEqual($0 as? GGUFError, .missingTensor("blk.1.ffn_up.weight")) }
        w = TinyGGUF.file(arch: "llama", type: .f32)
        let i = w.tensors.firstIndex { $0.name == "blk.0.attn_k.weight" }!
        let t = w.tensors[i]
        w.tensors[i] = GGUFWriter.Entry(
            name: t.name, dimensions: [256, 64], type: .f32, bytes: Array(t.bytes.prefix(256 * 64 * 4)))
        XCTAssertThrowsError(try load(w)) {
            XCTAssertEqual(
                $0 as? GGUFError,
                .shapeMismatch(tensor: "blk.0.attn_k.weight", expected: [128, 256], found: [64, 256]))
        }
        w = TinyGGUF.file(arch: "llama", type: .f32)
        w.metadata.removeAll { $0.0 == "llama.attention.layer_norm_rms_epsilon" }
        XCTAssertThrowsError(try load(w)) {
            XCTAssertEqual($0 as? GGUFError, .missingKey("llama.attention.layer_norm_rms_epsilon"))
        }
        w = TinyGGUF.file(arch: "llama", type: .f32)
        w.set("llama.rope.scaling.type", string: "yarn")
        XCTAssertThrowsError(try load(w)) {
            XCTAssertEqual($0 as? GGUFError, .unsupported("RoPE scaling \"yarn\" is not supported (none, linear)"))
        }
        w.set("llama.rope.scaling.type", string: "linear")
        w.set("llama.rope.scaling.factor", float32: 2)
        XCTAssertEqual(try load(w).model.config.ropePositionScale, 0.5)
        w = TinyGGUF.file(arch: "gptj", type: .f32)
        XCTAssertThrowsError(try load(w)) {
            guard case .unsupported = $0 as? GGUFError else { return XCTFail("\($0)") }
        }
        w = TinyGGUF.file(arch: "llama", type: .f32)
        w.set("tokenizer.ggml.token_type", strings: [String](repeating: "x", count: 264))
        XCTAssertThrowsError(try load(w)) {
            XCTAssertEqual(
                $0 as? GGUFError,
                .wrongValueType(
                    key: "tokenizer.ggml.token_type", expected: "array of integers", found: "array of string"))
        }
    }

    // MARK: tokenizers

    func testGPT2PreTokenizerSplits() {
        XCTAssertEqual(
            PretrainedTokenizer.preTokenize("Hello world's  big\n cat 2024!", .gpt2),
            ["Hello", " world", "'s", " ", " big", "\n", " cat", " 2024", "!"])
        XCTAssertEqual(
            PretrainedTokenizer.preTokenize("Year 2024, ok", .digitsThenGPT2),
            ["Year", " ", "2", "0", "2", "4", ",", " ok"])
        XCTAssertEqual(
            PretrainedTokenizer.preTokenize("I'LL see 12345", .qwen2), ["I", "'LL", " see", " ", "123", "45"])
        XCTAssertEqual(PretrainedTokenizer.preTokenize("a  \n\nb", .qwen2), ["a", "  \n\n", "b"])
    }

    func testByteLevelBPEEncodesMergesAndRoundTrips() throws {
        let g = TinyGGUF.gpt2Vocab(0)
        let tok = try PretrainedTokenizer(
            kind: .gpt2, pre: .gpt2, pieces: g.tokens, types: g.types, scores: nil, merges: g.merges, bos: nil,
            eos: nil,
            addBOS: false)
        let the = try XCTUnwrap(tok.id(of: "Ġthe"))
        let cat = try XCTUnwrap(tok.id(of: "Ġcat"))
        XCTAssertEqual(tok.encode(Array(" the cat".utf8)), [the, cat])
        // Merges apply by rank: "t he" is no merge, so "the" without a space stays two tokens.
        XCTAssertEqual(tok.encode(Array("the".utf8)), [tok.id(of: "t")!, tok.id(of: "he")!])
        let start = tok.id(of: "<|im_start|>")!
        XCTAssertEqual(tok.encode(Array("<|im_start|> the".utf8), special: true), [start, the])
        XCTAssertNotEqual(tok.encode(Array("<|im_start|>".utf8), special: false), [start], "specials only when asked")
        for text in ["héllo wörld ✓", "日本語のテキスト", "e\u{301} \t\n  x", "emoji 👩‍👩‍👧 ok", ""] {
            XCTAssertEqual(tok.decode(tok.encode(Array(text.utf8))), Array(text.utf8), text)
        }
        XCTAssertEqual(tok.decode([start], special: false), [])
        XCTAssertEqual(tok.decode([start], special: true), Array("<|im_start|>".utf8))
    }

    func testSentencePieceMergesByScoreWithByteFallback() throws {
        var pieces = ["<unk>", "<s>", "</s>"] + (0..<256).map { String(format: "<0x%02X>", $0) }
        var types = [2, 3, 3] + [Int](repeating: 6, count: 256)
        var scores = [Float](repeating: 0, count: pieces.count)
        for (p, s) in [
            ("▁", -1), ("h", -2), ("e", -3), ("l", -4), ("o", -5), ("▁h", -6), ("ll", -7), ("▁he", -8), ("llo", -9),
            ("▁hello", -10),
        ] {
            pieces.append(p)
            types.append(1)
            scores.append(Float(s))
        }
        let tok = try PretrainedTokenizer(
            kind: .llama, pre: .gpt2, pieces: pieces, types: types, scores: scores, merges: nil, bos: 1, eos: 2,
            addBOS: true)
        XCTAssertEqual(tok.encode(Array("hello".utf8)), [tok.id(of: "▁hello")!])
        let e = Array("é".utf8)
        XCTAssertEqual(
            tok.encode(Array("hé".utf8)), [tok.id(of: "▁h")!, 3 + Int(e[0]), 3 + Int(e[1])], "é falls back to its bytes"
        )
        XCTAssertEqual(tok.decode(tok.encode(Array("hello héllo".utf8))), Array(" hello héllo".utf8))
        var bad = pieces
        bad[3 + 7] = "<0x-1>"
        XCTAssertThrowsError(
            try PretrainedTokenizer(
                kind: .llama, pre: .gpt2, pieces: bad, types: types, scores: scores, merges: nil, bos: 1, eos: 2,
                addBOS: true)
        ) { XCTAssertEqual($0 as? PretrainedTokenizerError, .malformedToken(index: 10, text: "<0x-1>")) }
    }

    func testMalformedByteTokenInAFileIsAGGUFError() throws {
        var pieces = ["<unk>", "<s>", "</s>"] + (0..<256).map { String(format: "<0x%02X>", $0) }
        pieces[3 + 200] = "<0xZZ>"
        while pieces.count < 300 { pieces.append("▁p\(pieces.count)") }
        var w = TinyGGUF.file(
            arch: "llama", type: .f32, shape: .init(vocab: 300), tokenizerModel: "llama", tokens: pieces)
        w.set(
            "tokenizer.ggml.token_type",
            int32s: [2, 3, 3] + [Int](repeating: 6, count: 256) + [Int](repeating: 1, count: 41))
        w.set("tokenizer.ggml.scores", float32s: (0..<300).map { -Float($0) })
        XCTAssertThrowsError(try load(w)) {
            XCTAssertEqual($0 as? GGUFError, .malformedToken(index: 203, text: "<0xZZ>"))
        }
    }

    // MARK: chat templates

    static let smolTemplate = """
        {% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system
        You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
        ' }}{% endif %}{{'<|im_start|>' + message['role'] + '
        ' + message['content'] + '<|im_end|>' + '
        '}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant
        ' }}{% endif %}
        """

    /// The expected strings are the Jinja template's own output (rendered with jinja2).
    func testChatMLRendersAsTheJinjaTemplate() throws {
        let t = try ChatTemplate.recognise(Self.smolTemplate)
        XCTAssertEqual(t.family, .chatml)
        let turns = [
            ChatMessage(.user, "Hi"), ChatMessage(.assistant, "Hello! How can I help?"),
            ChatMessage(.user, "Which planet is red?"),
        ]
        XCTAssertEqual(
            t.render(turns),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello! How can I help?<|im_end|>\n<|im_start|>user\nWhich planet is red?<|im_end|>\n<|im_start|>assistant\n"
        )
        XCTAssertEqual(
            t.render([ChatMessage(.system, "Be brief.")] + turns),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello! How can I help?<|im_end|>\n<|im_start|>user\nWhich planet is red?<|im_end|>\n<|im_start|>assistant\n"
        )
        XCTAssertThrowsError(try ChatTemplate.recognise("{{ weird }}"))
        XCTAssertEqual(
            try ChatTemplate.named("llama2").render([ChatMessage(.system, "S"), ChatMessage(.user, "U")]),
            "<s>[INST] <<SYS>>\nS\n<</SYS>>\n\nU [/INST]")
        XCTAssertEqual(
            try ChatTemplate.named("zephyr").render([ChatMessage(.user, "U")]), "<|user|>\nU</s>\n<|assistant|>\n")
    }

    func testChatPromptTokenisesSpecialTokens() throws {
        let m = try load(
            TinyGGUF.file(arch: "llama", type: .f32) { $0.set("tokenizer.chat_template", string: Self.smolTemplate) })
        let ids = m.chatPrompt([ChatMessage(.user, "the cat")])
        let start = m.tokenizer.id(of: "<|im_start|>")!
        XCTAssertEqual(ids.first, start)
        XCTAssertEqual(ids.filter { $0 == start }.count, 3)
        XCTAssertTrue(m.tokenizer.endTokens.contains(m.tokenizer.id(of: "<|im_end|>")!))
    }

    // MARK: the real model (opt-in)

    static var smolPath: String {
        let cache = ProcessInfo.processInfo.environment["XDG_CACHE_HOME"] ?? (NSHomeDirectory() + "/.cache")
        return cache + "/orrery/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    }

    /// Runs only where SmolLM2-135M-Instruct is in the model cache (`orrery models pull smollm2`).
    func testSmolLM2AnswersTheRedPlanetQuestion() throws {
        guard FileManager.default.fileExists(atPath: Self.smolPath) else {
            throw XCTSkip("SmolLM2-135M-Instruct.Q4_1.gguf is not in the model cache (orrery models pull smollm2)")
        }
        let m = try PretrainedModel(path: Self.smolPath)
        XCTAssertEqual(m.template.family, .chatml)
        XCTAssertEqual(
            m.template.render([
                ChatMessage(.user, "Hi"), ChatMessage(.assistant, "Hello! How can I help?"),
                ChatMessage(.user, "Which planet is red?"),
            ]),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello! How can I help?<|im_end|>\n<|im_start|>user\nWhich planet is red?<|im_end|>\n<|im_start|>assistant\n"
        )
        var o = SamplingOptions()
        o.temperature = 0
        o.maxTokens = 40
        let gen = TextGenerator(
            model: m.model, tokenizer: m.tokenizer,
            prompt: m.chatPrompt([ChatMessage(.user, "Which planet is known as the red planet?")]), options: o,
            stopTokens: m.tokenizer.endTokens)
        let answer = gen.run()
        XCTAssertTrue(answer.contains("Mars"), answer)
        XCTAssertEqual(answer, "The planet designated as the red planet is Mars.", "llama.cpp's greedy answer")
    }
}

final class GGUFExportTests: XCTestCase {
    /// The shipped chat model exported as a llama GGUF reads back as the same model: the same token
    /// ids, logits within float32 rounding, the same greedy answer; q8_0 answers the same question.
    func testShippedModelRoundTripsThroughGGUF() throws {
        let (_, tok, lm) = try ModelSource.shipped.load()
        let gpt = try XCTUnwrap(lm as? GPT)
        let dir = try temporaryDirectory("export")
        try GGUFExport.write(model: gpt, tokenizer: tok, name: "chat", type: .f32, to: dir + "/chat.gguf")
        let m = try PretrainedModel(path: dir + "/chat.gguf")
        XCTAssertEqual(m.model.config.ropeOrdering, .interleaved)
        let text = "User: what is 3 plus 4? ünseen ✓\nBot: "
        let ids = tok.encode(text)
        XCTAssertEqual(m.tokenizer.encode(Array(text.utf8)), ids, "the same ids, byte fallback included")
        XCTAssertEqual(m.tokenizer.decode(ids), Array(text.utf8))
        let prompt = tok.encode("User: what is 3 plus 4?\nBot: ")
        let ref = lm.logits(prompt, batch: 1).toArray().suffix(gpt.config.vocabSize)
        let dec = try XCTUnwrap(m.model.makeDecoder() as? LlamaDecoder)
        dec.llamaCppRounding = false
        let got = dec.feed(prompt).toArray()
        assertClose(got, Array(ref), atol: 1e-3, rtol: 1e-4, "logits of the export")
        var o = SamplingOptions()
        o.temperature = 0
        o.maxTokens = 16
        o.stop = ["\n"]
        let a = TextGenerator(model: lm, tokenizer: tok, prompt: prompt, options: o).run()
        let b = TextGenerator(model: m.model, tokenizer: m.tokenizer, prompt: prompt, options: o).run()
        XCTAssertEqual(a, "3 plus 4 is 7.")
        XCTAssertEqual(b, a)
        try GGUFExport.write(model: gpt, tokenizer: tok, name: "chat", type: .q8_0, to: dir + "/q8.gguf")
        let q = try PretrainedModel(path: dir + "/q8.gguf")
        XCTAssertEqual(TextGenerator(model: q.model, tokenizer: q.tokenizer, prompt: prompt, options: o).run(), a)
        XCTAssertThrowsError(try GGUFExport.write(model: gpt, tokenizer: tok, name: "x", type: .q4_K, to: dir + "/k"))
    }

    func testRotaryRowsInterleavePerHead() {
        let w = Tensor(shape: [8, 1], data: [0, 1, 2, 3, 10, 11, 12, 13])
        XCTAssertEqual(
            GGUFExport.interleaveRotaryRows(w, heads: 2, headDim: 4).toArray(), [0, 2, 1, 3, 10, 12, 11, 13])
    }
}

final class MinPSamplingTests: XCTestCase {
    /// Min-p keeps only tokens at least minP × as likely as the most likely one.
    func testMinPDropsUnlikelyTokens() {
        let logits = Tensor(shape: [4], data: [0, -0.2, -3, -0.1])
        var seen = Set<Int>()
        for seed in 0..<200 {
            var o = SamplingOptions()
            o.temperature = 1
            o.minP = 0.5
            o.seed = UInt64(seed)
            var s = Sampler(o)
            seen.insert(s.pick(logits, history: []))
        }
        XCTAssertEqual(seen, [0, 1, 3], "exp(−3) < 0.5: token 2 never drawn; the others are")
    }
}
