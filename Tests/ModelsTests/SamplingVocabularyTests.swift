import Compute
import Models
import XCTest

final class SamplingVocabularyTests: XCTestCase {
    /// An untrained model spreads probability over all 256 + 37 outputs; before the fix, samples held
    /// byte-fallback tokens — characters outside the training text and lone UTF-8 bytes (U+FFFD).
    func testSamplesOnlyHoldCharactersOfTheTrainingText() {
        let text = "abcdefghijklmnopqrstuvwxyz .,!?0123456789\n"
        let tok = CharTokenizer(training: text)
        let model = GPT(GPTConfig(vocabSize: tok.vocabSize, contextLength: 64, layers: 2, heads: 2, width: 32), seed: 3)
        var o = SamplingOptions()
        o.temperature = 1.5
        o.maxTokens = 400
        o.seed = 9
        let gen = TextGenerator(model: model, tokenizer: tok, prompt: tok.encode("the "), options: o)
        let sample = gen.run()
        XCTAssertEqual(gen.produced, 400)
        let allowed = Set(text.unicodeScalars)
        let outside = sample.unicodeScalars.filter { !allowed.contains($0) }
        XCTAssertTrue(outside.isEmpty, "outside the vocabulary: \(outside.map { String(format: "U+%04X", $0.value) })")
        XCTAssertTrue(gen.tokens.dropFirst(4).allSatisfy { $0 >= 256 }, "no byte-fallback tokens sampled")
    }
}
