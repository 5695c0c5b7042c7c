import Compute
import Models
import NN
import TestSupport
import XCTest

final class MoETests: XCTestCase {
    func layer(balancing: MoEBalancing = .auxFree, shared: Int = 1) -> DeepSeekMoE {
        var c = MoEConfig()
        c.routedExperts = 6
        c.sharedExperts = shared
        c.topK = 2
        c.expertHidden = 8
        c.balancing = balancing
        c.biasUpdate = 0.1
        var rng = RNG(seed: 4)
        return DeepSeekMoE(width: 16, c, rng: &rng)
    }

    /// The grouped dispatch (tokens gathered by expert, one pass per expert, one scatter back) equals
    /// the layer computed token by token from the same routing; gates are the chosen affinities
    /// normalised to sum to 1; every parameter that took part gets a gradient.
    func testDispatchEqualsTheDenseReference() {
        for shared in [0, 1] {
            let m = layer(shared: shared)
            var rng = RNG(seed: 9)
            let x = Tensor.randn([3, 7, 16], rng: &rng).requiringGrad()
            let y = m(x, sequences: 3)
            let r = m.lastRouting
            XCTAssertEqual(r.tokens, 21)
            XCTAssertEqual(r.counts.reduce(0, +), 42)
            for t in 0..<21 {
                XCTAssertEqual(r.gates[2 * t] + r.gates[2 * t + 1], 1, accuracy: 1e-5)
                XCTAssertNotEqual(r.experts[2 * t], r.experts[2 * t + 1])
            }
            let ref = m.reference(x, experts: r.experts, gates: r.gates)
            XCTAssertEqual(y.shape, [3, 7, 16])
            assertClose(y.toArray(), ref.toArray(), atol: 1e-5, rtol: 1e-4)
            y.square().sum().backward()
            XCTAssertNotNil(x.grad)
            XCTAssertGreaterThan(m.router.grad!.abs().sum().item(), 0, "the router learns through the gates")
            for e in 0..<6 where r.counts[e] > 0 { XCTAssertNotNil(m.experts[e].gate.weight.grad, "expert \(e)") }
            for e in 0..<6 where r.counts[e] == 0 { XCTAssertNil(m.experts[e].gate.weight.grad, "unused expert \(e)") }
        }
    }

    /// The gradient of the layer's output by its input, routing held fixed, matches finite differences.
    func testGradientMatchesFiniteDifferences() {
        let m = layer(shared: 1)
        var rng = RNG(seed: 2)
        let x0 = Tensor.randn([4, 16], rng: &rng).toArray()
        let w = Tensor.randn([4, 16], rng: &rng)
        let x = Tensor(shape: [4, 16], data: x0).requiringGrad()
        (m(x) * w).sum().backward()
        let analytic = x.grad!.toArray()
        let routing = m.lastRouting.experts
        let eps: Float = 1e-2
        for i in stride(from: 0, to: 64, by: 7) {
            var p = x0
            var q = x0
            p[i] += eps
            q[i] -= eps
            let fp = noGrad { (m(Tensor(shape: [4, 16], data: p)) * w).sum().item() }
            let rp = m.lastRouting.experts
            let fq = noGrad { (m(Tensor(shape: [4, 16], data: q)) * w).sum().item() }
            guard rp == routing && m.lastRouting.experts == routing else { continue }  // the choice flipped
            XCTAssertEqual(analytic[i], (fp - fq) / (2 * eps), accuracy: 2e-2 * max(1, abs(analytic[i])), "x[\(i)]")
        }
    }

    /// The bias chooses but does not weigh: a large bias on one expert makes every token pick it, and
    /// its gate is still its normalised affinity. Aux-free's update moves the bias against the load.
    func testBiasSelectsAndTheUpdateBalances() {
        let m = layer()
        var rng = RNG(seed: 5)
        let x = Tensor.randn([10, 16], rng: &rng)
        var b = [Float](repeating: 0, count: 6)
        b[3] = 10
        m.bias.value.assign(Tensor(shape: [6], data: b))
        _ = noGrad { m(x) }
        let r = m.lastRouting
        for t in 0..<10 { XCTAssertTrue(r.experts[2 * t] == 3 || r.experts[2 * t + 1] == 3) }
        XCTAssertEqual(r.counts[3], 10)
        XCTAssertGreaterThan(r.maxOverMean, 2.9)
        m.updateBias()
        let after = m.bias.value.toArray()
        XCTAssertEqual(after[3], 10 - 0.1, accuracy: 1e-6, "the overloaded expert's bias falls by γ")
        for e in [0, 1, 2, 4, 5] where r.counts[e] < 20 / 6 { XCTAssertEqual(after[e], 0.1, accuracy: 1e-6) }
    }

    /// The classic auxiliary loss is α at perfect balance and larger when the load concentrates.
    func testAuxiliaryLossGrowsWithImbalance() {
        let m = layer(balancing: .auxLoss)
        var rng = RNG(seed: 6)
        let x = Tensor.randn([64, 16], rng: &rng)
        _ = m(x)
        let balanced = m.lastBalanceLoss!.item()
        var b = [Float](repeating: 0, count: 6)
        b[0] = 5
        b[1] = 5
        m.bias.value.assign(Tensor(shape: [6], data: b))
        _ = m(x)
        let skewed = m.lastBalanceLoss!.item()
        XCTAssertGreaterThan(skewed, balanced, "\(balanced) → \(skewed)")
        XCTAssertEqual(balanced, 0.01, accuracy: 0.005)
    }
}
