// Activations. Fused forward kernels; the backward uses a fused derivative kernel on the fast path
// and the op's composite definition when the backward itself is being recorded (createGraph).
import CKernels
import Foundation

extension Tensor {
    public func relu() -> Tensor { leakyRelu(0) }

    /// max(x, 0) + slope·min(x, 0). The backward is one fused pass (g where x > 0, else slope·g); when
    /// it is itself recorded it is g times a constant mask (the second derivative is zero).
    public func leakyRelu(_ slope: Float = 0.01) -> Tensor {
        let out = Kernels.unary(self, LeakyF(slope: slope))
        let xd = detach()
        return out.recorded(slope == 0 ? "relu" : "leakyRelu", [self]) { g in
            if GradMode.isEnabled { return [g * Kernels.unary(xd, StepF(slope: slope))] }
            return [Kernels.binary(g, xd, LeakyGradF(slope: slope))]
        }
    }

    public func sigmoid() -> Tensor {
        let out = Kernels.unary(self, ClosureMap { 1 / (1 + Foundation.exp(-$0)) })
        let od = out.detach()
        return out.recorded("sigmoid", [self]) { g in
            let s = GradMode.isEnabled ? self.sigmoid() : od
            return [g * s * (1 - s)]
        }
    }

    public func tanh() -> Tensor {
        let c = contiguousRaw()
        let out = Tensor.empty(shape)
        let (src, dst) = (c.data, out.data)
        Profiler.scope(.elementwise, bytes: 8 * Double(count)) {
            Parallel.forRanges(count, grain: 1 << 14) { r in orr_vtanh(src + r.lowerBound, dst + r.lowerBound, r.count)
            }
        }
        let od = out.detach()
        return out.recorded("tanh", [self]) { g in
            let t = GradMode.isEnabled ? self.tanh() : od
            return [g * (1 - t * t)]
        }
    }

    /// Gauss error function.
    public func erf() -> Tensor {
        let out = Kernels.unary(self, ClosureMap { Foundation.erf($0) })
        return out.recorded("erf", [self]) { g in [g * (-(self * self)).exp() * Float(2 / Double.pi.squareRoot())] }
    }

    public enum GELUApproximation: Sendable { case none, tanh }

    /// GELU: x·Φ(x) (exact, PyTorch's default) or the tanh approximation (GPT-2's "gelu_new").
    public func gelu(approximate: GELUApproximation = .none) -> Tensor {
        let k = Float((2 / Double.pi).squareRoot())
        let out: Tensor
        let deriv: Tensor
        switch approximate {
        case .none:
            out = Kernels.unary(self, ClosureMap { 0.5 * $0 * (1 + Foundation.erf($0 * 0.70710678)) })
            deriv = Kernels.unary(
                self,
                ClosureMap { x in
                    0.5 * (1 + Foundation.erf(x * 0.70710678)) + x * 0.39894228 * Foundation.exp(-0.5 * x * x)
                })
        case .tanh:
            out = Kernels.unary(
                self, ClosureMap { x in 0.5 * x * (1 + Foundation.tanh(k * (x + 0.044715 * x * x * x))) })
            deriv = Kernels.unary(
                self,
                ClosureMap { x in
                    let t = Foundation.tanh(k * (x + 0.044715 * x * x * x))
                    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)
                })
        }
        return out.recorded("gelu", [self]) { g in
            if GradMode.isEnabled {
                return Autograd.compositeVJP([self], g) { i in
                    let x = i[0]
                    switch approximate {
                    case .none: return x * 0.5 * ((x * Float(0.70710678)).erf() + 1)
                    case .tanh: return x * 0.5 * (((x + x.pow(3) * 0.044715) * k).tanh() + 1)
                    }
                }
            }
            return [g * deriv]
        }
    }

    /// SiLU (swish): x·σ(x).
    public func silu() -> Tensor {
        let x = contiguousRaw()
        let out = Tensor.empty(shape)
        let n = count
        let xp = x.data
        let op = out.data
        Profiler.scope(.elementwise, bytes: 8 * Double(n)) {
            Parallel.forRanges(n, grain: 1 << 15) { r in orr_silu(xp + r.lowerBound, op + r.lowerBound, r.count) }
        }
        return out.recorded("silu", [self]) { g in
            if GradMode.isEnabled { return Autograd.compositeVJP([self], g) { i in i[0] * i[0].sigmoid() } }
            let gc = g.contiguousRaw()
            let dx = Tensor.empty(self.shape)
            let gp = gc.data
            let dp = dx.data
            Profiler.scope(.elementwise, bytes: 12 * Double(n)) {
                Parallel.forRanges(n, grain: 1 << 15) { r in
                    orr_silu_backward(xp + r.lowerBound, gp + r.lowerBound, dp + r.lowerBound, r.count)
                }
            }
            return [dx]
        }
    }

    /// silu(self) · up, fused (SwiGLU's gate): one pass forward and one backward instead of a SiLU, a
    /// product and the backward of each.
    public func swiglu(_ up: Tensor) -> Tensor {
        precondition(shape == up.shape, "swiglu: gate \(shape) and up \(up.shape) differ")
        let g = contiguousRaw()
        let u = up.contiguousRaw()
        let out = Tensor.empty(shape)
        let n = count
        Profiler.scope(.elementwise, bytes: 12 * Double(n)) {
            Parallel.forRanges(n, grain: 1 << 15) { r in
                orr_swiglu(g.data + r.lowerBound, u.data + r.lowerBound, out.data + r.lowerBound, r.count)
            }
        }
        return out.recorded("swiglu", [self, up]) { gr in
            if GradMode.isEnabled {
                return Autograd.compositeVJP([self, up], gr) { i in i[0] * i[0].sigmoid() * i[1] }
            }
            let gc = gr.contiguousRaw()
            let dg = Tensor.empty(self.shape)
            let du = Tensor.empty(self.shape)
            Profiler.scope(.elementwise, bytes: 20 * Double(n)) {
                Parallel.forRanges(n, grain: 1 << 15) { r in
                    let o = r.lowerBound
                    orr_swiglu_backward(g.data + o, u.data + o, gc.data + o, dg.data + o, du.data + o, r.count)
                }
            }
            return [self.requiresGrad ? dg : nil, up.requiresGrad ? du : nil]
        }
    }

    /// SwiGLU over the halves of the last dimension: x [..., 2F] = (gate | up) → silu(gate) · up
    /// [..., F]. With it the gate and up projections run as one GEMM against their stacked weights
    /// (twice as wide, and one input gradient instead of two and their sum).
    ///
    /// `computed`: the result, already written by `swigluHalvesRows` (a GEMM epilogue, say); only the
    /// gradient is recorded.
    public func swigluHalves(computed: Tensor? = nil) -> Tensor {
        let f2 = shape[rank - 1]
        precondition(f2 % 2 == 0, "swigluHalves: last dimension \(f2) is odd")
        let f = f2 / 2
        let x = contiguousRaw()
        let rows = count / Swift.max(1, f2)
        var outShape = shape
        outShape[rank - 1] = f
        precondition(
            computed == nil || (computed!.shape == outShape && isContiguous), "swigluHalves: computed \(outShape)")
        let out = computed ?? Tensor.empty(outShape)
        let grain = Swift.max(1, (1 << 15) / Swift.max(1, f))
        if computed == nil {
            Profiler.scope(.elementwise, bytes: 12 * Double(rows * f)) {
                Parallel.forRanges(rows, grain: grain) { r in
                    orr_swiglu_halves(x.data + r.lowerBound * f2, f2, f, out.data + r.lowerBound * f, r.count)
                }
            }
        }
        return out.recorded("swigluHalves", [self]) { gr in
            if GradMode.isEnabled {
                return Autograd.compositeVJP([self], gr) { i in
                    let gate = i[0].slice(i[0].rank - 1, 0, f)
                    return gate * gate.sigmoid() * i[0].slice(i[0].rank - 1, f, f2)
                }
            }
            let gc = gr.contiguousRaw()
            let dx = Tensor.empty(self.shape)
            Profiler.scope(.elementwise, bytes: 20 * Double(rows * f)) {
                Parallel.forRanges(rows, grain: grain) { r in
                    let o = r.lowerBound
                    orr_swiglu_halves_backward(x.data + o * f2, f2, f, gc.data + o * f, dx.data + o * f2, r.count)
                }
            }
            return [dx]
        }
    }

    /// A SwiGLU MLP's down projection with its residual: swigluHalves(self) · other + residual, for
    /// the stacked (gate | up) product self [..., 2F] whose activation h [..., F] is already computed
    /// (by the gate/up product's epilogue). One node, whose backward runs SwiGLU's backward as the
    /// epilogue of the product that gives h's gradient, in place in self's gradient: h's gradient is
    /// never written out and read back (5.8 MB a layer at 4 × 128, T 128, B 32). Values and gradients
    /// are those of `swigluHalves(computed: h).matmul(other, adding: residual)`.
    public func swigluHalvesMatmul(_ other: Tensor, computed h: Tensor, adding residual: Tensor) -> Tensor {
        let f2 = shape[rank - 1]
        let f = f2 / 2
        precondition(
            f2 % 2 == 0 && other.rank == 2 && other.shape[0] == f && h.shape == shape.dropLast() + [f]
                && h.isContiguous,
            "swigluHalvesMatmul: \(shape), h \(h.shape), other \(other.shape)")
        let y = GradMode.with(false) { h.matmul(other, adding: residual) }
        let x = contiguousRaw()
        let inputs = [self, other, residual]
        return y.recorded("swigluHalvesMatmul", inputs) { g in
            if GradMode.isEnabled {
                return Autograd.compositeVJP(inputs, g) { i in i[0].swigluHalves().matmul(i[1]) + i[2] }
            }
            let gc = g.contiguousRaw()
            let dOther = other.requiresGrad ? Tensor.matmulGradient(of: other, input: h, gc) : nil
            var dx: Tensor? = nil
            if self.requiresGrad {
                // h's gradient g · otherᵀ lands in the up half of each row of dx, where the epilogue
                // reads it (from cache) and writes both halves.
                let d = Tensor.empty(self.shape)
                let n = other.shape[1]
                Kernels.gemm(
                    M: x.count / f2, N: f, K: n, A: gc.data, rsA: n, csA: 1, B: other.data, rsB: other.strides[1],
                    csB: other.strides[0], C: d.data + f, rsC: f2, csC: 1
                ) { r0, r1 in
                    orr_swiglu_halves_backward_inplace(x.data + r0 * f2, f2, f, d.data + r0 * f2, r1 - r0)
                }
                dx = d
            }
            return [dx, dOther, residual.requiresGrad ? g : nil]
        }
    }

    /// Rows [r0, r1) of `swigluHalves` of a contiguous x [rows, 2F] into out [rows, F], unrecorded.
    public static func swigluHalvesRows(_ x: Tensor, into out: Tensor, _ r0: Int, _ r1: Int) {
        let f2 = x.shape[x.rank - 1]
        let f = f2 / 2
        precondition(x.isContiguous && out.isContiguous && out.shape[out.rank - 1] == f, "swigluHalvesRows: layout")
        if r1 > r0 { orr_swiglu_halves(x.data + r0 * f2, f2, f, out.data + r0 * f, r1 - r0) }
    }

    /// softplus(x) = log(1 + eˣ), computed stably.
    public func softplus() -> Tensor {
        let out = Kernels.unary(self, ClosureMap { x in x > 20 ? x : Foundation.log1p(Foundation.exp(x)) })
        return out.recorded("softplus", [self]) { g in [g * self.sigmoid()] }
    }

    /// Inverted dropout: zeroes each element with probability p and scales the rest by 1/(1−p).
    public func dropout(_ p: Float, rng: inout RNG) -> Tensor {
        if p <= 0 { return self }
        let mask = Tensor.empty(shape)
        let keep = 1 / (1 - p)
        for i in 0..<mask.count { mask.data[i] = rng.uniform() < p ? 0 : keep }
        return self * mask
    }
}

struct LeakyF: UnaryMap {
    let slope: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { x > 0 ? x : x * slope }
}
struct StepF: UnaryMap {
    let slope: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { x > 0 ? 1 : slope }
}
struct LeakyGradF: BinaryMap {
    let slope: Float
    @inline(__always) func callAsFunction(_ g: Float, _ x: Float) -> Float { x > 0 ? g : g * slope }
}
