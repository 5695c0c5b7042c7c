import Compute
import XCTest

/// Fails the test at the first gradient that disagrees with central finite differences.
@discardableResult
func gradCheck(
    _ name: String, _ inputs: [Tensor], eps: Float = 1e-3, atol: Double = 2e-3, rtol: Double = 2e-2,
    file: StaticString = #filePath, line: UInt = #line, _ f: ([Tensor]) -> Tensor
) -> Double {
    let (bad, worst) = GradientCheck.check(inputs, eps: eps, atol: atol, rtol: rtol, f)
    if let m = bad { XCTFail("\(name): \(m)", file: file, line: line) }
    return worst
}

func randn(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    var r = RNG(seed: seed)
    return Tensor.randn(shape, std: scale, rng: &r)
}

/// Values away from 0 (for ops with a kink there: relu, abs, max ties).
func randnAwayFromZero(_ shape: [Int], seed: UInt64) -> Tensor {
    let t = randn(shape, seed: seed)
    for i in 0..<t.count {
        let v = t.data[i]
        t.data[i] = v + (v >= 0 ? 0.1 : -0.1)
    }
    return t
}
