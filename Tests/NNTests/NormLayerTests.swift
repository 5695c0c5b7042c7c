// The normalisation layers' fused activations and BatchNorm's running statistics, against the same
// quantities computed the long way.
import Compute
import NN
import XCTest

final class NormLayerTests: XCTestCase {
    func testFusedActivationEqualsNormThenActivation() {
        var rng = RNG(seed: 7)
        let x = Tensor.randn([3, 8, 37], rng: &rng)
        let gn = GroupNorm(groups: 4, channels: 8)
        gn.weight.assign(Tensor.randn([8], rng: &rng))
        gn.bias.assign(Tensor.randn([8], rng: &rng))
        let cases: [(NormActivation, (Tensor) -> Tensor)] = [
            (.silu, { $0.silu() }), (.leakyRelu(0.2), { $0.leakyRelu(0.2) }), (.leakyRelu(0), { $0.relu() }),
        ]
        for (act, f) in cases {
            let xa = x.detach().requiringGrad()
            let xb = x.detach().requiringGrad()
            let up = Tensor.randn([3, 8, 37], rng: &rng)
            gn.zeroGrad()
            let fused = gn(xa, activation: act)
            (fused * up).sum().backward()
            let fusedW = gn.weight.grad!.toArray()
            gn.zeroGrad()
            let plain = f(gn(xb))
            (plain * up).sum().backward()
            XCTAssertLessThan(maxDiff(fused, plain), 1e-5, "\(act) forward")
            XCTAssertLessThan(maxDiff(xa.grad!, xb.grad!), 1e-4, "\(act) dx")
            XCTAssertLessThan(zip(fusedW, gn.weight.grad!.toArray()).map { abs($0 - $1) }.max()!, 1e-3, "\(act) dw")
        }
    }

    func testBatchNormRunningStatisticsFromTheKernel() {
        var rng = RNG(seed: 9)
        let C = 5
        let x = Tensor.randn([C, 4, 6, 6], rng: &rng) * 3 + 2
        let bn = BatchNorm2d(C, momentum: 1)  // running statistics = this batch's
        _ = bn.channelMajor(x, activation: .leakyRelu(0.2))
        let rows = x.reshape([C, 4 * 36])
        let mean = rows.mean(1).toArray()
        let unbiased = (rows.variance([1]) * (Float(144) / 143)).toArray()
        for c in 0..<C {
            XCTAssertEqual(bn.runningMean.value.toArray()[c], mean[c], accuracy: 1e-4)
            XCTAssertEqual(bn.runningVar.value.toArray()[c], unbiased[c], accuracy: 1e-3 * unbiased[c])
        }
    }

    private func maxDiff(_ a: Tensor, _ b: Tensor) -> Float {
        zip(a.toArray(), b.toArray()).map { abs($0 - $1) }.max() ?? 0
    }
}
