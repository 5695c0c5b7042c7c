import Compute
import Foundation
import Labs
import Models
import XCTest

final class MTPTests: XCTestCase {
    func config(steps: Int) -> LMConfig { LMConfig.tinyDeepSeek("mtp", steps: steps) }

    /// Self-speculative decoding (the MTP module drafts, the main model verifies) gives exactly the
    /// tokens of plain greedy decoding — untrained, where most drafts fail, and trained, where most
    /// are accepted — in fewer main-model passes once trained. Training lowers every depth's loss.
    func testSelfSpeculativeDecodingIsGreedyDecoding() throws {
        let s = try LanguageSession(config: config(steps: 150))
        let model = try XCTUnwrap(s.model as? GPT)
        let prompts = ["Once upon a time", "The little", "a", "Tom and Sue went"].map { s.tokenizer.encode($0) }
        for p in prompts {
            let plain = SpeculativeDecoding.greedy(model, prompt: p, maxTokens: 40)
            let fast = SpeculativeDecoding.selfSpeculative(model, prompt: p, maxTokens: 40)
            XCTAssertEqual(fast.tokens, plain.tokens, "untrained")
        }
        var first: [Float] = []
        var last: [Float] = []
        while s.step < s.config.steps {
            let m = s.trainStep()
            if s.step <= 10 { first.append(m.mtpLosses![0]) }
            if s.step > s.config.steps - 10 { last.append(m.mtpLosses![0]) }
        }
        XCTAssertLessThan(last.reduce(0, +), 0.7 * first.reduce(0, +), "the MTP loss falls")
        var drafted = 0
        var accepted = 0
        var passes = (plain: 0, fast: 0)
        for p in prompts {
            let plain = SpeculativeDecoding.greedy(model, prompt: p, maxTokens: 50)
            let fast = SpeculativeDecoding.selfSpeculative(model, prompt: p, maxTokens: 50)
            XCTAssertEqual(fast.tokens, plain.tokens, "trained: \(s.tokenizer.decodeString(p))")
            drafted += fast.drafted
            accepted += fast.accepted
            passes.plain += plain.passes
            passes.fast += fast.passes
        }
        let rate = Double(accepted) / Double(max(1, drafted))
        XCTAssertGreaterThan(rate, 0.4, "acceptance \(accepted)/\(drafted)")
        XCTAssertLessThan(passes.fast, passes.plain, "main-model passes \(passes)")
        print("MTP: acceptance \(accepted)/\(drafted) = \(rate), passes \(passes.fast) vs \(passes.plain)")
    }
}

extension LMConfig {
    /// A test-sized GPT of a DeepSeek preset (moe, mla, mtp, fp8): 2 layers × 64, context 64, batch 16.
    static func tinyDeepSeek(_ preset: String, steps: Int) -> LMConfig {
        var c = LMConfig.preset(preset)!
        c.corpusDocuments = 600
        c.layers = 2
        c.width = 64
        c.heads = 2
        c.context = 64
        c.batch = 16
        c.steps = steps
        c.warmup = 10
        c.evalEvery = 0
        c.evalBatches = 8
        c.checkpointEvery = 0
        return c
    }
}
