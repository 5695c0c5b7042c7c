// Through the public API only, the way user code reads.
import Compute
import Models
import NN
import XCTest

final class TrainingTests: XCTestCase {
    func testMLPSolvesTwoSpirals() {
        let data = TwoSpirals(perClass: 150, seed: 3)
        var rng = RNG(seed: 4)
        let model = MLP([2, 48, 48, 2], activation: { $0.tanh() }, rng: &rng)
        let opt = Adam(model.parameters, lr: 0.01)
        let initial = noGrad { model(data.points).crossEntropy(data.labels).item() }
        for _ in 0..<800 {
            model.zeroGrad()
            let loss = model(data.points).crossEntropy(data.labels)
            loss.backward()
            opt.step()
        }
        let final = noGrad { model(data.points).crossEntropy(data.labels).item() }
        let acc = noGrad { data.accuracy(model(data.points)) }
        XCTAssertLessThan(final, initial * 0.2, "loss must fall")
        XCTAssertGreaterThan(acc, 0.95, "two-spirals accuracy")
        // A linear model cannot do it: the task is real.
        let linear = Linear(2, 2, rng: &rng)
        let lopt = Adam(linear.parameters, lr: 0.01)
        for _ in 0..<300 {
            linear.zeroGrad()
            linear(data.points).crossEntropy(data.labels).backward()
            lopt.step()
        }
        XCTAssertLessThan(noGrad { data.accuracy(linear(data.points)) }, 0.75)
    }

    func testParameterDiscoveryAndNames() {
        var rng = RNG(seed: 1)
        let m = MLP([3, 4, 2], rng: &rng)
        XCTAssertEqual(
            m.namedParameters().map(\.0), ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"])
        XCTAssertEqual(m.parameterCount, 3 * 4 + 4 + 4 * 2 + 2)
        let noBias = Linear(3, 5, bias: false, rng: &rng)
        XCTAssertEqual(noBias.namedParameters().map(\.0), ["weight"])
        XCTAssertEqual(noBias.weight.shape, [5, 3])
    }

    /// loss = p², so g = 2p; values from the reference update rules (torch.optim semantics).
    func run(_ make: ([Tensor]) -> Optimizer, steps: Int) -> Float {
        let p = Tensor([1]).requiringGrad()
        let opt = make([p])
        for _ in 0..<steps {
            p.grad = nil
            p.square().sum().backward()
            opt.step()
        }
        return p.item()
    }

    func testOptimizerUpdateRules() {
        XCTAssertEqual(run({ SGD($0, lr: 0.1, momentum: 0.9) }, steps: 3), 0.062, accuracy: 1e-5)
        XCTAssertEqual(run({ SGD($0, lr: 0.1, momentum: 0.9, nesterov: true) }, steps: 3), -0.108352, accuracy: 1e-5)
        XCTAssertEqual(run({ SGD($0, lr: 0.1) }, steps: 2), 0.64, accuracy: 1e-6)
        XCTAssertEqual(run({ Adam($0, lr: 0.1) }, steps: 2), 0.8004122, accuracy: 1e-5)
        XCTAssertEqual(
            run({ Adam($0, lr: 0.1, weightDecay: 0.1, decoupled: true) }, steps: 2), 0.7815719, accuracy: 1e-5)
    }

    func testAdamWMasksNormsBiasesAndEmbeddings() {
        let w = Tensor.ones([2, 2]).requiringGrad()
        let b = Tensor.ones([2]).requiringGrad()
        let emb = Tensor.ones([3, 2]).requiringGrad()
        let norm = Tensor.ones([2]).requiringGrad()
        let opt = Adam.adamW(
            [("fc.weight", w), ("fc.bias", b), ("tok_embed.weight", emb), ("ln_norm.weight", norm)],
            lr: 0.1, weightDecay: 0.5)
        XCTAssertEqual(opt.decayMask, [true, false, false, false])
        for p in [w, b, emb, norm] { p.grad = Tensor.zeros(p.shape) }
        opt.step()
        XCTAssertEqual(w.toArray(), [0.95, 0.95, 0.95, 0.95], "decayed: p − lr·wd·p with a zero gradient")
        XCTAssertEqual(b.toArray(), [1, 1])
        XCTAssertEqual(emb.toArray(), [1, 1, 1, 1, 1, 1])
        XCTAssertEqual(norm.toArray(), [1, 1])
    }

    func testSchedules() {
        let ms = MultiStepLR(peak: 1, warmup: 10, total: 1000)
        XCTAssertEqual(ms.lr(at: 0), 0.1, accuracy: 1e-7)
        XCTAssertEqual(ms.lr(at: 9), 1)
        XCTAssertEqual(ms.lr(at: 799), 1)
        XCTAssertEqual(ms.lr(at: 800), 0.316, accuracy: 1e-7)
        XCTAssertEqual(ms.lr(at: 899), 0.316, accuracy: 1e-7)
        XCTAssertEqual(ms.lr(at: 900), 0.1, accuracy: 1e-7)
        let cos = WarmupCosine(peak: 1, warmup: 100, total: 1100, minLR: 0.1)
        XCTAssertEqual(cos.lr(at: 49), 0.5, accuracy: 1e-6)
        XCTAssertEqual(cos.lr(at: 100), 1, accuracy: 1e-6)
        XCTAssertEqual(cos.lr(at: 600), 0.55, accuracy: 1e-6)
        XCTAssertEqual(cos.lr(at: 1100), 0.1, accuracy: 1e-6)
        XCTAssertGreaterThan(cos.lr(at: 300), cos.lr(at: 301))
    }

    func testGradientAccumulationEqualsBigBatch() {
        var rng = RNG(seed: 9)
        let m = Linear(3, 2, rng: &rng)
        let x = Tensor.randn([8, 3], rng: &rng)
        let labels = [0, 1, 1, 0, 1, 0, 0, 1]
        m(x).crossEntropy(labels).backward()
        let full = m.weight.grad!.toArray()
        m.zeroGrad()
        for half in 0..<2 {
            let xs = x.slice(0, half * 4, half * 4 + 4)
            (m(xs).crossEntropy(Array(labels[(half * 4)..<(half * 4 + 4)])) * 0.5).backward()
        }
        for (a, b) in zip(m.weight.grad!.toArray(), full) { XCTAssertEqual(a, b, accuracy: 1e-6) }
    }
}

final class StateDictTests: XCTestCase {
    func testLoadChecksEverythingBeforeCopyingAnything() throws {
        var rng = RNG(seed: 1)
        let a = MLP([2, 3, 2], rng: &rng)
        let b = MLP([2, 3, 2], rng: &rng)
        var dict = a.stateDict()
        XCTAssertEqual(dict.count, 4)
        try b.load(stateDict: dict)
        for ((_, x), (_, y)) in zip(a.namedParameters(), b.namedParameters()) {
            XCTAssertEqual(x.toArray(), y.toArray())
        }
        let before = b.parameters.map { $0.toArray() }
        dict["layers.1.bias"] = Tensor(shape: [2], data: [.nan, 0])
        XCTAssertThrowsError(try b.load(stateDict: dict)) {
            XCTAssertEqual($0 as? StateDictError, .nonFinite("layers.1.bias"))
        }
        XCTAssertEqual(b.parameters.map { $0.toArray() }, before, "nothing copied")
        dict["layers.1.bias"] = Tensor.zeros([3])
        XCTAssertThrowsError(try b.load(stateDict: dict)) {
            XCTAssertEqual($0 as? StateDictError, .shapeMismatch(name: "layers.1.bias", found: [3], expected: [2]))
        }
        dict["layers.1.bias"] = nil
        XCTAssertThrowsError(try b.load(stateDict: dict)) {
            XCTAssertEqual($0 as? StateDictError, .missing("layers.1.bias"))
        }
        XCTAssertNoThrow(try b.load(stateDict: dict, strict: false))
        dict["extra"] = Tensor.zeros([1])
        XCTAssertThrowsError(try b.load(stateDict: dict, strict: true)) {
            XCTAssertEqual($0 as? StateDictError, .unexpected("extra"))
        }
    }
}
