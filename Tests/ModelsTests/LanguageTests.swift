import Compute
import Foundation
import Models
import NN
import XCTest

final class TokenizerTests: XCTestCase {
    func randomBytes(_ r: inout RNG, _ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(r.int(below: 256)) } }

    func testRoundTripsOverRandomBytesIncludingInvalidUTF8() throws {
        let text = StoryCorpus.corpus(stories: 200, seed: 1)
        let char = CharTokenizer(training: text)
        let bpe = try ByteBPE.train(Array(text.utf8), vocabSize: 400)
        XCTAssertEqual(bpe.vocabSize, 400)
        var r = RNG(seed: 2)
        var samples: [[UInt8]] = [
            [], [0], [0xFF], [0xC3], [0xE2, 0x82], Array("héllo wörld ✓ 😀".utf8), Array(text.prefix(500).utf8),
        ]
        for _ in 0..<200 { samples.append(randomBytes(&r, r.int(below: 64))) }
        // Text with random corruptions.
        for _ in 0..<50 {
            var b = Array(text.prefix(200).utf8)
            for _ in 0..<5 { b[r.int(below: b.count)] = UInt8(r.int(below: 256)) }
            samples.append(b)
        }
        for tok in [char, bpe] as [Tokenizer] {
            for s in samples {
                XCTAssertEqual(tok.decode(tok.encode(s)), s, "\(type(of: tok)) round trip of \(s.prefix(16))")
            }
            let back = try TokenizerFile.load(
                JSONSerialization.jsonObject(with: JSONSerialization.data(withJSONObject: tok.json())) as! [String: Any]
            )
            XCTAssertEqual(
                back.encode(Array(text.prefix(300).utf8)), tok.encode(Array(text.prefix(300).utf8)), "save/load")
        }
        XCTAssertLessThan(bpe.encode(text).count, Array(text.utf8).count / 2, "BPE compresses its training text")
        XCTAssertEqual(char.encode("Once").count, 4)
    }

    func testMalformedTokenizerFilesAreRejected() {
        XCTAssertThrowsError(try TokenizerFile.load(["type": "bpe", "merges": [[300, 1]]]))
        XCTAssertThrowsError(try TokenizerFile.load(["type": "nope"]))
        XCTAssertThrowsError(try TokenizerFile.load(["type": "char", "chars": [0xD800]]))
    }

    func testBuiltInCorporaAreSeededAndMeaningful() {
        XCTAssertEqual(DialogueWorld.corpus(dialogues: 50, seed: 3), DialogueWorld.corpus(dialogues: 50, seed: 3))
        XCTAssertNotEqual(StoryCorpus.corpus(stories: 5, seed: 3), StoryCorpus.corpus(stories: 5, seed: 4))
        let d = DialogueWorld.corpus(dialogues: 2000, seed: 5)
        XCTAssertTrue(d.contains("User: what is 3 plus 4?\nBot: 3 plus 4 is 7.\n"))
        XCTAssertTrue(d.contains("minus"))
        XCTAssertTrue(StoryCorpus.corpus(stories: 3, seed: 1).hasPrefix("Once upon a time"))
    }
}

/// A language model that plays back a fixed token script (for streaming and stop-string tests).
final class ScriptedModel: Module, LanguageModel {
    let script: [Int]
    let vocabSize = 256, contextLength = 64
    init(_ s: [Int]) { script = s }
    func logits(_ tokens: [Int], batch: Int) -> Tensor { Tensor.zeros([tokens.count, vocabSize]) }
    func makeDecoder() -> IncrementalDecoder { Decoder(self) }
    final class Decoder: IncrementalDecoder {
        let m: ScriptedModel
        var length = 0, emitted = 0
        init(_ m: ScriptedModel) { self.m = m }
        func feed(_ tokens: [Int]) -> Tensor {
            if length > 0 { emitted += tokens.count }
            length += tokens.count
            let t = Tensor.zeros([256])
            t.data[m.script[min(emitted, m.script.count - 1)]] = 10
            return t
        }
    }
}

final class GenerationTests: XCTestCase {
    func testStreamingHoldsBackSplitCharactersAndStopsAtStopStrings() {
        let bytes = Array("añ😀b\nrest".utf8).map(Int.init)
        let tok = CharTokenizer(chars: [])  // byte tokens only: multi-byte characters arrive split
        var o = SamplingOptions()
        o.temperature = 0
        o.maxTokens = 50
        o.stop = ["\n"]
        let gen = TextGenerator(model: ScriptedModel(bytes), tokenizer: tok, prompt: [65], options: o)
        var pieces: [String] = []
        while let p = gen.next() { pieces.append(p) }
        XCTAssertEqual(pieces.joined(), "añ😀b")
        for p in pieces { XCTAssertFalse(p.contains("\u{FFFD}"), "no piece ends inside a character: \(pieces)") }
        XCTAssertTrue(pieces.contains(""), "some pieces were held back while a character was incomplete")
        // A multi-character stop string.
        var o2 = o
        o2.stop = ["b\nr"]
        XCTAssertEqual(
            TextGenerator(model: ScriptedModel(bytes), tokenizer: tok, prompt: [65], options: o2).run(), "añ😀")
        var o3 = o
        o3.stop = []
        o3.maxTokens = 3
        XCTAssertEqual(
            TextGenerator(model: ScriptedModel(bytes), tokenizer: tok, prompt: [65], options: o3).run(), "añ")
    }

    func testSamplerRules() {
        let logits = Tensor([0, 5, 1, 4.9])
        var greedy = SamplingOptions()
        greedy.temperature = 0
        var s = Sampler(greedy)
        XCTAssertEqual(s.pick(logits, history: []), 1)
        var rep = greedy
        rep.repetitionPenalty = 2
        s = Sampler(rep)
        XCTAssertEqual(s.pick(logits, history: [1]), 3, "a repeated token's logit is divided by the penalty")
        var k2 = SamplingOptions()
        k2.temperature = 1
        k2.topK = 2
        s = Sampler(k2)
        let picks = (0..<200).map { _ in s.pick(logits, history: []) }
        XCTAssertEqual(Set(picks), [1, 3])
        var p = SamplingOptions()
        p.temperature = 1
        p.topP = 0.4
        s = Sampler(p)
        XCTAssertEqual(Set((0..<100).map { _ in s.pick(logits, history: []) }), [1])
    }

    func testKVCacheDecodingEqualsFullRecomputation() {
        let model = GPT(
            GPTConfig(vocabSize: 40, contextLength: 32, layers: 2, heads: 4, kvHeads: 2, width: 32), seed: 9)
        var r = RNG(seed: 10)
        let tokens = (0..<20).map { _ in r.int(below: 40) }
        let full = noGrad { model.logits(tokens, batch: 1) }  // [20, 40]
        let dec = model.makeDecoder()
        var rows: [[Float]] = [dec.feed(Array(tokens.prefix(5))).toArray()]  // a prompt chunk, then one at a time
        for t in tokens[5...] { rows.append(dec.feed([t]).toArray()) }
        for (k, row) in rows.enumerated() {
            let pos = k == 0 ? 4 : 4 + k
            let want = full.select(0, pos).toArray()
            for j in 0..<40 { XCTAssertEqual(row[j], want[j], accuracy: 1e-4, "position \(pos) logit \(j)") }
        }
    }

    func testRecurrentDecoderEqualsFullSequence() {
        for kind in [RNNConfig.Kind.lstm, .gru] {
            let model = RNNLM(RNNConfig(kind: kind, vocabSize: 30, contextLength: 32, layers: 2, width: 16), seed: 11)
            let tokens = [1, 5, 9, 2, 2, 7, 3]
            let full = noGrad { model.logits(tokens, batch: 1) }
            let dec = model.makeDecoder()
            _ = dec.feed(Array(tokens.prefix(3)))
            var last = Tensor.zeros([30])
            for t in tokens[3...] { last = dec.feed([t]) }
            for (a, b) in zip(last.toArray(), full.select(0, 6).toArray()) {
                XCTAssertEqual(a, b, accuracy: 1e-5, "\(kind)")
            }
        }
    }
}

final class RecurrentCellTests: XCTestCase {
    func check(_ name: String, _ inputs: [Tensor], _ f: ([Tensor]) -> Tensor, line: UInt = #line) {
        let (bad, _) = GradientCheck.check(inputs, f)
        if let m = bad { XCTFail("\(name): \(m)", line: line) }
    }

    func testLSTMAndGRUCellsAgainstFiniteDifferences() {
        var r = RNG(seed: 12)
        let lstm = LSTMCell(input: 3, hidden: 4, rng: &r)
        let gru = GRUCell(input: 3, hidden: 4, rng: &r)
        let x = Tensor.randn([2, 3], rng: &r)
        let h = Tensor.randn([2, 4], rng: &r)
        let c = Tensor.randn([2, 4], rng: &r)
        check(
            "lstm", [x, h, c, lstm.inputProjection.weight, lstm.hiddenProjection.weight, lstm.hiddenProjection.bias!]
        ) { i in
            let (h2, c2) = lstm.step(lstm.inputProjection(i[0]), h: i[1], c: i[2])
            return h2 * 2 + c2
        }
        check("gru", [x, h, gru.inputProjection.weight, gru.hiddenProjection.weight, gru.inputProjection.bias!]) { i in
            gru.step(gru.inputProjection(i[0]), h: i[1])
        }
    }

    /// The GRU update matches PyTorch's equations on a hand-computed case (1 unit, weights chosen).
    func testGRUFollowsPyTorchEquations() {
        var r = RNG(seed: 1)
        let g = GRUCell(input: 1, hidden: 1, rng: &r)
        g.inputProjection.weight.assign(Tensor(shape: [3, 1], data: [0.5, -0.3, 0.8]))
        g.inputProjection.bias!.assign(Tensor([0.1, 0.2, -0.1]))
        g.hiddenProjection.weight.assign(Tensor(shape: [3, 1], data: [0.4, 0.6, -0.5]))
        g.hiddenProjection.bias!.assign(Tensor([0.0, -0.1, 0.3]))
        let x: Float = 1.5
        let h: Float = -0.7
        func sig(_ v: Float) -> Float { 1 / (1 + Foundation.exp(-v)) }
        let rr = sig(0.5 * x + 0.1 + 0.4 * h + 0)
        let z = sig(-0.3 * x + 0.2 + 0.6 * h - 0.1)
        let n = Foundation.tanh(0.8 * x - 0.1 + rr * (-0.5 * h + 0.3))
        let want = (1 - z) * n + z * h
        let got = g.step(g.inputProjection(Tensor(shape: [1, 1], data: [x])), h: Tensor(shape: [1, 1], data: [h]))
            .item()
        XCTAssertEqual(got, want, accuracy: 1e-6)
    }
}
