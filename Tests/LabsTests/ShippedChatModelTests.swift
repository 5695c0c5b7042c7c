import Compute
import Foundation
import Labs
import Models
import XCTest

/// The tiny chat model shipped in assets/models/chat (made by `orrery train chat`).
final class ShippedChatModelTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let dir = root.appendingPathComponent("assets/models/chat").path

    func answer(_ q: String, _ model: LanguageModel, _ tok: Tokenizer) -> String {
        let (prompt, _) = ChatFormat().fit(history: [], user: q, tokenizer: tok, context: model.contextLength, reserve: 40)
        var o = SamplingOptions(); o.temperature = 0; o.stop = ["\n"]; o.maxTokens = 40
        return TextGenerator(model: model, tokenizer: tok, prompt: prompt, options: o).run()
    }

    func testShippedModelIsSmallAndAnswersSingleDigitAdditions() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: dir)
        let bytes = try files.reduce(0) { $0 + ((try FileManager.default.attributesOfItem(atPath: dir + "/" + $1)[.size] as? Int) ?? 0) }
        XCTAssertLessThanOrEqual(bytes, 8 << 20, "shipped model ≤ 8 MB")
        let (_, tok, model, _) = try LanguageSessionDirectory.loadModel(dir)
        XCTAssertEqual(answer("what is 3 plus 4?", model, tok), "3 plus 4 is 7.")
        var rng = RNG(seed: UInt64(Date().timeIntervalSince1970) % 1000)   // a different sample each run
        var correct = 0
        let n = 30
        for _ in 0..<n {
            let a = rng.int(below: 10), b = rng.int(below: 10)
            if answer("what is \(a) plus \(b)?", model, tok) == "\(a) plus \(b) is \(a + b)." { correct += 1 }
        }
        XCTAssertGreaterThanOrEqual(Double(correct) / Double(n), 0.9, "\(correct)/\(n) additions right")
    }
}
