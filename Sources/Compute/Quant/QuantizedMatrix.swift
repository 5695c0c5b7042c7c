import CKernels

/// A weight matrix [rows, cols] stored in a GGML type (block-quantised or float16/bfloat16/float32),
/// used in place: products quantise the activations to the weight type's activation type and run
/// integer dot products on the blocks (llama.cpp's arithmetic), never dequantising the whole matrix.
/// It lives beside `Tensor` rather than as a dtype threaded through every op: a linear layer that
/// holds one of these is all a model needs.
public final class QuantizedMatrix: @unchecked Sendable {
    public let type: GGMLType
    public let rows: Int
    public let cols: Int
    public let rowBytes: Int
    public let base: UnsafeRawPointer
    /// Keeps the bytes alive (a file mapping, or an owned buffer).
    let owner: AnyObject?
    let owned: UnsafeMutableRawPointer?
    /// A four-row interleaved copy (Q4_1, Q4_0, Q8_0 on CPUs with AVX-512 VNNI): same results, faster.
    public private(set) var repacked: UnsafeMutableRawPointer?

    /// Wraps `rows · rowBytes` bytes at `data`, kept alive by `owner`.
    public init(type: GGMLType, rows: Int, cols: Int, data: UnsafeRawPointer, owner: AnyObject?) {
        precondition(type.isWeightType && cols % type.blockSize == 0, "\(type) rows of \(cols) values")
        self.type = type
        self.rows = rows
        self.cols = cols
        rowBytes = type.rowBytes(cols)!
        base = data
        self.owner = owner
        owned = nil
    }

    /// Copies raw block bytes (tests, converters).
    public init(type: GGMLType, rows: Int, cols: Int, bytes: [UInt8]) {
        precondition(type.isWeightType && cols % type.blockSize == 0, "\(type) rows of \(cols) values")
        let rb = type.rowBytes(cols)!
        precondition(bytes.count == rows * rb, "\(bytes.count) bytes for \(rows) rows of \(rb)")
        self.type = type
        self.rows = rows
        self.cols = cols
        rowBytes = rb
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(1, bytes.count), alignment: 64)
        bytes.withUnsafeBytes { if let b = $0.baseAddress { p.copyMemory(from: b, byteCount: bytes.count) } }
        owned = p
        base = UnsafeRawPointer(p)
        owner = nil
    }

    deinit {
        owned?.deallocate()
        repacked?.deallocate()
    }

    /// Makes the four-row interleaved copy where this CPU and type have kernels for it (a load-time
    /// copy of the weights into memory; products are bit-identical). Returns whether it did.
    @discardableResult
    public func repackForSpeed() -> Bool {
        guard repacked == nil, orr_repack_x4_available() != 0 else { return repacked != nil }
        let bytes = orr_repack_x4_bytes(Int32(type.rawValue), rows, cols)
        guard bytes > 0 else { return false }
        let p = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        orr_repack_x4(Int32(type.rawValue), base, rowBytes, rows, cols, p)
        repacked = p
        return true
    }

    /// Row r as float32 values.
    public func dequantizeRow(_ r: Int, into y: UnsafeMutablePointer<Float>) {
        precondition(r >= 0 && r < rows, "row \(r) of \(rows)")
        orr_dequantize(Int32(type.rawValue), base + r * rowBytes, y, cols)
    }

    /// The whole matrix as a float32 tensor [rows, cols] (tests and small tensors only).
    public func dequantized() -> Tensor {
        let t = Tensor.empty([rows, cols])
        for r in 0..<rows { dequantizeRow(r, into: t.data + r * cols) }
        return t
    }

    /// Bytes of one activation row in the form `apply` feeds the dot products.
    public var activationRowBytes: Int {
        if let a = type.activationType { return a.rowBytes(cols)! }
        return cols * 4
    }

    /// y[t, r] = Σ_c W[r, c] · x[t, c] for T activation rows x [T, cols] → y [T, rows].
    public func apply(_ x: UnsafePointer<Float>, count T: Int, into y: UnsafeMutablePointer<Float>) {
        QuantizedMatrix.apply([(self, y)], to: x, count: T)
    }

    /// Several matrices over the same input in one parallel region (Q, K and V; gate and up): the
    /// activations are quantised once per activation type, and the rows of all of them are split
    /// over the worker team together.
    public static func apply(
        _ list: [(QuantizedMatrix, UnsafeMutablePointer<Float>)], to x: UnsafePointer<Float>, count T: Int
    ) {
        guard let first = list.first else { return }
        let cols = first.0.cols
        precondition(list.allSatisfy { $0.0.cols == cols }, "apply: matrices of different widths")
        // A prompt (many rows of x) through float or Q8_0 weights: the matrix dequantised once to
        // float32 and one SGEMM, which reuses each weight across tokens far better than row dots.
        var rest: [(QuantizedMatrix, UnsafeMutablePointer<Float>)] = []
        for (m, y) in list {
            if T >= QuantizedMatrix.gemmThreshold && QuantizedMatrix.gemmTypes.contains(m.type) {
                m.applyByGEMM(x, count: T, into: y)
            } else {
                rest.append((m, y))
            }
        }
        if rest.isEmpty { return }
        let list = rest
        var buffers: [UInt32: UnsafeMutableRawPointer] = [:]
        defer { for b in buffers.values { b.deallocate() } }
        var jobs: [(QuantizedMatrix, UnsafeMutablePointer<Float>, UnsafeRawPointer, Int)] = []
        for (m, y) in list {
            if let a = m.type.activationType {
                let ab = m.activationRowBytes
                if buffers[a.rawValue] == nil {
                    let s = UnsafeMutableRawPointer.allocate(byteCount: max(1, T * ab), alignment: 64)
                    for t in 0..<T { orr_quantize_act(Int32(a.rawValue), x + t * cols, s + t * ab, cols) }
                    buffers[a.rawValue] = s
                }
                jobs.append((m, y, UnsafeRawPointer(buffers[a.rawValue]!), ab))
            } else {
                jobs.append((m, y, UnsafeRawPointer(x), cols * 4))
            }
        }
        // Row offsets of each matrix in the joint range.
        var starts: [Int] = []
        var total = 0
        for j in jobs {
            starts.append(total)
            total += j.0.rows
        }
        let grain = max(8, 16_384 / max(1, cols * T))
        let run = { (r: Range<Int>) in
            for (k, j) in jobs.enumerated() {
                let lo = max(r.lowerBound, starts[k]) - starts[k]
                let hi = min(r.upperBound, starts[k] + j.0.rows) - starts[k]
                if lo < hi {
                    if let rp = j.0.repacked {
                        // Row ranges become four-row groups (ends rounded up: the split stays a partition).
                        let (g0, g1) = ((lo + 3) / 4, (hi + 3) / 4)
                        if g0 < g1 {
                            orr_quant_matmul_x4(
                                Int32(j.0.type.rawValue), rp, j.0.rows, cols, g0, g1, j.2, j.3, T, j.1, j.0.rows)
                        }
                    } else {
                        orr_quant_matmul(
                            Int32(j.0.type.rawValue), j.0.base, j.0.rowBytes, cols, lo, hi, j.2, j.3, T, j.1, j.0.rows)
                    }
                }
            }
        }
        Parallel.onTeam(total, grain: grain, run)
        withExtendedLifetime(list) {}
    }

    /// Prompts at least this long take the dequantise-and-SGEMM path for `gemmTypes`.
    public static let gemmThreshold = 16
    // (Q8_0 measured faster through its repacked integer kernels, even for prompts.)
    static let gemmTypes: Set<GGMLType> = [.f32, .f16, .bf16]

    /// y [T, rows] = x [T, cols] · Wᵀ with W dequantised to float32 first.
    func applyByGEMM(_ x: UnsafePointer<Float>, count T: Int, into y: UnsafeMutablePointer<Float>) {
        let w = UnsafeMutablePointer<Float>.allocate(capacity: rows * cols)
        defer { w.deallocate() }
        let (ty, b, rb, n) = (Int32(type.rawValue), base, rowBytes, cols)
        Parallel.onTeam(rows, grain: 64) { r in
            for i in r { orr_dequantize(ty, b + i * rb, w + i * n, n) }
        }
        Kernels.gemm(
            M: T, N: rows, K: cols, A: x, rsA: cols, csA: 1, B: UnsafePointer(w), rsB: 1, csB: cols, C: y, rsC: rows,
            csC: 1)
        withExtendedLifetime(self) {}
    }

    /// A float32 activation row quantised as `apply` would (tests).
    public static func quantizeActivations(_ x: [Float], as type: GGMLType) -> [UInt8] {
        precondition(type == .q8_0 || type == .q8_1 || type == .q8_K, "\(type) is not an activation type")
        var out = [UInt8](repeating: 0, count: type.rowBytes(x.count)!)
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBytes {
                orr_quantize_act(Int32(type.rawValue), xp.baseAddress, $0.baseAddress, x.count)
            }
        }
        return out
    }

    /// Dequantises raw bytes of `type` (tests).
    public static func dequantize(_ bytes: [UInt8], type: GGMLType, count: Int) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        bytes.withUnsafeBytes { b in
            out.withUnsafeMutableBufferPointer {
                orr_dequantize(Int32(type.rawValue), b.baseAddress, $0.baseAddress, count)
            }
        }
        return out
    }

    /// One row · activation row through the portable or the SIMD kernel (tests).
    public static func dot(type: GGMLType, weights: [UInt8], activations: UnsafeRawPointer, count: Int, portable: Bool)
        -> Float
    {
        weights.withUnsafeBytes {
            orr_quant_dot(Int32(type.rawValue), $0.baseAddress, activations, count, portable ? 1 : 0)
        }
    }

    /// The SIMD kernels in use ("avx512-vnni", "avx2", "portable").
    public static var kernelName: String { String(cString: orr_quant_kernel_name()) }
}
