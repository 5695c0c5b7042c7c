// Differentiable elementwise arithmetic with NumPy broadcasting. Each op: forward kernel, then a
// backward written in differentiable ops (so it can be differentiated again).
import Foundation

extension Tensor {
    /// Sums a broadcast gradient back to `target` shape (leading dims and size-1 dims).
    public func sumTo(_ target: [Int]) -> Tensor {
        if shape == target { return self }
        let lead = rank - target.count
        precondition(lead >= 0, "sumTo: cannot reduce \(shape) to \(target)")
        var dims: [Int] = Array(0..<lead)
        for i in 0..<target.count where target[i] == 1 && shape[lead + i] != 1 { dims.append(lead + i) }
        let raw = Kernels.sum(self, dims: dims)
        let out = Tensor(storage: raw.storage, shape: target, strides: Tensor.contiguousStrides(target))
        let inShape = shape
        return out.recorded("sumTo", [self]) { g in [g.expand(inShape)] }
    }

    static func binaryOp<F: BinaryMap>(
        _ a: Tensor, _ b: Tensor, _ f: F, _ name: String,
        _ backward: @escaping (Tensor) -> (Tensor?, Tensor?)
    ) -> Tensor {
        let out = Kernels.binary(a, b, f)
        let sa = a.shape
        let sb = b.shape
        return out.recorded(name, [a, b]) { g in
            let (ga, gb) = backward(g)
            return [ga?.sumTo(sa), gb?.sumTo(sb)]
        }
    }

    public static func + (a: Tensor, b: Tensor) -> Tensor {
        binaryOp(a, b, AddF(), "add") { g in (a.requiresGrad ? g : nil, b.requiresGrad ? g : nil) }
    }
    public static func - (a: Tensor, b: Tensor) -> Tensor {
        binaryOp(a, b, SubF(), "sub") { g in (a.requiresGrad ? g : nil, b.requiresGrad ? -g : nil) }
    }
    public static func * (a: Tensor, b: Tensor) -> Tensor {
        binaryOp(a, b, MulF(), "mul") { g in (a.requiresGrad ? g * b : nil, b.requiresGrad ? g * a : nil) }
    }
    public static func / (a: Tensor, b: Tensor) -> Tensor {
        binaryOp(a, b, DivF(), "div") { g in
            (a.requiresGrad ? g / b : nil, b.requiresGrad ? -(g * a) / (b * b) : nil)
        }
    }

    public static prefix func - (a: Tensor) -> Tensor { a.affine(scale: -1, shift: 0) }

    /// x·scale + shift (scalars).
    public func affine(scale: Float, shift: Float) -> Tensor {
        let out = Kernels.unary(self, AffineF(scale: scale, shift: shift))
        return out.recorded("affine", [self]) { g in [g.affine(scale: scale, shift: 0)] }
    }

    public static func + (a: Tensor, s: Float) -> Tensor { a.affine(scale: 1, shift: s) }
    public static func + (s: Float, a: Tensor) -> Tensor { a.affine(scale: 1, shift: s) }
    public static func - (a: Tensor, s: Float) -> Tensor { a.affine(scale: 1, shift: -s) }
    public static func - (s: Float, a: Tensor) -> Tensor { a.affine(scale: -1, shift: s) }
    public static func * (a: Tensor, s: Float) -> Tensor { a.affine(scale: s, shift: 0) }
    public static func * (s: Float, a: Tensor) -> Tensor { a.affine(scale: s, shift: 0) }
    public static func / (a: Tensor, s: Float) -> Tensor { a.affine(scale: 1 / s, shift: 0) }

    /// Elementwise power with a constant exponent.
    public func pow(_ p: Float) -> Tensor {
        if p == 1 { return self }
        let out: Tensor
        if p == 2 { out = Kernels.unary(self, PowF(p: 2)) } else { out = Kernels.unary(self, PowF(p: p)) }
        return out.recorded("pow", [self]) { g in [g * self.pow(p - 1) * p] }
    }

    public func square() -> Tensor { pow(2) }

    public func sqrt() -> Tensor {
        let out = Kernels.unary(self, ClosureMap { $0.squareRoot() })
        let od = out.detach()
        return out.recorded("sqrt", [self]) { g in
            [GradMode.isEnabled ? g / (self.sqrt() * 2) : g / (od * 2)]
        }
    }

    public func exp() -> Tensor {
        let out = Kernels.expTensor(self)
        let od = out.detach()
        return out.recorded("exp", [self]) { g in [g * (GradMode.isEnabled ? self.exp() : od)] }
    }

    public func log() -> Tensor {
        let out = Kernels.unary(self, ClosureMap { Foundation.log($0) })
        return out.recorded("log", [self]) { g in [g / self] }
    }

    public func abs() -> Tensor {
        let out = Kernels.unary(self, ClosureMap { Swift.abs($0) })
        return out.recorded("abs", [self]) { g in [g * self.sign()] }
    }

    /// −1, 0 or +1 (not differentiable: its gradient is zero almost everywhere).
    public func sign() -> Tensor {
        Kernels.unary(self, ClosureMap { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) })
    }

    /// Elementwise maximum of two tensors (gradient to the larger; ties to the first).
    public func maximum(_ other: Tensor) -> Tensor {
        let maskA = Kernels.binary(self, other, GEMaskF())
        let maskB = maskA.affine(scale: -1, shift: 1).detach()
        let out = self * maskA + other * maskB
        return out
    }

    public func clamp(min lo: Float = -.infinity, max hi: Float = .infinity) -> Tensor {
        let out = Kernels.unary(self, ClosureMap { Swift.min(Swift.max($0, lo), hi) })
        let mask = Kernels.unary(self, ClosureMap { $0 >= lo && $0 <= hi ? 1 : 0 })
        return out.recorded("clamp", [self]) { g in [g * mask] }
    }
}

struct PowF: UnaryMap {
    let p: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { p == 2 ? x * x : Foundation.pow(x, p) }
}
struct GEMaskF: BinaryMap { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a >= b ? 1 : 0 } }
