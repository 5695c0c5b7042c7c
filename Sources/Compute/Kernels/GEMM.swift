// GEMM front end: splits C over the workers (rows, or columns when C is short and wide), applies
// beta, and hands each slice to the packed micro-kernel in CKernels. Batched and broadcast matmul
// sit on top of it.
import CKernels
import Dispatch

extension Kernels {
    /// Name of the micro-kernel this CPU runs.
    public static var gemmKernelName: String { String(cString: orr_gemm_kernel_name()) }

    /// C[M,N] = alpha · A[M,K] · B[K,N] + beta · C, every operand given by base pointer and
    /// (row stride, column stride), so transposes and strided views need no copy.
    /// `threads` caps the workers (nil: Parallel.threads).
    public static func gemm(
        M: Int, N: Int, K: Int, alpha: Float = 1,
        A: UnsafePointer<Float>, rsA: Int, csA: Int,
        B: UnsafePointer<Float>, rsB: Int, csB: Int,
        beta: Float = 0,
        C: UnsafeMutablePointer<Float>, rsC: Int, csC: Int,
        threads: Int? = nil, rowsDone: ((Int, Int) -> Void)? = nil
    ) {
        Profiler.gemm(m: M, n: N, k: K) {
            let workers = threads ?? Parallel.threads
            if let parts = sharedPanelWorkers(M: M, N: N, K: K, rowMajorA: csA == 1 && rsA != 1, threads: workers),
                kSplit(M: M, N: N, K: K, columnMajorA: rsA == 1 && csA > 1) == nil
            {
                rowsOverSharedPanels(
                    M: M, N: N, K: K, alpha: alpha, A: A, rsA: rsA, B: B, rsB: rsB, csB: csB, beta: beta, C: C,
                    rsC: rsC, csC: csC, workers: parts, rowsDone: rowsDone)
                return
            }
            gemmRaw(
                M: M, N: N, K: K, alpha: alpha, A: A, rsA: rsA, csA: csA, B: B, rsB: rsB, csB: csB, beta: beta, C: C,
                rsC: rsC, csC: csC, workers: workers)
            if let rowsDone { Parallel.forRanges(M, grain: 64) { r in rowsDone(r.lowerBound, r.upperBound) } }
        }
    }

    /// `gemm` without the shared-panel path or the profile line.
    static func gemmRaw(
        M: Int, N: Int, K: Int, alpha: Float,
        A: UnsafePointer<Float>, rsA: Int, csA: Int,
        B: UnsafePointer<Float>, rsB: Int, csB: Int,
        beta: Float, C: UnsafeMutablePointer<Float>, rsC: Int, csC: Int, workers: Int
    ) {
        guard let kh = kSplit(M: M, N: N, K: K, columnMajorA: rsA == 1 && csA > 1) else {
            split(M: M, N: N, K: K, beta: beta, C: C, rsC: rsC, csC: csC, threads: workers) {
                m0, m1, n0, n1, c, ow in
                orr_sgemm(
                    m1 - m0, n1 - n0, K, alpha, A + m0 * rsA, rsA, csA, B + n0 * csB, rsB, csB, c, rsC, csC, ow)
            }
            return
        }
        // C = (β·C + α·A[:, :kh]·B[:kh]) + α·A[:, kh:]·B[kh:], the second half into a scratch
        // matrix: the same sums in the same order for any number of workers.
        let cap = BufferPool.sizeClass(M * N)
        let scratch = BufferPool.take(cap)
        defer { BufferPool.give(scratch, cap) }
        func half(_ h: Int, _ threads: Int) {
            let (k0, k1) = h == 0 ? (0, kh) : (kh, K)
            let (dst, rs, cs, b) = h == 0 ? (C, rsC, csC, beta) : (scratch, N, 1, Float(0))
            split(M: M, N: N, K: k1 - k0, beta: b, C: dst, rsC: rs, csC: cs, threads: threads) {
                m0, m1, n0, n1, c, ow in
                orr_sgemm(
                    m1 - m0, n1 - n0, k1 - k0, alpha, A + m0 * rsA + k0 * csA, rsA, csA, B + k0 * rsB + n0 * csB,
                    rsB, csB, c, rs, cs, ow)
            }
        }
        if workers >= 2 && workers < 4 {
            DispatchQueueBridge.concurrentPerform(2) { half($0, 1) }
        } else {
            half(0, workers)
            half(1, workers)
        }
        Parallel.forRanges(M, grain: Swift.max(1, 16384 / Swift.max(1, N))) { rows in
            for i in rows {
                let c = C + i * rsC
                let s = scratch + i * N
                if csC == 1 {
                    orr_saxpy(N, 1, s, c)
                } else {
                    for j in 0..<N { c[j * csC] += s[j] }
                }
            }
        }
    }

    /// Where a GEMM whose output is small next to its shared dimension (a weight gradient summed over
    /// thousands of tokens) splits K in two, or nil. Splitting C instead leaves each worker a sliver
    /// of it to pack whole operands for (and an uneven one: 352 columns are 11 micro-tiles); two
    /// K halves are even, and each packs only its own half of A and B. The split depends on the shape
    /// and layout alone, so results do not change with the number of workers.
    ///
    /// A column-major A (Xᵀ of a weight gradient, read in place) splits K from K ≥ max(M, N) on:
    /// split by columns of C, both workers read all of A's strided panels at once, and that slowed
    /// the product by up to a fifth in this machine's slow spells while one worker alone kept its
    /// rate (`bench gemm --layout tn`, Zen 4, 2 threads, alternated in one slow spell: 384 × 1024 ×
    /// 2048 at 72–76 % of peak split by columns, 87 % by rows, 88–90 % by K; one thread 92 %).
    static func kSplit(M: Int, N: Int, K: Int, columnMajorA: Bool = false) -> Int? {
        guard K >= 2048 && K >= (columnMajorA ? 1 : 8) * Swift.max(M, N) else { return nil }
        return (K / 2 + Int(ORR_GEMM_KC) - 1) / Int(ORR_GEMM_KC) * Int(ORR_GEMM_KC)
    }

    /// How many workers share one packed B for a GEMM split by rows of C, or nil where the plain split
    /// applies: a tall C (the projections of a training step: thousands of token rows against a
    /// weight) over a row-major A, which the micro-kernel reads in place.
    static func sharedPanelWorkers(M: Int, N: Int, K: Int, rowMajorA: Bool, threads: Int) -> Int? {
        guard rowMajorA, threads >= 2, orr_sgemm_prepacked_available() != 0, M >= N, M >= 256, N >= 32,
            K * ((N + 31) / 32 * 32) <= 1 << 22
        else { return nil }
        let flops = 2.0 * Double(M) * Double(N) * Double(K)
        let workers = min(threads, Int(flops / 1.0e5), M / 128)
        return workers >= 2 ? workers : nil
    }

    /// C = α·A·B + β·C split by rows, with B packed once for every worker: each packs a share of
    /// its column panels, then each takes blocks of rows of its own share of C (64 rows, the last 64
    /// in blocks of 16) and, when those run out, takes the last blocks of another's share. Split in
    /// halves, each worker had packed all of B (3 % of a projection's time), and the slower core set
    /// the pace (a shared machine's cores do not run evenly). Every block is the same sums in the
    /// same order whoever takes it, so results do not depend on the number of workers.
    static func rowsOverSharedPanels(
        M: Int, N: Int, K: Int, alpha: Float, A: UnsafePointer<Float>, rsA: Int,
        B: UnsafePointer<Float>, rsB: Int, csB: Int, beta: Float,
        C: UnsafeMutablePointer<Float>, rsC: Int, csC: Int, workers: Int, rowsDone: ((Int, Int) -> Void)? = nil
    ) {
        let npad = (N + 31) / 32 * 32
        let cap = BufferPool.sizeClass(K * npad)
        let packed = BufferPool.take(cap)
        defer { BufferPool.give(packed, cap) }
        let panels = npad / 32
        Parallel.region(workers) { w in
            let p0 = panels * w / workers
            let p1 = panels * (w + 1) / workers
            orr_sgemm_pack_b_columns(K, N, p0 * 32, p1 * 32, B, rsB, csB, packed)
        }
        // Blocks of rows, start and count, share by share; shares[w] is the first block of share w.
        let maxBlocks = M / 16 + 2 * workers + 1
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 2 * maxBlocks + workers + 1) { table in
            let start = table.baseAddress!
            let count = start + maxBlocks
            let shares = count + maxBlocks
            let units = (M + 7) / 8
            var n = 0
            for w in 0..<workers {
                shares[w] = n
                let s0 = Swift.min(M, units * w / workers * 8)
                let s1 = Swift.min(M, units * (w + 1) / workers * 8)
                let tail = s1 - Swift.min(s1 - s0, 64)
                var m = s0
                while m < s1 {
                    let size = Swift.min(m < tail ? Swift.min(64, tail - m) : 16, s1 - m)
                    start[n] = m
                    count[n] = size
                    n += 1
                    m += size
                }
            }
            shares[workers] = n
            Parallel.stealing(workers: workers, shares: shares) { block in
                let m0 = start[block]
                let rows = count[block]
                let c = C + m0 * rsC
                if beta != 1 && beta != 0 {
                    for i in 0..<rows {
                        let row = c + i * rsC
                        for j in 0..<N { row[j * csC] *= beta }
                    }
                }
                orr_sgemm_prepacked(rows, N, K, alpha, A + m0 * rsA, rsA, 1, packed, c, rsC, csC, beta == 0 ? 1 : 0)
                // The block's rows are final: an epilogue reads them while they are still in cache.
                rowsDone?(m0, m0 + rows)
            }
        }
    }

    /// Implicit-GEMM convolution: C[M, N] = A[M, K] · B with B the batch-folded im2col matrix of
    /// `geometry`'s image (K = C·kh·kw, N = N·Ho·Wo), or its transpose (K = N·Ho·Wo, N = C·kh·kw),
    /// packed straight from the image (the matrix is never formed).
    public static func gemmIm2col(
        M: Int, N: Int, K: Int, A: UnsafePointer<Float>, rsA: Int, csA: Int,
        geometry: orr_conv_geometry, transposed: Bool,
        C: UnsafeMutablePointer<Float>, rsC: Int, csC: Int
    ) {
        Profiler.gemm(m: M, n: N, k: K) {
            gemmIm2colRaw(
                M: M, N: N, K: K, A: A, rsA: rsA, csA: csA, geometry: geometry, transposed: transposed, C: C, rsC: rsC,
                csC: csC)
        }
    }

    static func gemmIm2colRaw(
        M: Int, N: Int, K: Int, A: UnsafePointer<Float>, rsA: Int, csA: Int,
        geometry: orr_conv_geometry, transposed: Bool,
        C: UnsafeMutablePointer<Float>, rsC: Int, csC: Int
    ) {
        if !transposed && csA == 1 && csC == 1
            && convDirect(M: M, N: N, K: K, A: A, lda: rsA, geometry, C: C, ldc: rsC)
        {
            return
        }
        withUnsafePointer(to: geometry) { g in
            split(M: M, N: N, K: K, beta: 0, C: C, rsC: rsC, csC: csC, threads: nil) {
                m0, m1, n0, n1, c, ow in
                orr_sgemm_im2col(
                    m1 - m0, n1 - n0, K, 1, A + m0 * rsA, rsA, csA, g, transposed ? 1 : 0, n0, c, rsC, csC, ow)
            }
        }
    }

    /// The direct path of gemmIm2col (no packing): on AVX-512, for convolutions with stride 1 along
    /// the width, output rows a multiple of 16 wide and every tap inside the zero-padded image, B is
    /// read from a padded copy of the image through row pointers. Returns false when it does not apply.
    /// With `nchw`, C is an [N, M, Ho·Wo] tensor (needs Ho·Wo a multiple of 32) written directly.
    public static func convDirect(
        M: Int, N: Int, K: Int, A: UnsafePointer<Float>, lda: Int, _ g: orr_conv_geometry,
        C: UnsafeMutablePointer<Float>, ldc: Int, nchw: Bool = false, padded given: PaddedImage? = nil
    ) -> Bool {
        guard directApplies(g) && g.Wo % 16 == 0, !nchw || (g.Ho * g.Wo) % 32 == 0 else { return false }
        let padded = given ?? PaddedImage(g)
        var pg = g
        pg.x = UnsafePointer(padded.data)
        withUnsafePointer(to: pg) { gp in
            if nchw {
                // Slices write their own tiles of the NCHW tensor (no β pass: β = 0 overwrites).
                split(M: M, N: N, K: K, beta: 0, C: C, rsC: 0, csC: 0, threads: nil) { m0, m1, n0, n1, _, ow in
                    orr_sgemm_conv_direct(m1 - m0, n1 - n0, K, 1, A + m0 * lda, lda, gp, n0, C, 0, ow, M, m0)
                }
            } else {
                split(M: M, N: N, K: K, beta: 0, C: C, rsC: ldc, csC: 1, threads: nil) { m0, m1, n0, n1, c, ow in
                    orr_sgemm_conv_direct(m1 - m0, n1 - n0, K, 1, A + m0 * lda, lda, gp, n0, c, ldc, ow, 0, 0)
                }
            }
        }
        return true
    }

    /// The directness conditions shared by the forward and weight-gradient kernels: stride 1 along
    /// the width, non-negative padding, every tap inside the zero-padded image, AVX-512.
    static func directApplies(_ g: orr_conv_geometry) -> Bool {
        g.sw == 1 && g.ph >= 0 && g.pw >= 0 && orr_conv_direct_available() != 0
            && (g.Ho - 1) * g.sh + (g.kh - 1) * g.dh - g.ph < g.H + g.ph
            && (g.Wo - 1) + (g.kw - 1) * g.dw - g.pw < g.W + g.pw
    }

    /// A zero-padded copy of a convolution's input, made once in the forward and kept by its backward
    /// for the weight gradient (instead of padding the same image twice).
    public final class PaddedImage {
        let data: UnsafeMutablePointer<Float>
        public init(_ g: orr_conv_geometry) { data = Kernels.paddedImage(g) }
        deinit { data.deallocate() }
    }

    /// A zero-padded copy of g's image: planes of (H + 2·ph) × (W + 2·pw) (caller deallocates).
    static func paddedImage(_ g: orr_conv_geometry) -> UnsafeMutablePointer<Float> {
        let (H, W, Hp, Wp) = (g.H, g.W, g.H + 2 * g.ph, g.W + 2 * g.pw)
        let planes = g.N * g.C
        let padded = UnsafeMutablePointer<Float>.allocate(capacity: planes * Hp * Wp)
        let src = g.x!
        let (ph, pw) = (g.ph, g.pw)
        Parallel.forRanges(planes, grain: 4) { r in
            for p in r {
                let d = padded + p * Hp * Wp
                let s = src + p * H * W
                d.update(repeating: 0, count: ph * Wp)
                for y in 0..<H {
                    let row = d + (y + ph) * Wp
                    row.update(repeating: 0, count: pw)
                    (row + pw).update(from: s + y * W, count: W)
                    (row + pw + W).update(repeating: 0, count: pw)
                }
                (d + (H + ph) * Wp).update(repeating: 0, count: ph * Wp)
            }
        }
        return padded
    }

    /// A convolution's weight gradient dW [O, K] = dY · colsᵀ (K = C·kh·kw rows of cols over g's
    /// image) by the direct kernel: cols read in place from a padded copy of the image, dY packed
    /// transposed once per block of output rows. dY is [N, O, L] (nchw) or [O, N·L]. Returns false
    /// when the kernel does not apply (stride along the width, no AVX-512).
    public static func convWeightGradDirect(
        O: Int, dy: UnsafePointer<Float>, nchw: Bool, _ g: orr_conv_geometry, into dw: UnsafeMutablePointer<Float>,
        padded given: PaddedImage? = nil
    ) -> Bool {
        guard directApplies(g) else { return false }
        let K = g.C * g.kh * g.kw
        let L = g.Ho * g.Wo
        let padded = given ?? PaddedImage(g)
        var pg = g
        pg.x = UnsafePointer(padded.data)
        let dwt = UnsafeMutablePointer<Float>.allocate(capacity: K * O)
        defer { dwt.deallocate() }
        let (nstride, ostride) = nchw ? (O * L, L) : (L, g.N * L)
        let parts = Swift.max(1, Swift.min(Parallel.threads, K / 8))
        withUnsafePointer(to: pg) { gp in
            Parallel.forRanges(parts, grain: 1) { r in
                for p in r {
                    let m0 = (K + 7) / 8 * p / parts * 8
                    let m1 = Swift.min(K, (K + 7) / 8 * (p + 1) / parts * 8)
                    if m1 > m0 { orr_conv_direct_wgrad(m1 - m0, m0, O, dy, nstride, ostride, gp, dwt + m0 * O, O) }
                }
            }
        }
        for k in 0..<K {
            for o in 0..<O { dw[o * K + k] = dwt[k * O + o] }
        }
        return true
    }

    /// Splits C over the workers (the longer side, in micro-tile multiples), applies β, and calls
    /// `body(m0, m1, n0, n1, C slice, overwrite)` per slice.
    static func split(
        M: Int, N: Int, K: Int, beta: Float, C: UnsafeMutablePointer<Float>, rsC: Int, csC: Int, threads: Int?,
        _ body: (Int, Int, Int, Int, UnsafeMutablePointer<Float>, Int32) -> Void
    ) {
        if M == 0 || N == 0 { return }
        let flops = 2.0 * Double(M) * Double(N) * Double(K)
        let maxThreads = threads ?? Parallel.threads
        let workers = flops < 2.0e5 ? 1 : min(maxThreads, max(1, Int(flops / 1.0e5)))
        // Split the longer side of C in multiples of the micro-tile height/width.
        let splitRows = M >= N || N < 64 * workers
        let parts = splitRows ? min(workers, max(1, M / 8)) : min(workers, max(1, N / 32))

        func slice(_ p: Int) {
            let (m0, m1, n0, n1): (Int, Int, Int, Int)
            if splitRows {
                let unit = (M + 7) / 8
                m0 = min(M, unit * p / parts * 8)
                m1 = min(M, unit * (p + 1) / parts * 8)
                n0 = 0
                n1 = N
            } else {
                let unit = (N + 31) / 32
                n0 = min(N, unit * p / parts * 32)
                n1 = min(N, unit * (p + 1) / parts * 32)
                m0 = 0
                m1 = M
            }
            if m1 <= m0 || n1 <= n0 { return }
            let c = C + m0 * rsC + n0 * csC
            if beta != 1 && beta != 0 {
                for i in 0..<(m1 - m0) {
                    let row = c + i * rsC
                    for j in 0..<(n1 - n0) { row[j * csC] *= beta }
                }
            }
            // β = 0: the kernel overwrites C in its first K block (no zeroing pass, no read of C).
            body(m0, m1, n0, n1, c, beta == 0 ? 1 : 0)
        }
        if parts <= 1 {
            slice(0)
            return
        }
        withoutActuallyEscaping(slice) { s in
            DispatchQueueBridge.concurrentPerform(parts) { s($0) }
        }
    }
}

enum DispatchQueueBridge {
    @inline(__always)
    static func concurrentPerform(_ n: Int, _ body: (Int) -> Void) {
        Parallel.region(n, body)
    }
}

extension Tensor {
    /// Row/column strides of the last two dims, for handing a matrix view to GEMM.
    var matrixStrides: (Int, Int) { (strides[rank - 2], strides[rank - 1]) }
}

extension Kernels {
    /// Matrix product with NumPy broadcasting over leading (batch) dimensions:
    /// a [..., M, K] · b [..., K, N] → [..., M, N]. 1-d operands are not promoted; use reshape.
    /// `rowsDone(out, r0, r1)` runs once rows [r0, r1) of the result (its leading dimensions folded
    /// into rows) are final, on the worker that finished them where the product is split by rows, so
    /// an elementwise epilogue reads them from cache; it covers every row exactly once.
    public static func matmul(
        _ a: Tensor, _ b: Tensor, rowsDone: ((Tensor, Int, Int) -> Void)? = nil
    ) -> Tensor {
        precondition(a.rank >= 2 && b.rank >= 2, "matmul needs rank ≥ 2, got \(a.shape) and \(b.shape)")
        let M = a.shape[a.rank - 2]
        let K = a.shape[a.rank - 1]
        let N = b.shape[b.rank - 1]
        precondition(b.shape[b.rank - 2] == K, "matmul: inner dimensions differ: \(a.shape) · \(b.shape)")
        let batchA = Array(a.shape.dropLast(2))
        let batchB = Array(b.shape.dropLast(2))
        let batch = Tensor.broadcastShape(batchA, batchB)
        let out = Tensor.empty(batch + [M, N])
        let nb = batch.reduce(1, *)
        if nb == 0 || M == 0 || N == 0 { return out }
        if K == 0 {
            out.fill(0)
            rowsDone?(out, 0, nb * M)
            return out
        }
        let (rsA, csA) = a.matrixStrides
        let (rsB, csB) = b.matrixStrides

        // Fold a's batch into M when b is shared and a's rows are evenly spaced: one big GEMM.
        if batchB.reduce(1, *) == 1 && batchA == batch && a.rank > 2 {
            var foldable = true
            var expected = rsA * M
            for d in stride(from: a.rank - 3, through: 0, by: -1) where a.shape[d] != 1 {
                if a.strides[d] != expected {
                    foldable = false
                    break
                }
                expected *= a.shape[d]
            }
            if foldable {
                gemm(
                    M: nb * M, N: N, K: K, A: a.data, rsA: rsA, csA: csA,
                    B: b.data, rsB: rsB, csB: csB, C: out.data, rsC: N, csC: 1,
                    rowsDone: rowsDone.map { done in { r0, r1 in done(out, r0, r1) } })
                return out
            }
        }
        let ae = a.expandedRaw(to: batch + [M, K])
        let be = b.expandedRaw(to: batch + [K, N])
        func offsets(_ i: Int) -> (Int, Int) {
            // batch index i → element offsets (row-major over `batch`)
            var r = i
            var oa = 0
            var ob = 0
            for d in stride(from: batch.count - 1, through: 0, by: -1) {
                let k = r % batch[d]
                r /= batch[d]
                oa += k * ae.strides[d]
                ob += k * be.strides[d]
            }
            return (oa, ob)
        }
        let perFlops = 2.0 * Double(M) * Double(N) * Double(K)
        let ap = ae.data
        let bp = be.data
        let cp = out.data
        Profiler.gemm(m: M, n: N, k: K, batch: nb) {
            batchedGEMM(nb: nb, M: M, N: N, K: K, perFlops: perFlops, offsets: offsets) { oa, ob, i, threads in
                gemm(
                    M: M, N: N, K: K, A: ap + oa, rsA: rsA, csA: csA, B: bp + ob, rsB: rsB, csB: csB,
                    C: cp + i * M * N, rsC: N, csC: 1, threads: threads)
            }
        }
        if let rowsDone { Parallel.forRanges(nb * M, grain: 64) { r in rowsDone(out, r.lowerBound, r.upperBound) } }
        return out
    }

    /// Runs `nb` independent GEMMs: one per worker when they are small, else one after another.
    static func batchedGEMM(
        nb: Int, M: Int, N: Int, K: Int, perFlops: Double, offsets: (Int) -> (Int, Int),
        _ one: (Int, Int, Int, Int?) -> Void
    ) {
        if nb >= Parallel.threads && perFlops < 4.0e6 {
            Parallel.forEach(nb) { i in
                let (oa, ob) = offsets(i)
                one(oa, ob, i, 1)
            }
        } else {
            for i in 0..<nb {
                let (oa, ob) = offsets(i)
                one(oa, ob, i, nil)
            }
        }
    }
}
