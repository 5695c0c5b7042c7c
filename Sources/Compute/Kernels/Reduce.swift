// Reductions: sums over any set of dimensions (three layouts, fastest first), max with argmax.
import CKernels

extension Kernels {
    /// Sum of a contiguous run of n floats, 16 lanes at a time.
    @inline(__always)
    static func sumContiguous(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD16<Float>(repeating: 0)
        var i = 0
        let raw = UnsafeRawPointer(p)
        while i + 16 <= n {
            acc += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            i += 16
        }
        var s = acc.sum()
        while i < n {
            s += p[i]
            i += 1
        }
        return s
    }

    /// Sums `x` over `dims` (sorted, normalised); the result keeps those dims with size 1.
    public static func sum(_ x: Tensor, dims: [Int]) -> Tensor {
        Profiler.scope(.reduction, bytes: 4 * Double(x.count)) { sumRaw(x, dims: dims) }
    }

    static func sumRaw(_ x: Tensor, dims: [Int]) -> Tensor {
        let reduce = Set(dims)
        let outShape = x.shape.enumerated().map { reduce.contains($0.offset) ? 1 : $0.element }
        let out = Tensor.zeros(outShape)
        if x.count == 0 { return out }
        let kept = (0..<x.rank).filter { !reduce.contains($0) }
        let red = (0..<x.rank).filter { reduce.contains($0) }
        let K = kept.map { x.shape[$0] }.reduce(1, *)
        let R = red.map { x.shape[$0] }.reduce(1, *)
        let op = out.data

        // Leading dims reduced over contiguous data: out[k] = Σ_r x[r, k] (bias gradients).
        if x.isContiguous && (red.isEmpty || red.max()! < (kept.min() ?? x.rank)) {
            let xp = x.data
            Parallel.forRanges(K, grain: 256) { range in
                for r in 0..<R {
                    let row = xp + r * K
                    for k in range { op[k] += row[k] }
                }
            }
            return out
        }
        // General: each output element sums its reduced sub-tensor (run as rows of a plan).
        let redShape = red.map { x.shape[$0] }
        let redStrides = red.map { x.strides[$0] }
        let plan = StridedPlan(shape: redShape.isEmpty ? [1] : redShape, redStrides.isEmpty ? [0] : redStrides)
        let keptShape = kept.map { x.shape[$0] }
        let keptStrides = kept.map { x.strides[$0] }
        let xp = x.data
        let s0 = plan.inner.0
        Parallel.forRanges(K, grain: max(1, 4096 / max(R, 1))) { range in
            for k in range {
                var rem = k
                var base = 0
                for d in stride(from: keptShape.count - 1, through: 0, by: -1) {
                    base += (rem % keptShape[d]) * keptStrides[d]
                    rem /= keptShape[d]
                }
                var s: Float = 0
                for row in 0..<plan.rows {
                    let o = base + plan.offsets(row).0
                    if s0 == 1 {
                        s += sumContiguous(xp + o, plan.n)
                    } else {
                        for i in 0..<plan.n { s += xp[o + i * s0] }
                    }
                }
                op[k] = s
            }
        }
        return out
    }

    /// Max over one dimension (kept with size 1) and the flat argmax index along it.
    public static func maxAlong(_ x: Tensor, dim: Int) -> (values: Tensor, indices: [Int]) {
        let d = x.dim(dim)
        var outShape = x.shape
        outShape[d] = 1
        let values = Tensor.empty(outShape)
        let n = x.shape[d]
        let st = x.strides[d]
        let K = values.count
        var idx = [Int](repeating: 0, count: K)
        let keptDims = (0..<x.rank).filter { $0 != d }
        let xp = x.data
        let vp = values.data
        idx.withUnsafeMutableBufferPointer { ib in
            let ip = ib.baseAddress!
            Parallel.forRanges(K, grain: 64) { range in
                for k in range {
                    var rem = k
                    var base = 0
                    for dd in keptDims.reversed() {
                        base += (rem % x.shape[dd]) * x.strides[dd]
                        rem /= x.shape[dd]
                    }
                    var best = -Float.infinity
                    var bi = 0
                    for i in 0..<n {
                        let v = xp[base + i * st]
                        if v > best || v.isNaN {
                            best = v
                            bi = i
                            if v.isNaN { break }
                        }
                    }
                    vp[k] = best
                    ip[k] = bi
                }
            }
        }
        return (values, idx)
    }

    /// Softmax over the last dimension (rows of a contiguous copy).
    public static func softmaxLastDim(_ x: Tensor) -> Tensor {
        let c = x.contiguousRaw()
        let out = Tensor.empty(x.shape)
        let n = x.shape.last ?? 1
        let rows = n == 0 ? 0 : c.count / n
        let src = c.data
        let dst = out.data
        Profiler.scope(.elementwise, bytes: 8 * Double(rows * n)) {
            Parallel.forRanges(rows, grain: max(1, 8192 / max(n, 1))) { r in
                orr_softmax_rows(src + r.lowerBound * n, dst + r.lowerBound * n, r.count, n)
            }
        }
        return out
    }

    /// Log-softmax over the last dimension; `lse` receives each row's log-sum-exp if given.
    public static func logSoftmaxLastDim(_ x: Tensor, lse: UnsafeMutablePointer<Float>? = nil) -> Tensor {
        let c = x.contiguousRaw()
        let out = Tensor.empty(x.shape)
        let n = x.shape.last ?? 1
        let rows = n == 0 ? 0 : c.count / n
        let src = c.data
        let dst = out.data
        Profiler.scope(.elementwise, bytes: 8 * Double(rows * n)) {
            Parallel.forRanges(rows, grain: max(1, 8192 / max(n, 1))) { r in
                orr_logsoftmax_rows(
                    src + r.lowerBound * n, dst + r.lowerBound * n,
                    lse.map { $0 + r.lowerBound }, r.count, n)
            }
        }
        return out
    }
}

extension Kernels {
    /// Whether every element is finite (no NaN, no ±inf): a checkpoint's weights must be.
    public static func allFinite(_ x: Tensor) -> Bool {
        let c = x.contiguousRaw()
        let n = c.count
        let p = c.data
        var i = 0
        while i < n {
            // x - x is 0 for finite x and NaN for NaN and ±inf; a sum of such terms stays 0 only if all are finite.
            var acc: Float = 0
            let end = min(n, i + 4096)
            while i < end {
                acc += p[i] - p[i]
                i += 1
            }
            if acc != 0 || acc.isNaN { return false }
        }
        return true
    }
}
