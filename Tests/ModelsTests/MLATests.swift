import Compute
import Models
import NN
import TestSupport
import XCTest

final class MLATests: XCTestCase {
    func model(_ mla: Bool, kvHeads: Int? = nil) -> GPT {
        var c = GPTConfig(vocabSize: 50, contextLength: 32, layers: 2, heads: 4, kvHeads: kvHeads, width: 64)
        if mla {
            var m = MLAConfig()
            m.kvLatent = 24
            m.queryLatent = 40
            m.ropeDim = 8
            c.mla = m
        }
        return GPT(c, seed: 3)
    }

    /// The absorbed decoding path (attention in the latent space, W_UK folded into the query and W_UV
    /// applied after the weighted sum) gives the logits of the naive path — the full forward over the
    /// sequence, and the decoder that rebuilds and caches full keys and values — token by token and for
    /// a prompt fed in one chunk.
    func testAbsorbedDecodingEqualsTheNaivePath() throws {
        let m = model(true)
        let tokens = [3, 14, 15, 9, 26, 5, 35, 8, 9, 7]
        let full = m.logits(tokens, batch: 1).toArray()  // [T · V]
        let V = 50
        let absorbed = try XCTUnwrap(m.makeDecoder() as? GPTDecoder)
        let naive = try XCTUnwrap(m.makeDecoder() as? GPTDecoder)
        naive.naiveLatentAttention = true
        for (t, tok) in tokens.enumerated() {
            let a = absorbed.feed([tok]).toArray()
            let n = naive.feed([tok]).toArray()
            let f = Array(full[(t * V)..<((t + 1) * V)])
            assertClose(a, f, atol: 1e-4, rtol: 1e-4, "absorbed, token \(t)")
            assertClose(n, f, atol: 1e-4, rtol: 1e-4, "naive, token \(t)")
        }
        // A prompt in one chunk (causal inside the chunk), then one more token.
        let chunk = try XCTUnwrap(m.makeDecoder() as? GPTDecoder)
        assertClose(
            chunk.feed(Array(tokens.prefix(6))).toArray(), Array(full[(5 * V)..<(6 * V)]), atol: 1e-4, rtol: 1e-4)
        assertClose(chunk.feed([tokens[6]]).toArray(), Array(full[(6 * V)..<(7 * V)]), atol: 1e-4, rtol: 1e-4)
        // The attention of the newest token over what it sees sums to 1 in every head.
        let row = try XCTUnwrap(absorbed.attentionRow(layer: 1, head: 2))
        XCTAssertEqual(row.count, tokens.count)
        XCTAssertEqual(row.reduce(0, +), 1, accuracy: 1e-5)
    }

    /// KV-cache bytes per token at the same width: MHA 2·H·d_h, GQA 2·H_kv·d_h, MLA d_c + d_r numbers per
    /// layer; the absorbed cache holds only the latents.
    func testCacheBytesPerToken() throws {
        let mha = try XCTUnwrap(model(false).makeDecoder() as? GPTDecoder)
        let gqa = try XCTUnwrap(model(false, kvHeads: 1).makeDecoder() as? GPTDecoder)
        let mla = try XCTUnwrap(model(true).makeDecoder() as? GPTDecoder)
        XCTAssertEqual(mha.cacheBytesPerToken, 2 * 4 * 2 * 4 * 16)  // layers · 2 · H · d_h · 4 bytes
        XCTAssertEqual(gqa.cacheBytesPerToken, 2 * 4 * 2 * 1 * 16)
        XCTAssertEqual(mla.cacheBytesPerToken, 2 * 4 * (24 + 8))
    }

    /// An MLA GPT trains: the loss of one repeated batch falls, and every projection gets a gradient.
    func testMLAGPTLearns() {
        let m = model(true)
        let opt = Adam(m.parameters, lr: 3e-3)
        var rng = RNG(seed: 1)
        let x = (0..<32).map { _ in rng.int(below: 50) }
        let y = Array(x.dropFirst()) + [0]
        var first: Float = 0
        var last: Float = 0
        for i in 0..<40 {
            m.zeroGrad()
            let loss = m.loss(x, targets: y, batch: 2)
            if i == 0 { first = loss.item() }
            last = loss.item()
            loss.backward()
            opt.step()
        }
        XCTAssertLessThan(last, first * 0.5)
        for b in m.blocks { for l in b.mla!.linears { XCTAssertNotNil(l.weight.grad) } }
    }
}
