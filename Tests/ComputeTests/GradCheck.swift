import Compute
import XCTest

/// Central finite differences of L = Σ wᵢ·f(x)ᵢ (random fixed weights w, sum in Double) against
/// autograd, for every element of every input. Returns the largest normalised difference.
@discardableResult
func gradCheck(_ name: String, _ inputs: [Tensor], eps: Float = 1e-3, atol: Double = 2e-3, rtol: Double = 2e-2,
               file: StaticString = #filePath, line: UInt = #line, _ f: ([Tensor]) -> Tensor) -> Double {
    for t in inputs { t.requiresGrad = true; t.grad = nil }
    let y0 = f(inputs)
    var rng = RNG(seed: 99)
    let w = Tensor.randn(y0.shape, rng: &rng)
    func loss() -> Double {
        let y = noGrad { f(inputs) }.toArray()
        let wa = w.toArray()
        var s = 0.0
        for i in 0..<y.count { s += Double(y[i]) * Double(wa[i]) }
        return s
    }
    (y0 * w).sum().backward()
    var worst = 0.0
    for (k, t) in inputs.enumerated() {
        guard let g = t.grad else { XCTFail("\(name): input \(k) got no gradient", file: file, line: line); continue }
        XCTAssertEqual(g.shape, t.shape, "\(name): gradient shape", file: file, line: line)
        let ga = g.toArray()
        precondition(t.isContiguous)
        for i in 0..<t.count {
            let old = t.data[i]
            t.data[i] = old + eps; let lp = loss()
            t.data[i] = old - eps; let lm = loss()
            t.data[i] = old
            let num = (lp - lm) / (2 * Double(eps))
            let diff = abs(num - Double(ga[i]))
            let tol = atol + rtol * abs(num)
            worst = max(worst, diff / tol)
            if diff > tol {
                XCTFail("\(name): input \(k) element \(i): autograd \(ga[i]) vs finite difference \(num)", file: file, line: line)
                return worst
            }
        }
    }
    return worst
}

func randn(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    var r = RNG(seed: seed)
    return Tensor.randn(shape, std: scale, rng: &r)
}

/// Values away from 0 (for ops with a kink there: relu, abs, max ties).
func randnAwayFromZero(_ shape: [Int], seed: UInt64) -> Tensor {
    let t = randn(shape, seed: seed)
    for i in 0..<t.count { let v = t.data[i]; t.data[i] = v + (v >= 0 ? 0.1 : -0.1) }
    return t
}

func assertClose(_ a: [Float], _ b: [Float], atol: Float = 1e-4, rtol: Float = 1e-4, _ msg: String = "",
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "\(msg): sizes", file: file, line: line)
    for i in 0..<min(a.count, b.count) {
        if !(abs(a[i] - b[i]) <= atol + rtol * abs(b[i])) {
            XCTFail("\(msg): element \(i): \(a[i]) vs \(b[i])", file: file, line: line)
            return
        }
    }
}
