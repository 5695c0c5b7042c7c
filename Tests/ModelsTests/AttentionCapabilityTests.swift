import Compute
import Models
import XCTest

final class AttentionCapabilityTests: XCTestCase {
    /// The decoder's attention row (from its KV cache) equals the last row of the model's own probe
    /// (a full forward pass) for every layer and head, with grouped-query attention.
    func testDecoderAttentionRowEqualsTheFullForwardProbe() {
        let model = GPT(
            GPTConfig(vocabSize: 50, contextLength: 32, layers: 2, heads: 4, kvHeads: 2, width: 32), seed: 5)
        let ids = [3, 14, 15, 9, 26, 5, 35, 8, 9, 7]
        let decoder = model.makeDecoder()
        _ = decoder.feed(Array(ids.prefix(6)))
        for t in ids.dropFirst(6) { _ = decoder.feed([t]) }
        XCTAssertEqual(decoder.attentionShape?.layers, 2)
        for layer in 0..<2 {
            for head in 0..<4 {
                let probe = model.attentionProbabilities(ids, layer: layer, head: head).toArray()
                let n = ids.count
                let expected = Array(probe[((n - 1) * n)..<(n * n)])
                guard let row = decoder.attentionRow(layer: layer, head: head) else { return XCTFail("no row") }
                XCTAssertEqual(row.count, n)
                for (a, b) in zip(row, expected) { XCTAssertEqual(a, b, accuracy: 1e-5, "layer \(layer) head \(head)") }
            }
        }
        let rnn = RNNLM(RNNConfig(kind: .gru, vocabSize: 50, contextLength: 32, layers: 1, width: 16), seed: 1)
            .makeDecoder()
        XCTAssertNil(rnn.attentionShape, "recurrent models report no attention")
    }
}
