// Central finite differences against autograd, for tests and for anyone adding an op:
// L = Σ wᵢ·f(x)ᵢ with fixed random weights w (summed in Double), perturbing one element at a time.

public enum GradientCheck {
    public struct Mismatch: CustomStringConvertible {
        public let input: Int, element: Int
        public let autograd: Double, numeric: Double
        public var description: String {
            "input \(input) element \(element): autograd \(autograd) vs finite difference \(numeric)"
        }
    }

    /// Returns the first element whose gradient differs by more than atol + rtol·|numeric|, or nil,
    /// and the worst ratio of difference to tolerance seen. Inputs must be contiguous leaves.
    public static func check(
        _ inputs: [Tensor], eps: Float = 1e-3, atol: Double = 2e-3, rtol: Double = 2e-2,
        _ f: ([Tensor]) -> Tensor
    ) -> (mismatch: Mismatch?, worst: Double) {
        for t in inputs {
            precondition(t.isContiguous, "gradient check inputs must be contiguous")
            t.requiresGrad = true
            t.grad = nil
        }
        let y0 = f(inputs)
        var rng = RNG(seed: 99)
        let w = Tensor.randn(y0.shape, rng: &rng)
        let wa = w.toArray()
        func loss() -> Double {
            let y = noGrad { f(inputs) }.toArray()
            var s = 0.0
            for i in 0..<y.count { s += Double(y[i]) * Double(wa[i]) }
            return s
        }
        (y0 * w).sum().backward()
        var worst = 0.0
        for (k, t) in inputs.enumerated() {
            let ga = t.grad?.toArray() ?? [Float](repeating: 0, count: t.count)
            for i in 0..<t.count {
                let old = t.data[i]
                t.data[i] = old + eps
                let lp = loss()
                t.data[i] = old - eps
                let lm = loss()
                t.data[i] = old
                let num = (lp - lm) / (2 * Double(eps))
                let diff = Swift.abs(num - Double(ga[i]))
                let tol = atol + rtol * Swift.abs(num)
                worst = Swift.max(worst, diff / tol)
                if diff > tol { return (Mismatch(input: k, element: i, autograd: Double(ga[i]), numeric: num), worst) }
            }
        }
        return (nil, worst)
    }
}
