// Tensor: an n-d Float32 view (shape, strides, offset) over shared Storage, plus its autograd links.
// Views (reshape of contiguous data, permute, slice, expand) share storage; `contiguous()` copies
// only when it must. Dimension letters in comments: B batch, T time, C channels, H/W height/width.
import CKernels

public final class Tensor {
    public let storage: Storage
    public let shape: [Int]
    public let strides: [Int]
    public let offset: Int

    /// Whether gradients flow to this tensor. Set on leaves (parameters); ops set it on results.
    public var requiresGrad: Bool = false
    /// Accumulated gradient of a leaf after `backward()`.
    public var grad: Tensor?
    /// The operation that produced this tensor, when recorded for autograd.
    public internal(set) var gradFn: Node?

    public init(storage: Storage, shape: [Int], strides: [Int], offset: Int = 0) {
        precondition(shape.count == strides.count, "shape and strides rank differ")
        self.storage = storage
        self.shape = shape
        self.strides = strides
        self.offset = offset
    }

    /// Uninitialised-free contiguous tensor of `shape` (zero-filled).
    public convenience init(zeros shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.init(storage: Storage(count: shape.reduce(1, *)), shape: shape, strides: Tensor.contiguousStrides(shape))
    }

    /// Contiguous tensor holding `data` (row-major) with `shape`.
    public convenience init(shape: [Int], data: [Float]) {
        let n = shape.reduce(1, *)
        precondition(n == data.count, "data has \(data.count) elements, shape \(shape) needs \(n)")
        let s = Storage(count: n, zeroed: false)
        data.withUnsafeBufferPointer { src in
            if n > 0 { s.base.update(from: src.baseAddress!, count: n) }
        }
        self.init(storage: s, shape: shape, strides: Tensor.contiguousStrides(shape))
    }

    /// Row-major 1-d tensor.
    public convenience init(_ data: [Float]) { self.init(shape: [data.count], data: data) }

    /// Contiguous tensor whose contents the caller fills (not zeroed).
    public static func empty(_ shape: [Int]) -> Tensor {
        Tensor(
            storage: Storage(count: shape.reduce(1, *), zeroed: false), shape: shape,
            strides: contiguousStrides(shape))
    }

    public static func zeros(_ shape: [Int]) -> Tensor { Tensor(zeros: shape) }
    public static func ones(_ shape: [Int]) -> Tensor { full(shape, 1) }
    public static func full(_ shape: [Int], _ value: Float) -> Tensor {
        let t = empty(shape)
        t.data.update(repeating: value, count: t.count)
        return t
    }
    public static func scalar(_ value: Float) -> Tensor { full([], value) }
    public static func arange(_ n: Int) -> Tensor { Tensor(shape: [n], data: (0..<n).map { Float($0) }) }

    /// Standard-normal samples times `std` (drawn serially from `rng`: reproducible).
    public static func randn(_ shape: [Int], std: Float = 1, rng: inout RNG) -> Tensor {
        let t = empty(shape)
        for i in 0..<t.count { t.data[i] = rng.normal() * std }
        return t
    }

    /// Uniform samples in [lo, hi).
    public static func rand(_ shape: [Int], _ lo: Float = 0, _ hi: Float = 1, rng: inout RNG) -> Tensor {
        let t = empty(shape)
        for i in 0..<t.count { t.data[i] = rng.uniform(lo, hi) }
        return t
    }

    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            s[i] = acc
            acc *= Swift.max(shape[i], 1)
        }
        return s
    }

    public var rank: Int { shape.count }
    public var count: Int { shape.reduce(1, *) }
    /// Pointer to element [0, 0, …] (not necessarily contiguous: use strides).
    public var data: UnsafeMutablePointer<Float> { storage.base + offset }

    public var isContiguous: Bool {
        var expected = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) where shape[i] != 1 {
            if strides[i] != expected { return false }
            expected *= shape[i]
        }
        return true
    }

    /// Normalises a possibly negative dimension index.
    @inline(__always)
    public func dim(_ d: Int) -> Int {
        let r = d < 0 ? d + rank : d
        precondition(r >= 0 && r < Swift.max(rank, 1), "dimension \(d) out of range for rank \(rank)")
        return r
    }

    /// Elements in row-major order.
    public func toArray() -> [Float] {
        let c = contiguousRaw()
        return Array(UnsafeBufferPointer(start: c.data, count: c.count))
    }

    /// The single value of a one-element tensor.
    public func item() -> Float {
        precondition(count == 1, "item() needs one element, shape is \(shape)")
        return data[0]
    }

    public subscript(_ idx: Int...) -> Float {
        get { data[flatOffset(idx)] }
        set { data[flatOffset(idx)] = newValue }
    }

    func flatOffset(_ idx: [Int]) -> Int {
        precondition(idx.count == rank, "index rank \(idx.count) vs tensor rank \(rank)")
        var o = 0
        for i in 0..<rank {
            precondition(idx[i] >= 0 && idx[i] < shape[i], "index \(idx) out of bounds for \(shape)")
            o += idx[i] * strides[i]
        }
        return o
    }

    /// A tensor sharing nothing with this one and recording nothing.
    public func clone() -> Tensor { contiguousRaw(forceCopy: true) }

    /// This tensor's values without autograd history (shares storage).
    public func detach() -> Tensor { Tensor(storage: storage, shape: shape, strides: strides, offset: offset) }

    /// Contiguous copy (or self) without recording autograd.
    public func contiguousRaw(forceCopy: Bool = false) -> Tensor {
        if isContiguous && !forceCopy { return self }
        let out = Tensor.empty(shape)
        Kernels.copy(from: self, to: out)
        return out
    }

    /// Copies `src` (broadcast to this shape) into this tensor's elements in place (no autograd).
    public func assign(_ src: Tensor) {
        Kernels.copy(from: src.expandedRaw(to: shape), to: self)
    }

    /// Fills every element in place (no autograd).
    public func fill(_ value: Float) {
        Kernels.map(self, into: self) { _ in value }
    }

    /// Broadcast view to `target` without recording (size-1 or missing leading dims get stride 0).
    public func expandedRaw(to target: [Int]) -> Tensor {
        if target == shape { return self }
        precondition(target.count >= rank, "cannot broadcast \(shape) to \(target)")
        var st = [Int](repeating: 0, count: target.count)
        let lead = target.count - rank
        for i in 0..<rank {
            if shape[i] == target[lead + i] {
                st[lead + i] = strides[i]
            } else {
                precondition(shape[i] == 1, "cannot broadcast \(shape) to \(target)")
                st[lead + i] = 0
            }
        }
        return Tensor(storage: storage, shape: target, strides: st, offset: offset)
    }

    public static func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int] {
        let n = Swift.max(a.count, b.count)
        var out = [Int](repeating: 1, count: n)
        for i in 0..<n {
            let da = i < n - a.count ? 1 : a[i - (n - a.count)]
            let db = i < n - b.count ? 1 : b[i - (n - b.count)]
            precondition(da == db || da == 1 || db == 1, "shapes \(a) and \(b) do not broadcast")
            out[i] = da == 1 ? db : da
        }
        return out
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let v = count <= 16 ? toArray().map { "\($0)" }.joined(separator: ", ") : "…"
        return "Tensor(shape: \(shape), [\(v)])"
    }
}

/// Half-precision and bfloat16 conversion of whole tensors (round to nearest even).
public enum HalfConversion {
    public static func toFloat16Bits(_ t: Tensor) -> [UInt16] {
        let c = t.contiguousRaw()
        var out = [UInt16](repeating: 0, count: c.count)
        out.withUnsafeMutableBufferPointer { orr_f32_to_f16(c.data, $0.baseAddress, c.count) }
        return out
    }
    public static func toBFloat16Bits(_ t: Tensor) -> [UInt16] {
        let c = t.contiguousRaw()
        var out = [UInt16](repeating: 0, count: c.count)
        out.withUnsafeMutableBufferPointer { orr_f32_to_bf16(c.data, $0.baseAddress, c.count) }
        return out
    }
    public static func fromFloat16Bits(_ bits: UnsafeBufferPointer<UInt16>, shape: [Int]) -> Tensor {
        let t = Tensor.empty(shape)
        precondition(bits.count == t.count, "f16 data size mismatch")
        orr_f16_to_f32(bits.baseAddress, t.data, t.count)
        return t
    }
    public static func fromBFloat16Bits(_ bits: UnsafeBufferPointer<UInt16>, shape: [Int]) -> Tensor {
        let t = Tensor.empty(shape)
        precondition(bits.count == t.count, "bf16 data size mismatch")
        orr_bf16_to_f32(bits.baseAddress, t.data, t.count)
        return t
    }
}
