import Foundation
import Models
import XCTest

final class ScalingLawTests: XCTestCase {
    /// Exact power laws come back exactly; noisy ones within a few per cent of the exponent.
    func testPowerLawFitRecoversExponents() throws {
        let c = (0..<8).map { 1e15 * pow(4.0, Double($0)) }
        // DeepSeek LLM's batch-size and learning-rate laws.
        let b = try XCTUnwrap(ScalingLaws.powerLaw(x: c, y: c.map { 0.292 * pow($0, 0.3271) }))
        XCTAssertEqual(b.exponent, 0.3271, accuracy: 1e-9)
        XCTAssertEqual(b.coefficient, 0.292, accuracy: 1e-9)
        XCTAssertEqual(b.r2, 1, accuracy: 1e-12)
        let eta = try XCTUnwrap(ScalingLaws.powerLaw(x: c, y: c.map { 0.3118 * pow($0, -0.125) }))
        XCTAssertEqual(eta.exponent, -0.125, accuracy: 1e-9)
        // Multiplicative noise of ±5 % (deterministic pattern) moves the exponent only a little.
        let noisy = c.enumerated().map { 2 * pow($0.element, 0.5) * (1 + 0.05 * (($0.offset % 2 == 0) ? 1 : -1)) }
        XCTAssertEqual(try XCTUnwrap(ScalingLaws.powerLaw(x: c, y: noisy)).exponent, 0.5, accuracy: 0.01)
        XCTAssertNil(ScalingLaws.powerLaw(x: [1, 1], y: [2, 3]), "x must vary")
    }

    /// A synthetic Chinchilla-style loss L(M, D) = E + A/M^α + B/D^β with D = C/M: for every budget the
    /// IsoFLOP parabola finds the optimal M, and the fitted M_opt ∝ C^a and D_opt ∝ C^b recover the
    /// analytic exponents a = β/(α+β) and b = α/(α+β).
    /// A lopsided IsoFLOP curve (the real stories sweep at C 1e11: the two largest models badly
    /// undertrained): the minimum comes from the best run and its neighbours, not from a global parabola
    /// that the steep side drags below every measured loss.
    func testIsoFLOPMinimumIsLocal() throws {
        let runs: [(m: Double, loss: Double)] = [(4.9e4, 0.2539), (1.72e5, 0.2469), (3.69e5, 0.7135), (6.39e5, 1.5473)]
        let m = try XCTUnwrap(ScalingLaws.isoFLOPMinimum(runs))
        XCTAssertGreaterThan(m.loss, 0.2, "\(m)")
        XCTAssertLessThanOrEqual(m.loss, 0.2469)
        XCTAssertTrue((4.9e4...3.69e5).contains(m.m), "\(m)")
    }

    func testIsoFLOPMinimaRecoverTheOptimalAllocation() throws {
        let (E, A, B, alpha, beta) = (1.7, 400.0, 900.0, 0.34, 0.28)
        func loss(_ m: Double, _ d: Double) -> Double { E + A / pow(m, alpha) + B / pow(d, beta) }
        // Analytic optimum: M_opt = G·C^(β/(α+β)) with G = (αA/(βB))^(1/(α+β)).
        let a = beta / (alpha + beta)
        let G = pow(alpha * A / (beta * B), 1 / (alpha + beta))
        var minima: [(c: Double, m: Double)] = []
        for k in 0..<6 {
            let C = 1e17 * pow(3.0, Double(k))
            let centre = G * pow(C, a)
            let runs = (-4...4).map { i -> (m: Double, loss: Double) in
                let m = centre * pow(1.6, Double(i) + 0.3)  // a grid not centred on the optimum
                return (m, loss(m, C / m))
            }
            let best = try XCTUnwrap(ScalingLaws.isoFLOPMinimum(runs))
            XCTAssertEqual(log(best.m), log(centre), accuracy: 0.08, "budget \(C)")
            minima.append((C, best.m))
        }
        let fit = try XCTUnwrap(ScalingLaws.optimalAllocation(minima))
        XCTAssertEqual(fit.model.exponent, a, accuracy: 0.01)
        XCTAssertEqual(fit.data.exponent, 1 - a, accuracy: 0.01)
        XCTAssertGreaterThan(fit.model.r2, 0.999)
    }

    func testFLOPsPerTokenAsDeepSeekLLMDefinesIt() {
        // 72·L·d² + 6·L·d·l: the 4 × 128 GPT at context 128.
        XCTAssertEqual(
            ScalingLaws.flopsPerToken(layers: 4, width: 128, context: 128), 72 * 4 * 16384 + 6 * 4 * 128 * 128)
    }
}

final class SaturatingLawTests: XCTestCase {
    /// L = E + k·C^γ comes back with its floor and exponent.
    func testSaturatingPowerLaw() throws {
        let c = (0..<6).map { 1e10 * pow(3.0, Double($0)) }
        let f = try XCTUnwrap(ScalingLaws.saturatingPowerLaw(x: c, y: c.map { 1.2 + 5e3 * pow($0, -0.3) }))
        XCTAssertEqual(f.floor, 1.2, accuracy: 0.02)
        XCTAssertEqual(f.exponent, -0.3, accuracy: 0.02)
    }
}
