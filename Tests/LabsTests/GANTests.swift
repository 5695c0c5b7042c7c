import Compute
import Labs
import Models
import NN
import TestSupport
import XCTest

final class GANTests: XCTestCase {
    /// WGAN-GP on the 8-Gaussian ring: within 1000 generator steps it covers at least 7 of the 8 modes,
    /// the exact W1 between generated and real probe sets falls, and the critic's estimate
    /// E[D(real)] − E[D(fake)] falls with it (strongly correlated, and not above it on average: a
    /// 1-Lipschitz critic's gap is a lower bound).
    func testWGANGPCoversTheRingAndItsEstimateTracksExactW1() throws {
        let c = GANConfig.preset(.wganGP, data: .ring8)
        XCTAssertEqual(c.steps, 1000)
        let s = try GANSession(c)
        var probes: [GANPlaneProbe] = [s.probePlane(grid: 4)]
        for i in 1...c.steps {
            s.trainStep()
            if i % 100 == 0 { probes.append(s.probePlane(grid: 4)) }
        }
        let last = probes.last!
        XCTAssertGreaterThanOrEqual(last.modesHit, 7, "modes covered")
        XCTAssertLessThan(last.exactW1, 0.5 * probes[0].exactW1, "exact W1 falls")
        // From step 200: at step 100 the critic has not found its footing yet.
        let tail = Array(probes.dropFirst(2))
        let est = tail.map(\.estimate)
        let exact = tail.map(\.exactW1)
        XCTAssertLessThan(est.suffix(3).reduce(0, +), est.prefix(3).reduce(0, +), "the estimate falls")
        XCTAssertGreaterThan(pearson(est, exact), 0.6, "estimate \(est) vs exact \(exact)")
        let gap = zip(est, exact).map { $0 - $1 }.reduce(0, +) / Double(est.count)
        XCTAssertLessThan(gap, 0.1, "the estimate stays below the exact W1 on average")
        XCTAssertEqual(last.gradientNorms.count, 256)
        XCTAssertEqual(last.field.count, 4)
    }

    /// Every objective and data kind builds, steps with finite losses, and saves and loads exactly.
    func testEveryObjectiveStepsAndRoundTrips() throws {
        for (objective, data) in [(GANObjective.gan, GANData.twoMoons), (.wgan, .glyphs), (.wganGP, .glyphs)] {
            var c = GANConfig.preset(objective, data: data)
            c.batch = 8
            c.datasetSize = 64
            c.width = 8
            c.latent = 4
            c.steps = 3
            let lab = try GANLab(c)
            for _ in 0..<3 { try lab.advance() }
            XCTAssertTrue(lab.isFinished)
            XCTAssertTrue(lab.session.lossD.allSatisfy(\.isFinite) && lab.session.lossG.allSatisfy(\.isFinite))
            if objective == .wgan {
                XCTAssertTrue(
                    lab.session.critic.parameters.allSatisfy { $0.toArray().allSatisfy { abs($0) <= c.clip } })
            }
            let dir = try temporaryDirectory("gan-\(objective.rawValue)")
            try lab.save(to: dir)
            let back = try GANLab.load(from: dir)
            XCTAssertEqual(back.session.step, 3)
            XCTAssertEqual(back.session.config, c)
            let z = lab.session.fixedNoise
            XCTAssertEqual(back.session.sample(z).toArray(), lab.session.sample(z).toArray())
        }
    }
}

func pearson(_ a: [Double], _ b: [Double]) -> Double {
    let ma = a.reduce(0, +) / Double(a.count)
    let mb = b.reduce(0, +) / Double(b.count)
    var sab = 0.0
    var saa = 0.0
    var sbb = 0.0
    for (x, y) in zip(a, b) {
        sab += (x - ma) * (y - mb)
        saa += (x - ma) * (x - ma)
        sbb += (y - mb) * (y - mb)
    }
    return sab / max((saa * sbb).squareRoot(), 1e-12)
}

final class GradientPenaltyTests: XCTestCase {
    /// The penalty's gradient with respect to the critic's weights (a gradient of a gradient) matches
    /// central finite differences, for an MLP critic and for a conv critic with GroupNorm. Smooth
    /// activations: with (leaky) ReLU the input gradient is piecewise constant in the weights, and a
    /// finite difference that crosses a kink measures the jump, not the derivative.
    func testGradientPenaltyMatchesFiniteDifferences() {
        var rng = RNG(seed: 4)
        let mlp = MLP([2, 6, 6, 1], activation: { $0.tanh() }, rng: &rng)
        let x = Tensor.randn([5, 2], rng: &rng)
        let r = GradientCheck.check(mlp.parameters, eps: 1e-2, atol: 1e-3, rtol: 2e-2) { _ in
            GANLoss.gradientPenalty(critic: { mlp($0).reshape([5]) }, at: x, lambda: 10).penalty
        }
        XCTAssertNil(r.mismatch, "MLP critic: \(r.mismatch.map { "\($0)" } ?? "")")

        // Conv (stride 2) → GroupNorm → softplus → conv over the whole map: DCGAN's critic, smoothed.
        let w1 = Tensor.randn([4, 1, 4, 4], std: 0.3, rng: &rng)
        let gamma = Tensor.randn([4], std: 0.2, rng: &rng) + 1
        let beta = Tensor.randn([4], std: 0.2, rng: &rng)
        let w2 = Tensor.randn([1, 4, 4, 4], std: 0.3, rng: &rng)
        let images = Tensor.randn([3, 1, 8, 8], rng: &rng)
        func critic(_ x: Tensor) -> Tensor {
            let h = x.conv2d(w1, stride: (2, 2), padding: (1, 1)).groupNorm(groups: 2, weight: gamma, bias: beta)
            return h.softplus().conv2d(w2).reshape([x.shape[0]])
        }
        let rc = GradientCheck.check([w1, gamma, beta, w2], eps: 1e-2, atol: 2e-3, rtol: 3e-2) { _ in
            GANLoss.gradientPenalty(critic: critic, at: images, lambda: 10).penalty
        }
        XCTAssertNil(rc.mismatch, "conv critic: \(rc.mismatch.map { "\($0)" } ?? "")")
    }
}
