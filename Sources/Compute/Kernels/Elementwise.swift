// Elementwise kernels: strided copy, unary maps and broadcasting binary maps. Each op is a small
// struct so generic specialisation turns the loops into straight SIMD code.
import CKernels

public protocol UnaryMap { func callAsFunction(_ x: Float) -> Float }
public protocol BinaryMap { func callAsFunction(_ a: Float, _ b: Float) -> Float }

public struct ClosureMap: UnaryMap {
    let f: (Float) -> Float
    public func callAsFunction(_ x: Float) -> Float { f(x) }
}

public enum Kernels {
    /// dst[...] = src[...] for equal shapes, any strides.
    public static func copy(from src: Tensor, to dst: Tensor) {
        precondition(src.shape == dst.shape, "copy: shapes \(src.shape) and \(dst.shape) differ")
        Profiler.scope(.copy, bytes: 8 * Double(dst.count)) {
            // The transpose of a row-major matrix into a row-major one (a weight gradient made
            // row-major): 4 × 4 register transposes by strips of 16 columns, not an element at a time.
            if src.rank == 2 && dst.isContiguous && src.strides == [1, src.shape[0]] && src.shape[0] > 1
                && src.shape[1] > 1
            {
                let cols = src.shape[0]
                let rows = src.shape[1]
                let a = src.data
                let t = dst.data
                let strips = (cols + 15) / 16
                Parallel.forRanges(strips, grain: Swift.max(1, 4096 / Swift.max(rows, 1))) { r in
                    let c0 = r.lowerBound * 16
                    let c1 = Swift.min(cols, r.upperBound * 16)
                    orr_transpose_columns(a, rows, cols, c0, c1, t)
                }
                return
            }
            map(src, into: dst, Identity())
        }
    }

    struct Identity: UnaryMap { @inline(__always) func callAsFunction(_ x: Float) -> Float { x } }

    /// out = f(x) elementwise (same shape; any strides; out may be x).
    @inline(__always)
    public static func map<F: UnaryMap>(_ x: Tensor, into out: Tensor, _ f: F) {
        precondition(x.shape == out.shape, "map: shapes \(x.shape) and \(out.shape) differ")
        Profiler.scope(.elementwise, bytes: 8 * Double(out.count)) { mapRaw(x, into: out, f) }
    }

    @inline(__always)
    static func mapRaw<F: UnaryMap>(_ x: Tensor, into out: Tensor, _ f: F) {
        let plan = StridedPlan(shape: x.shape, x.strides, out.strides)
        let xp = x.data
        let op = out.data
        let (s0, s1, _) = plan.inner
        plan.run { o0, o1, _, n in
            let a = xp + o0
            let c = op + o1
            if s0 == 1 && s1 == 1 {
                for i in 0..<n { c[i] = f(a[i]) }
            } else {
                for i in 0..<n { c[i * s1] = f(a[i * s0]) }
            }
        }
    }

    @inline(__always)
    public static func map(_ x: Tensor, into out: Tensor, _ f: @escaping (Float) -> Float) {
        map(x, into: out, ClosureMap(f: f))
    }

    /// New contiguous tensor f(x).
    @inline(__always)
    public static func unary<F: UnaryMap>(_ x: Tensor, _ f: F) -> Tensor {
        let out = Tensor.empty(x.shape)
        map(x, into: out, f)
        return out
    }

    /// out = f(a, b) with broadcasting; `out` must have the broadcast shape.
    @inline(__always)
    public static func zip<F: BinaryMap>(_ a: Tensor, _ b: Tensor, into out: Tensor, _ f: F) {
        Profiler.scope(.elementwise, bytes: 12 * Double(out.count)) { zipRaw(a, b, into: out, f) }
    }

    @inline(__always)
    static func zipRaw<F: BinaryMap>(_ a: Tensor, _ b: Tensor, into out: Tensor, _ f: F) {
        let ae = a.expandedRaw(to: out.shape)
        let be = b.expandedRaw(to: out.shape)
        let plan = StridedPlan(shape: out.shape, ae.strides, be.strides, out.strides)
        let ap = ae.data
        let bp = be.data
        let cp = out.data
        let (s0, s1, s2) = plan.inner
        plan.run { o0, o1, o2, n in
            let x = ap + o0
            let y = bp + o1
            let z = cp + o2
            if s0 == 1 && s1 == 1 && s2 == 1 {
                for i in 0..<n { z[i] = f(x[i], y[i]) }
            } else if s0 == 1 && s1 == 0 && s2 == 1 {
                let yv = y[0]
                for i in 0..<n { z[i] = f(x[i], yv) }
            } else if s0 == 0 && s1 == 1 && s2 == 1 {
                let xv = x[0]
                for i in 0..<n { z[i] = f(xv, y[i]) }
            } else {
                for i in 0..<n { z[i * s2] = f(x[i * s0], y[i * s1]) }
            }
        }
    }

    @inline(__always)
    public static func binary<F: BinaryMap>(_ a: Tensor, _ b: Tensor, _ f: F) -> Tensor {
        let out = Tensor.empty(Tensor.broadcastShape(a.shape, b.shape))
        zip(a, b, into: out, f)
        return out
    }

    /// exp over any tensor via the vectorised C routine.
    public static func expTensor(_ x: Tensor) -> Tensor {
        let c = x.contiguousRaw()
        let out = Tensor.empty(x.shape)
        let n = c.count
        let src = c.data
        let dst = out.data
        Profiler.scope(.elementwise, bytes: 8 * Double(n)) {
            Parallel.forRanges(n, grain: 1 << 15) { r in orr_vexp(src + r.lowerBound, dst + r.lowerBound, r.count) }
        }
        return out
    }
}

// The primitive maps, as specialisable structs.
public struct AddF: BinaryMap {
    public init() {}
    @inline(__always) public func callAsFunction(_ a: Float, _ b: Float) -> Float { a + b }
}
public struct SubF: BinaryMap {
    public init() {}
    @inline(__always) public func callAsFunction(_ a: Float, _ b: Float) -> Float { a - b }
}
public struct MulF: BinaryMap {
    public init() {}
    @inline(__always) public func callAsFunction(_ a: Float, _ b: Float) -> Float { a * b }
}
public struct DivF: BinaryMap {
    public init() {}
    @inline(__always) public func callAsFunction(_ a: Float, _ b: Float) -> Float { a / b }
}
public struct AffineF: UnaryMap {
    let scale: Float, shift: Float
    public init(scale: Float, shift: Float) {
        self.scale = scale
        self.shift = shift
    }
    @inline(__always) public func callAsFunction(_ x: Float) -> Float { x * scale + shift }
}
