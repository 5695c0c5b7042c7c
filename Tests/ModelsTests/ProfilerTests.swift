import Compute
import Models
import NN
import XCTest

/// The step profiler and the buffer pool on a real (tiny) GPT training step.
final class ProfilerTests: XCTestCase {
    func testAProfiledStepAccountsForItsTimeAndTakesNoHeapBuffers() {
        let config = GPTConfig(vocabSize: 20, contextLength: 16, layers: 2, heads: 2, width: 32)
        let model = GPT(config, seed: 3)
        let opt = Adam.adamW(model.namedParameters(), lr: 1e-3, betas: (0.9, 0.99), weightDecay: 0.1)
        var rng = RNG(seed: 4)
        let x = (0..<(4 * 16)).map { _ in rng.int(below: 20) }
        let y = (0..<(4 * 16)).map { _ in rng.int(below: 20) }
        func step() {
            model.zeroGrad()
            model.loss(x, targets: y, batch: 4).backward()
            Autograd.clipGradNorm(model.parameters, maxNorm: 1)
            opt.step()
        }
        for _ in 0..<3 { step() }  // warm-up: the pool fills with this step's buffer sizes
        XCTAssertTrue(Profiler.start())
        XCTAssertFalse(Profiler.start(), "one profile at a time")
        for _ in 0..<3 { step() }
        let p = Profiler.stop(steps: 3)
        XCTAssertFalse(Profiler.active)

        XCTAssertEqual(p.heapAllocations, 0, "a steady step reuses the pool's buffers")
        XCTAssertGreaterThan(p.reusedAllocations, 0)
        func line(_ c: ProfileCategory) -> ProfileLine { p.categories[c.rawValue] }
        // Every layer's attention runs once forward and once backward per step.
        XCTAssertEqual(line(.attentionForward).calls, 2 * 3)
        XCTAssertEqual(line(.attentionBackward).calls, 2 * 3)
        XCTAssertGreaterThan(line(.gemm).calls, 0)
        XCTAssertEqual(line(.optimizer).calls, 2 * 3, "clip and AdamW")
        XCTAssertEqual(line(.crossEntropy).calls, 2 * 3, "the loss and its gradient")
        // GEMM FLOPs by shape add up to the category's, and the categories to the wall time.
        XCTAssertEqual(p.gemmShapes.reduce(0) { $0 + $1.flops }, line(.gemm).flops, accuracy: 1)
        XCTAssertEqual(p.gemmShapes.reduce(0) { $0 + $1.calls }, line(.gemm).calls)
        // The query-key-value projection of the 4 × 16 tokens: 64 × 96 × 32 (M × N × K), forward.
        XCTAssertTrue(p.gemmShapes.contains { $0.name == "64×96×32" }, p.gemmShapes.map(\.name).description)
        let total = p.categories.reduce(0) { $0 + $1.seconds }
        XCTAssertEqual(total, p.seconds, accuracy: 1e-9 + p.seconds * 1e-6)
        XCTAssertTrue(p.categories.allSatisfy { $0.seconds >= 0 })
        // Rows against limits: rates where there is work to count, shares that sum to one.
        let rows = p.rows(peakGFLOPS: 100, bandwidthGBs: 10, shapes: 2)
        XCTAssertEqual(rows.filter { !$0.name.hasPrefix(" ") }.reduce(0) { $0 + $1.share }, 1, accuracy: 1e-6)
        XCTAssertNotNil(rows.first { $0.category == .gemm }?.rate)
    }

    func testPausedTimeAndSuspendedWorkAreLeftOut() {
        XCTAssertTrue(Profiler.start())
        let a = Tensor.randn([64, 64], rng: &rngForTest)
        _ = Kernels.matmul(a, a)
        Profiler.pause()
        Thread.sleep(forTimeInterval: 0.05)
        _ = Kernels.matmul(a, a)  // not counted
        Profiler.resume()
        Profiler.suspended { Thread.sleep(forTimeInterval: 0.05) }
        let p = Profiler.stop(steps: 1)
        XCTAssertLessThan(p.seconds, 0.04, "the pause and the suspended sleep are not in the wall time")
        XCTAssertEqual(p.categories[ProfileCategory.gemm.rawValue].calls, 1)
    }

    func testThePoolReusesFreedBuffersAndRoundsSizesUpByAtMostAnEighth() {
        for n in [0, 1, 15, 16, 17, 100, 129, 1000, 4097, 1_000_003] {
            let c = BufferPool.sizeClassForTesting(n)
            XCTAssertGreaterThanOrEqual(c, Swift.max(n, 1))
            XCTAssertLessThanOrEqual(Double(c), Double(Swift.max(n, 16)) * 1.125 + 16, "\(n) → \(c)")
        }
        var base: UnsafeMutablePointer<Float>?
        do {
            let a = Tensor.full([777, 3], 5)  // freed at the end of this block: its buffer goes to the pool
            base = a.storage.base
        }
        let t = Tensor.zeros([777, 3])
        XCTAssertEqual(t.storage.base, base, "the same size comes back from the pool")
        XCTAssertTrue(t.toArray().allSatisfy { $0 == 0 }, "a reused buffer is zeroed when asked")
    }
}

private var rngForTest = RNG(seed: 9)
