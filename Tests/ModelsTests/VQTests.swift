import Compute
import Models
import NN
import TestSupport
import XCTest

final class VectorQuantizerTests: XCTestCase {
    /// Inputs from 64 clusters away from the origin, a codebook of 32 initialised (as usual) in a tiny box around the origin:
    /// without restarts most codes are never chosen and stay dead; with dead-code restart more than 90 %
    /// are in use at the end. Both runs are measured here, for the loss-trained and the EMA codebook.
    func testDeadCodeRestartKeepsTheCodebookInUse() {
        var rng = RNG(seed: 11)
        let D = 8
        // Encoder outputs rarely sit around the origin: the clusters share an offset, so a codebook
        // initialised near zero sees them all from one side.
        let centres = (Tensor.randn([64, D], std: 1, rng: &rng) + 4).toArray()
        func batch(_ n: Int) -> Tensor {
            var xs: [Float] = []
            for _ in 0..<n {
                let c = rng.int(below: 64)
                for d in 0..<D { xs.append(centres[c * D + d] + 0.1 * rng.normal()) }
            }
            return Tensor(shape: [n, D, 1, 1], data: xs)
        }
        for ema in [false, true] {
            var used: [Bool: Double] = [:]
            for restart in [false, true] {
                var initRNG = RNG(seed: 5)
                let q = VectorQuantizer(codes: 32, dim: D, ema: ema, rng: &initRNG)
                let opt = q.weight.map { Adam([$0], lr: 0.05) }
                var stepRNG = RNG(seed: 6)
                for _ in 0..<200 {
                    q.zeroGrad()
                    let out = q(batch(256), restartAfter: restart ? 20 : nil, rng: &stepRNG)
                    if let opt {
                        out.loss.backward()
                        opt.step()
                    }
                }
                // Usage over a fresh evaluation set.
                q.train(false)
                let out = q(batch(4096), rng: &stepRNG)
                used[restart] = Double(Set(out.indices).count) / 32
                if restart { XCTAssertGreaterThan(q.restarts, 0) }
            }
            XCTAssertLessThan(used[false]!, 0.5, "ema \(ema): without restart codes stay dead (\(used[false]!))")
            XCTAssertGreaterThan(used[true]!, 0.9, "ema \(ema): with restart the codebook is used (\(used[true]!))")
        }
    }

    /// z_st = z_e + sg(z_q − z_e): forward it equals the chosen codes, backward it passes the gradient
    /// to z_e unchanged (∂L/∂z_e = ∂L/∂z_q evaluated at z_q).
    func testStraightThroughGradientsMatchTheirDefinition() {
        var rng = RNG(seed: 2)
        let q = VectorQuantizer(codes: 16, dim: 4, ema: true, rng: &rng)
        q.train(false)
        noGrad { q.codebook.assign(Tensor.randn([16, 4], rng: &rng)) }
        let z = Tensor.randn([2, 4, 3, 3], rng: &rng).requiringGrad()
        let target = Tensor.randn([2, 4, 3, 3], rng: &rng)
        var r2 = RNG(seed: 1)
        let out = q(z, rng: &r2)
        // Forward: the chosen codes, and each is the nearest.
        let zq = q.codebook.indexSelect(out.indices).reshape([2, 3, 3, 4]).permute([0, 3, 1, 2]).contiguous()
        assertClose(out.quantized.toArray(), zq.toArray(), atol: 1e-6)
        let zf = z.detach().permute([0, 2, 3, 1]).reshape([18, 4]).toArray()
        let e = q.codebook.toArray()
        for i in 0..<18 {
            let d = (0..<16).map { k in (0..<4).reduce(Float(0)) { $0 + pow(zf[i * 4 + $1] - e[k * 4 + $1], 2) } }
            XCTAssertEqual(out.indices[i], d.indices.min { d[$0] < d[$1] }!)
        }
        // Backward: L = Σ (z_st − t)² ⇒ ∂L/∂z_e = 2 (z_q − t).
        (out.quantized - target).square().sum().backward()
        let expected = ((zq - target) * 2).toArray()
        assertClose(z.grad!.toArray(), expected, atol: 1e-5)
    }
}
