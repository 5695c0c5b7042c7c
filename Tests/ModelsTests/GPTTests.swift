import Compute
import Foundation
import Models
import NN
import TestSupport
import XCTest

final class GPTTests: XCTestCase {
    let tiny = GPTConfig(vocabSize: 31, contextLength: 64, layers: 2, heads: 4, kvHeads: 2, width: 32)

    func randomDocs(_ n: Int, seed: UInt64, maxLen: Int = 40) -> [[Int]] {
        var r = RNG(seed: seed)
        return (0..<n).map { _ in (0..<(1 + r.int(below: maxLen))).map { _ in r.int(below: 31) } }
    }

    func testOverfitsOneBatch() {
        let model = GPT(tiny, seed: 1)
        let opt = Adam(model.parameters, lr: 3e-3)
        var r = RNG(seed: 2)
        let tokens = (0..<(2 * 16)).map { _ in r.int(below: 31) }
        let targets = Array(tokens.dropFirst()) + [0]
        var first: Float = 0
        var last: Float = 0
        for step in 0..<60 {
            model.zeroGrad()
            let loss = model.loss(tokens, targets: targets, batch: 2)
            if step == 0 { first = loss.item() }
            last = loss.item()
            loss.backward()
            opt.step()
        }
        XCTAssertEqual(first, Float(Foundation.log(31.0)), accuracy: 0.3, "starts near uniform")
        XCTAssertLessThan(last, first * 0.3, "memorises one batch")
    }

    func testCheckpointedBlocksGiveTheSameGradientsWithLessMemory() {
        var big = tiny
        big.width = 64
        big.heads = 4
        big.kvHeads = 4
        big.layers = 4
        big.contextLength = 256
        var r = RNG(seed: 3)
        let tokens = (0..<(4 * 256)).map { _ in r.int(below: 31) }
        let targets = tokens.map { ($0 + 1) % 31 }
        var grads: [[[Float]]] = []
        var losses: [Float] = []
        var peaks: [Int] = []
        for ck in [false, true] {
            big.checkpointBlocks = ck
            let model = GPT(big, seed: 4)
            let base = MemoryStats.liveBytes
            MemoryStats.resetPeak()
            let loss = model.loss(tokens, targets: targets, batch: 4)
            loss.backward()
            peaks.append(MemoryStats.peakBytes - base)
            losses.append(loss.item())
            grads.append(model.parameters.map { $0.grad!.toArray() })
        }
        XCTAssertEqual(losses[0], losses[1])
        for (a, b) in zip(grads[0], grads[1]) { assertClose(a, b, atol: 1e-5, rtol: 1e-4, "checkpointed gradients") }
        XCTAssertLessThan(
            Double(peaks[1]), Double(peaks[0]) * 0.75, "peak \(peaks[1]) with checkpointing vs \(peaks[0]) without")
    }

    func testPackerKeepsEveryTokenAndRespectsCapacity() {
        let docs = randomDocs(50, seed: 5, maxLen: 100) + [[7], [], [1, 2]]
        let packed = SequencePacker.pack(docs, capacity: 64)
        let pairs = docs.reduce(0) { $0 + max(0, $1.count - 1) }
        XCTAssertEqual(packed.reduce(0) { $0 + $1.count }, pairs, "every training pair packed once, no padding")
        for p in packed {
            XCTAssertLessThanOrEqual(p.count, 64)
            XCTAssertEqual(p.cuSeqlens.first, 0)
            XCTAssertEqual(p.cuSeqlens.last, p.count)
            XCTAssertEqual(p.realTokens, p.count)
            for d in 0..<(p.cuSeqlens.count - 1) {
                XCTAssertEqual(
                    Array(p.positions[p.cuSeqlens[d]..<p.cuSeqlens[d + 1]]),
                    Array(0..<(p.cuSeqlens[d + 1] - p.cuSeqlens[d])))
            }
        }
        // Packing wastes little: buffers are nearly full.
        let fill = Double(pairs) / Double(packed.count * 64)
        XCTAssertGreaterThan(fill, 0.9)
        let padded = SequencePacker.padded(docs, length: 64)
        XCTAssertTrue(padded.allSatisfy { $0.count == 64 })
        XCTAssertEqual(padded.reduce(0) { $0 + $1.realTokens }, pairs)
    }

    /// A packed buffer trains exactly as its documents alone: its loss is the token-weighted mean of
    /// theirs, and its gradients the token-weighted sum.
    func testPackedLossEqualsDocumentsAlone() {
        let model = GPT(tiny, seed: 6)
        let docs = [[3, 1, 4, 1, 5, 9, 2, 6], [5, 3], [5, 8, 9, 7, 9, 3, 2, 3, 8, 4, 6], [2, 6, 4]]
        let packed = SequencePacker.pack(docs, capacity: 64)
        XCTAssertEqual(packed.count, 1)
        let p = packed[0]
        let packedLoss = model.loss(
            p.tokens, targets: p.targets, batch: 1, positions: p.positions, cuSeqlens: p.cuSeqlens)
        var weighted: Double = 0
        var n = 0
        for d in docs {
            let l = model.loss(Array(d.dropLast()), targets: Array(d.dropFirst()), batch: 1).item()
            weighted += Double(l) * Double(d.count - 1)
            n += d.count - 1
        }
        XCTAssertEqual(Double(packedLoss.item()), weighted / Double(n), accuracy: 1e-5)
        // Padded rows give the same loss too (padding is masked out of the loss and never attended).
        let padded = SequencePacker.padded(docs, length: 16)
        let tokens = padded.flatMap(\.tokens)
        let targets = padded.flatMap(\.targets)
        XCTAssertEqual(
            Double(model.loss(tokens, targets: targets, batch: padded.count).item()), weighted / Double(n),
            accuracy: 1e-5)
    }

    func testAttentionProbeOfALayerAndHead() {
        let model = GPT(tiny, seed: 8)
        let tokens = [3, 1, 4, 1, 5, 9, 2]
        for layer in 0..<2 {
            for head in [0, 3] {
                let p = model.attentionProbabilities(tokens, layer: layer, head: head)
                XCTAssertEqual(p.shape, [7, 7])
                for i in 0..<7 {
                    XCTAssertEqual(p.select(0, i).sum().item(), 1, accuracy: 1e-5)
                    for j in (i + 1)..<7 { XCTAssertEqual(p[i, j], 0) }
                }
            }
        }
        XCTAssertNotEqual(
            model.attentionProbabilities(tokens, layer: 1, head: 0).toArray(),
            model.attentionProbabilities(tokens, layer: 0, head: 0).toArray())
    }

    func testRotaryEmbeddingIsARelativePositionEncoding() {
        let table = RotaryTable(headDim: 8, maxPositions: 32)
        var r = RNG(seed: 7)
        let q = Tensor.randn([1, 1, 1, 8], rng: &r)
        let k = Tensor.randn([1, 1, 1, 8], rng: &r)
        func score(_ pq: Int, _ pk: Int) -> Float {
            (q.rope(table, positions: [pq]) * k.rope(table, positions: [pk])).sum().item()
        }
        XCTAssertEqual(score(5, 2), score(13, 10), accuracy: 1e-4, "depends only on the offset")
        XCTAssertNotEqual(score(5, 2), score(5, 3))
        let x = Tensor.randn([2, 3, 2, 8], rng: &r)
        let back = x.rope(table, positions: [4, 0, 9]).rope(table, positions: [4, 0, 9], inverse: true)
        for (a, b) in zip(back.toArray(), x.toArray()) { XCTAssertEqual(a, b, accuracy: 1e-5) }
    }
}
