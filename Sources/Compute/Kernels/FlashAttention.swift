// FlashAttention on the CPU (Dao et al. 2022; FlashAttention-2, Dao 2023).
//
// Forward: Q is cut into tiles of `blockQ` rows, K/V into tiles of `blockK` rows. Per Q tile we keep
// a running row max m, normaliser l and an unnormalised output accumulator; each K/V tile's scores
// S = scale·Q Kᵀ live only in a small scratch tile; the accumulator is rescaled by exp(m_old − m_new)
// as tiles arrive. The N×N score matrix never exists; per row only logsumexp = m + log l is saved.
// Backward (FA-2): D = rowsum(dO ∘ O); per K/V tile, per Q tile: P = exp(S − lse) recomputed,
// dV += Pᵀ dO, dP = dO Vᵀ, dS = P ∘ (dP − D), dQ += scale·dS K, dK += scale·dS Q.
// Masks (causal, bottom-right aligned when Nq < Nk; packed documents) are per-row key ranges, and
// tiles outside every row's range are skipped. Tile products use the packed GEMM micro-kernel.
import CKernels
import Foundation

/// One attention operand: base pointer and element strides for batch, head and row; the head
/// dimension (last) must be contiguous.
public struct AttentionOperand {
    public var ptr: UnsafeMutablePointer<Float>
    public var sb: Int, sh: Int, sn: Int
    public init(_ ptr: UnsafeMutablePointer<Float>, sb: Int, sh: Int, sn: Int) {
        self.ptr = ptr
        self.sb = sb
        self.sh = sh
        self.sn = sn
    }
    /// From a [B, H, N, d] view whose last dimension is contiguous.
    public init(_ t: Tensor) {
        precondition(
            t.rank == 4 && (t.strides[3] == 1 || t.shape[3] == 1),
            "attention operand must be [B, H, N, d] with contiguous d")
        self.init(t.data, sb: t.strides[0], sh: t.strides[1], sn: t.strides[2])
    }
    @inline(__always) func row(_ b: Int, _ h: Int, _ n: Int) -> UnsafeMutablePointer<Float> {
        ptr + b * sb + h * sh + n * sn
    }
}

/// Which keys each query row may attend to: a contiguous range [lo, hi) per row.
public struct AttentionMask: Sendable, Equatable {
    public let nq: Int, nk: Int, causal: Bool
    /// Cumulative document lengths for packed sequences ([0, len0, len0+len1, …, N]); nil: one sequence.
    public let cuSeqlens: [Int]?
    let docOf: [Int]

    public init(nq: Int, nk: Int, causal: Bool, cuSeqlens: [Int]? = nil) {
        self.nq = nq
        self.nk = nk
        self.causal = causal
        self.cuSeqlens = cuSeqlens
        if let cu = cuSeqlens {
            precondition(nq == nk, "packed attention needs equal query and key lengths")
            precondition(
                cu.first == 0 && cu.last == nq && zip(cu, cu.dropFirst()).allSatisfy { $0 <= $1 },
                "cuSeqlens must rise from 0 to \(nq), got \(cu)")
            var d = [Int](repeating: 0, count: nq)
            for doc in 0..<(cu.count - 1) { for i in cu[doc]..<cu[doc + 1] { d[i] = doc } }
            docOf = d
        } else {
            docOf = []
        }
    }

    /// Keys [lo, hi) visible to query row i.
    @inline(__always)
    public func range(_ i: Int) -> (Int, Int) {
        if let cu = cuSeqlens {
            let d = docOf[i]
            return (cu[d], causal ? i + 1 : cu[d + 1])
        }
        return (0, causal ? Swift.min(nk, Swift.max(0, i + nk - nq + 1)) : nk)
    }

    /// Query–key pairs the mask lets through (the useful work: 4·d FLOPs each forward, 10·d backward).
    public var visiblePairs: Int {
        var n = 0
        for i in 0..<nq {
            let (a, b) = range(i)
            n += Swift.max(0, b - a)
        }
        return n
    }

    /// Union of the key ranges of rows [i0, i1).
    func span(_ i0: Int, _ i1: Int) -> (Int, Int) {
        if cuSeqlens == nil {  // one sequence: row ranges grow with the row, the last row's is the union
            let hi = range(i1 - 1).1
            return hi > 0 ? (0, hi) : (0, 0)
        }
        var lo = Int.max
        var hi = Int.min
        for i in i0..<i1 {
            let (a, b) = range(i)
            if b > a {
                lo = Swift.min(lo, a)
                hi = Swift.max(hi, b)
            }
        }
        return lo > hi ? (0, 0) : (lo, hi)
    }

    /// Whether every row of [i0, i1) sees all keys of [k0, k1).
    func full(_ i0: Int, _ i1: Int, _ k0: Int, _ k1: Int) -> Bool {
        if cuSeqlens == nil { return k0 >= 0 && range(i0).1 >= k1 }  // the first row's range is the shortest
        for i in i0..<i1 {
            let (a, b) = range(i)
            if a > k0 || b < k1 { return false }
        }
        return true
    }

    /// Whether a tile of `rows` rows that crosses the causal diagonal is cut into bands of rows, each
    /// computing only the keys its last (widest) row sees (`forEachBand`): one sequence only (packed
    /// documents' ranges do not only grow), and tiles taller than a band. At 4096 tokens in tiles of
    /// 128, the diagonal tiles' masked halves were 3 % of the products.
    func bandsDiagonal(rows: Int) -> Bool { cuSeqlens == nil && causal && rows > Self.band }
    static let band = 32

    /// Calls body(first row, rows, keys) for each band of 32 rows of the tile at (i0, k0) that sees
    /// any of its `cols` keys; not banded, once for the whole tile, body(0, rows, cols).
    @inline(__always)
    func forEachBand(
        _ banded: Bool, _ i0: Int, _ rows: Int, _ k0: Int, _ cols: Int, _ body: (Int, Int, Int) -> Void
    ) {
        if !banded { return body(0, rows, cols) }
        var r0 = 0
        while r0 < rows {
            let rr = Swift.min(Self.band, rows - r0)
            let sc = Swift.min(cols, range(i0 + r0 + rr - 1).1 - k0)
            if sc > 0 { body(r0, rr, sc) }
            r0 += Self.band
        }
    }

    /// The first row of [i0, i0 + rows) that sees key `key` (rows if none): the start of the rows a
    /// key column of a diagonal tile needs (one sequence, causal: row ranges only grow).
    func firstRow(seeing key: Int, _ i0: Int, _ rows: Int) -> Int {
        var r = 0
        while r < rows && range(i0 + r).1 <= key { r += 1 }
        return r
    }

    /// Sets masked scores of a [rows × cols] tile (row stride ld) to −∞.
    func apply(_ s: UnsafeMutablePointer<Float>, ld: Int, i0: Int, rows: Int, k0: Int, cols: Int) {
        for r in 0..<rows {
            let (a, b) = range(i0 + r)
            let row = s + r * ld
            // Row r sees columns [a − k0, b − k0) of the tile: the rest is set as two runs (a loop
            // with a test per element mispredicted along the diagonal: 10 % of short attention).
            let lo = Swift.min(cols, Swift.max(0, a - k0))
            let hi = Swift.max(lo, Swift.min(cols, b - k0))
            if lo > 0 { row.update(repeating: -.infinity, count: lo) }
            if hi < cols { (row + hi).update(repeating: -.infinity, count: cols - hi) }
        }
    }
}

/// Scratch floats from the tensor buffer pool: 64-byte aligned, and reused from call to call (at 4096
/// keys the backward's 10 MB had been mapped afresh, page by page, on every call).
struct Scratch {
    let ptr: UnsafeMutablePointer<Float>
    let capacity: Int
    init(_ count: Int) {
        capacity = BufferPool.sizeClass(count)
        ptr = BufferPool.take(capacity)
    }
    func release() { BufferPool.give(ptr, capacity) }
}

public enum FlashAttention {
    /// Keys per band of a diagonal tile's key-row products (dV, dK): one micro-kernel panel.
    static let bandKeys = 32
    /// Query and key tile sizes (rows) set for the process; 0 (the default): chosen per call by
    /// `queryTile(rows:)` and `keyTile(keys:forward:)`.
    nonisolated(unsafe) static var defaultTiles = (q: 0, k: 0)
    /// A per-thread override of the tile sizes (see `withTiles`): q in the high half, k in the low.
    static let tilesKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Query and key/value tile rows. Setting them changes the process default (`bench attention
    /// --block-q/--block-k`); `withTiles` overrides them for one thread's work. blockQ reads as the
    /// tile of a long (4096-row) sequence unless set, blockK as the backward's.
    public static var blockQ: Int {
        get { queryTile(rows: 4096) }
        set { defaultTiles.q = max(1, newValue) }
    }
    public static var blockK: Int {
        get { keyTile(keys: 4096, forward: false) }
        set { defaultTiles.k = max(1, newValue) }
    }

    /// The key/value tile, unless set: 128 rows (a 64 KiB score tile at 128 query rows, in L2), and 256
    /// in the forward from 1024 keys on, where the softmax's work per row and tile (the max and sum
    /// reductions, the accumulator's rescaling) then comes once per 256 keys (`bench attention --mask
    /// causal --block-k`, forward ms, Zen 4, 4 heads of 64: N = 4096: 48.9–52.9 with 128, 47.0–49.4
    /// with 256; N = 1024: 3.7 and 3.4–3.6; the backward gained nothing).
    static func keyTile(keys: Int, forward: Bool) -> Int {
        if let p = pthread_getspecific(tilesKey) { return Int(bitPattern: p) & 0xFFFF_FFFF }
        if defaultTiles.k > 0 { return defaultTiles.k }
        return forward && keys >= 1024 ? 256 : 128
    }

    /// The query tile for `rows` query rows, unless set: short sequences take short tiles, so that a
    /// causal tile's masked keys are left out (`bench attention --mask causal --block-q`, fwd+bwd ms,
    /// Zen 4, 48 heads of 64: N = 128: 2.96 with 16-row tiles, 3.48 with 32, 4.76 with 128; N = 256 and
    /// 512: 16 and 32 alike, 128 slowest; N = 1024: 32 best; N = 4096 (4 heads): 128 best).
    static func queryTile(rows: Int) -> Int {
        if let p = pthread_getspecific(tilesKey) { return Int(bitPattern: p) >> 32 }
        if defaultTiles.q > 0 { return defaultTiles.q }
        return rows <= 128 ? 16 : rows <= 2048 ? 32 : 128
    }

    /// For `bench attention --bound` only: while set, flash attention runs its tile products alone, on
    /// the same tiles in the same order, without the masks, the softmax, the exponentials and dS. The
    /// time is the ceiling of the tiling; the outputs are not attention.
    nonisolated(unsafe) static var productsOnly = false

    /// Runs `body` with flash attention's tile products alone (see `productsOnly`), in every thread.
    public static func timingProductsOnly<T>(_ body: () throws -> T) rethrows -> T {
        productsOnly = true
        defer { productsOnly = false }
        return try body()
    }

    /// Runs `body` with q × k tiles for the attention called from this thread only.
    public static func withTiles<T>(q: Int, k: Int, _ body: () throws -> T) rethrows -> T {
        let old = pthread_getspecific(tilesKey)
        pthread_setspecific(tilesKey, UnsafeRawPointer(bitPattern: max(1, q) << 32 | max(1, k)))
        defer { pthread_setspecific(tilesKey, old) }
        return try body()
    }

    /// O = softmax(scale·Q Kᵀ + mask) V for q [B, H, Nq, d], k/v [B, Hkv, Nk, d] (H a multiple of Hkv);
    /// writes O (same layout as q) and lse [B·H·Nq] (natural log; −∞ for a row that sees no key).
    public static func forward(
        q: AttentionOperand, k: AttentionOperand, v: AttentionOperand, o: AttentionOperand,
        lse: UnsafeMutablePointer<Float>, B: Int, H: Int, Hkv: Int, d: Int,
        scale: Float, mask: AttentionMask
    ) {
        guard Profiler.active else {
            return forwardRaw(q: q, k: k, v: v, o: o, lse: lse, B: B, H: H, Hkv: Hkv, d: d, scale: scale, mask: mask)
        }
        Profiler.scope(.attentionForward, flops: 4 * Double(B * H * d) * Double(mask.visiblePairs)) {
            forwardRaw(q: q, k: k, v: v, o: o, lse: lse, B: B, H: H, Hkv: Hkv, d: d, scale: scale, mask: mask)
        }
    }

    static func forwardRaw(
        q: AttentionOperand, k: AttentionOperand, v: AttentionOperand, o: AttentionOperand,
        lse: UnsafeMutablePointer<Float>, B: Int, H: Int, Hkv: Int, d: Int,
        scale: Float, mask: AttentionMask
    ) {
        let Nq = mask.nq
        let Nk = mask.nk
        let bq = queryTile(rows: Nq)
        let bk = keyTile(keys: Nk, forward: true)
        let only = productsOnly
        let group = H / Hkv
        let nQT = (Nq + bq - 1) / bq
        let nKT = (Nk + bk - 1) / bk
        // Enough heads to keep every worker busy: one work item per key/value head, whose Kᵀ and V
        // tiles are packed once for all its query heads and query tiles (packing them per tile cost as
        // much as the products at head dim 32, and 8 % of a 4096-token causal pass).
        let packed = packedTiles(B: B, Hkv: Hkv, Nk: Nk, d: d, bk: bk)
        let dpad = (d + 31) / 32 * 32
        let ktSize = d * ((Nk + 31) / 32 * 32)
        let vSize = nKT * bk * dpad
        // Few heads (a long sequence's): each head's query tiles in `splits` runs of equal work, so
        // that a worker whose core runs slower hands runs over. A worker packs a head's keys and
        // values once for the runs it takes in a row. (At 4096 tokens, 4 heads, 2 workers, a probe of
        // each worker's busy time: whole heads left one idle for up to 8 ms of a 130 ms backward in
        // a slow spell; runs of half a head, up to 2.3 ms. The forward gained less: its items are
        // shorter either way.)
        let splits = packed ? Self.splits(heads: B * Hkv, tiles: nQT, keys: Nk) : 1
        let qBounds =
            splits > 1
            ? balancedBounds(
                (0..<nQT).map { qt in
                    let (lo, hi) = mask.span(qt * bq, Swift.min(Nq, (qt + 1) * bq))
                    return hi > lo ? (hi - (lo / bk) * bk + bk - 1) / bk : 0
                }, parts: splits) : []
        let items = packed ? B * Hkv * splits : B * H * nQT
        // Each worker's scratch, allocated once for all its items: the score tile and the accumulator
        // on cache-line boundaries (malloc's 16-byte alignment split every other row's vector loads and
        // stores across two lines), and the packed key/value head (2 MB at 4096 keys of 64, which
        // malloc maps afresh, page by page, each time).
        let accSize = (bq * d + 15) / 16 * 16
        let scratchFloats = (bq * bk + accSize + 2 * bq + 15) / 16 * 16
        let perWorker = scratchFloats + (packed ? ktSize + vSize : 0)
        let workers = Parallel.stealingWorkers(items)
        let buffers = Scratch(workers * perWorker)
        defer { buffers.release() }
        // The key/value head each worker's scratch holds packed (−1: none).
        withUnsafeTemporaryAllocation(of: Int.self, capacity: workers) { packedHead in
            packedHead.initialize(repeating: -1)
            Parallel.forEachStealingByWorker(items) { worker, it in
                let s = buffers.ptr + worker * perWorker
                let acc = s + bq * bk
                let m = acc + accSize
                let l = m + bq
                let ktp = packed ? s + scratchFloats : nil
                func tile(_ b: Int, _ h: Int, _ qt: Int) {
                    let hk = h / group
                    let i0 = qt * bq
                    let rows = Swift.min(bq, Nq - i0)
                    acc.update(repeating: 0, count: rows * d)
                    for r in 0..<rows {
                        m[r] = -.infinity
                        l[r] = 0
                    }
                    let (lo, hi) = mask.span(i0, i0 + rows)
                    let qp = q.row(b, h, i0)
                    var k0 = (lo / bk) * bk
                    while k0 < hi {
                        // Keys past the span are masked for every row of the tile: not computed at all.
                        let cols = Swift.min(bk, hi - k0)
                        let full = mask.full(i0, i0 + rows, k0, k0 + cols)
                        // A tile across the causal diagonal: each band of rows computes only the keys
                        // it sees (the rest are masked below), both products.
                        let banded = ktp != nil && !full && mask.bandsDiagonal(rows: rows)
                        if let ktp {
                            mask.forEachBand(banded, i0, rows, k0, cols) { r0, rr, sc in
                                orr_sgemm_panels(
                                    rr, sc, d, scale, qp + r0 * q.sn, q.sn, 1, ktp + k0 * d, 32 * d, s + r0 * bk,
                                    bk,
                                    1, 1)
                            }
                        } else {
                            s.update(repeating: 0, count: rows * bk)
                            orr_sgemm_acc(rows, cols, d, scale, qp, q.sn, 1, k.row(b, hk, k0), 1, k.sn, s, bk, 1)
                        }
                        if !full && !only {
                            mask.apply(s, ld: bk, i0: i0, rows: rows, k0: k0, cols: cols)
                        }
                        if !only { orr_attention_softmax_tile(s, bk, rows, cols, m, l, acc, d) }
                        if let ktp {
                            let vTile = ktp + ktSize + (k0 / bk) * bk * dpad
                            let tileRows = Swift.min(bk, Nk - k0)
                            mask.forEachBand(banded, i0, rows, k0, cols) { r0, rr, sc in
                                orr_sgemm_panels(
                                    rr, d, sc, 1, s + r0 * bk, bk, 1, vTile, 32 * tileRows, acc + r0 * d, d, 1, 0)
                            }
                        } else {
                            orr_sgemm_acc(rows, d, cols, 1, s, bk, 1, v.row(b, hk, k0), v.sn, 1, acc, d, 1)
                        }
                        k0 += bk
                    }
                    orr_attention_finish(acc, d, rows, m, l, o.row(b, h, i0), o.sn, lse + (b * H + h) * Nq + i0)
                }
                if let ktp {
                    let bh = it / splits
                    let b = bh / Hkv
                    let hk = bh % Hkv
                    if packedHead[worker] != bh {
                        packKeysValues(k, v, b: b, hk: hk, Nk: Nk, d: d, bk: bk, kt: ktp, vt: ktp + ktSize)
                        packedHead[worker] = bh
                    }
                    let ahead = splits == 1 && it + 1 < items && prefetchesHeads(Nq: Nq, Nk: Nk, d: d, group: group)
                    let tiles = group * nQT
                    for g in 0..<group {
                        for qt in splits > 1 ? qBounds[it % splits]..<qBounds[it % splits + 1] : 0..<nQT {
                            // The next head's keys, values and queries, a share per tile (a short
                            // sequence's head is done before the prefetchers would have found them).
                            if ahead {
                                let t = g * nQT + qt
                                let (nb, nhk) = ((it + 1) / Hkv, (it + 1) % Hkv)
                                let (r0, r1) = (Nk * t / tiles, Nk * (t + 1) / tiles)
                                orr_prefetch_rows(k.row(nb, nhk, 0), r0, r1, k.sn, d, 0)
                                orr_prefetch_rows(v.row(nb, nhk, 0), r0, r1, v.sn, d, 0)
                                for ng in 0..<group {
                                    orr_prefetch_rows(
                                        q.row(nb, nhk * group + ng, 0), Nq * t / tiles, Nq * (t + 1) / tiles, q.sn, d, 0
                                    )
                                }
                            }
                            tile(b, hk * group + g, qt)
                        }
                    }
                } else {
                    tile(it / (nQT * H), (it / nQT) % H, it % nQT)
                }
            }
        }
    }

    /// Runs each head's tiles are cut into: 1 with enough heads to share out (4 a worker), else about
    /// 4 runs a worker in all, at most one a tile. Below 1024 keys only as many as keep every worker
    /// busy: a run's own costs (its dQ rows zeroed and summed, its head packed again when stolen)
    /// outweighed the balance (`bench attention --seq 256 --mask causal`, 4 heads: fwd+bwd 0.79–0.80
    /// → 0.83–0.87 ms).
    static func splits(heads: Int, tiles: Int, keys: Int) -> Int {
        let want = keys >= 1024 ? 4 * Parallel.threads : Parallel.threads
        return heads >= want ? 1 : Swift.max(1, Swift.min(tiles, (want + heads - 1) / heads))
    }

    /// Cuts tiles 0 ..< costs.count into `parts` runs of near-equal total cost: bounds[0 ... parts]
    /// (run p is bounds[p] ..< bounds[p + 1]; a run may be empty).
    static func balancedBounds(_ costs: [Int], parts: Int) -> [Int] {
        let total = costs.reduce(0, +)
        var bounds = [0]
        var sum = 0
        var t = 0
        for p in 1..<parts {
            // Tiles whose middle falls short of p/parts of the total cost.
            while t < costs.count && (2 * sum + costs[t]) * parts < 2 * p * total {
                sum += costs[t]
                t += 1
            }
            bounds.append(t)
        }
        bounds.append(costs.count)
        return bounds
    }

    /// Whether a worker asks for the next head's operands while it computes this one: a short
    /// sequence's head, whose operands fit in L2 beside this one's.
    static func prefetchesHeads(Nq: Int, Nk: Int, d: Int, group: Int) -> Bool {
        4 * d * (2 * Nk + 2 * group * Nq) <= 128 << 10
    }

    /// Whether attention packs each key/value head's operands once (enough heads to keep every worker
    /// busy, the 32-column packed GEMM available). The packed copies take O(Nk·d) floats per worker
    /// (about 5 MB in the backward at 4096 keys of 64), hence the cap on Nk (`bench attention --seq
    /// 4096`, causal fwd+bwd, Zen 4: 164 ms packing per tile, 157 ms packing per head).
    static func packedTiles(B: Int, Hkv: Int, Nk: Int, d: Int, bk: Int) -> Bool {
        orr_sgemm_prepacked_available() != 0 && d <= 256 && bk <= 256 && bk % 32 == 0 && Nk <= 8192
            && B * Hkv >= 2 * Parallel.threads
    }

    /// Packs Kᵀ [d, Nk] of head (b, hk) as GEMM panels into `kt` (column n at panel n/32), and each
    /// key tile of `u` (V, or K itself) [rows, d] into `vt`, tile t at t·bk·dpad.
    static func packKeysValues(
        _ k: AttentionOperand, _ u: AttentionOperand, b: Int, hk: Int, Nk: Int, d: Int, bk: Int,
        kt: UnsafeMutablePointer<Float>?, vt: UnsafeMutablePointer<Float>
    ) {
        if let kt { orr_sgemm_pack_b(d, Nk, k.row(b, hk, 0), 1, k.sn, kt) }
        let dpad = (d + 31) / 32 * 32
        var k0 = 0
        while k0 < Nk {
            orr_sgemm_pack_b(Swift.min(bk, Nk - k0), d, u.row(b, hk, k0), u.sn, 1, vt + (k0 / bk) * bk * dpad)
            k0 += bk
        }
    }

    /// Gradients dq, dk, dv (overwritten) of the forward above, from q, k, v, its output o, lse and dO.
    public static func backward(
        q: AttentionOperand, k: AttentionOperand, v: AttentionOperand, o: AttentionOperand,
        dO: AttentionOperand, lse: UnsafePointer<Float>,
        dq: AttentionOperand, dk: AttentionOperand, dv: AttentionOperand,
        B: Int, H: Int, Hkv: Int, d: Int, scale: Float, mask: AttentionMask
    ) {
        guard Profiler.active else {
            return backwardRaw(
                q: q, k: k, v: v, o: o, dO: dO, lse: lse, dq: dq, dk: dk, dv: dv, B: B, H: H, Hkv: Hkv, d: d,
                scale: scale, mask: mask)
        }
        Profiler.scope(.attentionBackward, flops: 10 * Double(B * H * d) * Double(mask.visiblePairs)) {
            backwardRaw(
                q: q, k: k, v: v, o: o, dO: dO, lse: lse, dq: dq, dk: dk, dv: dv, B: B, H: H, Hkv: Hkv, d: d,
                scale: scale, mask: mask)
        }
    }

    static func backwardRaw(
        q: AttentionOperand, k: AttentionOperand, v: AttentionOperand, o: AttentionOperand,
        dO: AttentionOperand, lse: UnsafePointer<Float>,
        dq: AttentionOperand, dk: AttentionOperand, dv: AttentionOperand,
        B: Int, H: Int, Hkv: Int, d: Int, scale: Float, mask: AttentionMask
    ) {
        let Nq = mask.nq
        let Nk = mask.nk
        let bq = queryTile(rows: Nq)
        let bk = keyTile(keys: Nk, forward: false)
        let only = productsOnly
        let group = H / Hkv
        // D = rowsum(dO ∘ O), [B, H, Nq]
        let rowSums = Scratch(B * H * Nq)
        defer { rowSums.release() }
        let D = rowSums.ptr
        Parallel.forRanges(B * H * Nq, grain: 256) { r in
            for idx in r {
                let n = idx % Nq
                let h = (idx / Nq) % H
                let b = idx / (Nq * H)
                D[idx] = orr_sdot(dO.row(b, h, n), o.row(b, h, n), d)
            }
        }
        let nKT = (Nk + bk - 1) / bk
        let heads = B * Hkv
        // Each work item owns one KV head (all of its query heads), so dK, dV and dQ have one writer.
        // With few heads (see forwardRaw), each head's key tiles are cut into runs of equal work, each
        // run writing its own dQ, summed in a fixed order at the end.
        let nQT = (Nq + bq - 1) / bq
        let splits = Self.splits(heads: heads, tiles: nKT, keys: Nk)
        let kBounds =
            splits > 1
            ? balancedBounds(
                (0..<nKT).map { kt in
                    (0..<nQT).reduce(0) { n, qt in
                        let (lo, hi) = mask.span(qt * bq, Swift.min(Nq, (qt + 1) * bq))
                        return n + (hi > kt * bk && lo < (kt + 1) * bk ? 1 : 0)
                    }
                }, parts: splits) : []
        /// Zeroes the gradient rows of key/value head (b, hk) and its query heads.
        func zeroHead(_ b: Int, _ hk: Int) {
            for g in 0..<group { for n in 0..<Nq { orr_fill(dq.row(b, hk * group + g, n), d, 0) } }
            for n in 0..<Nk {
                orr_fill(dk.row(b, hk, n), d, 0)
                orr_fill(dv.row(b, hk, n), d, 0)
            }
        }
        // Each item zeroes the rows it owns (in its own cache): a whole head's, or a run's dK and dV
        // rows and its private dQ; the sum at the end writes dQ.
        let privSize = group * Nq * d
        let privScratch = splits > 1 ? Scratch(heads * splits * privSize) : nil
        let priv = privScratch?.ptr
        defer { privScratch?.release() }
        let packed = packedTiles(B: B, Hkv: Hkv, Nk: Nk, d: d, bk: bk)
        let dpad = (d + 31) / 32 * 32
        let ktSize = d * ((Nk + 31) / 32 * 32)
        let kSize = nKT * bk * dpad
        // Each worker's scratch, once for all its items (see forwardRaw): the score and dP tiles, and
        // the operands packed once per key/value head: Kᵀ and Vᵀ for the score products, the key tiles
        // for dQ, and each query head's Q and dO tiles, the B operands of dK and dV.
        let qSize = (Nq + bq - 1) / bq * bq * dpad
        let total = 2 * ktSize + kSize + 2 * qSize
        let tile = (bq * bk + 15) / 16 * 16  // 64-byte boundaries
        let perWorker = 2 * tile + (packed ? total : 0)
        let workers = Parallel.stealingWorkers(heads * splits)
        let buffers = Scratch(workers * perWorker)
        defer { buffers.release() }
        // The key/value head each worker's scratch holds packed (−1: none), with its query head's Q
        // and dO tiles when there is one query head a key/value head.
        withUnsafeTemporaryAllocation(of: Int.self, capacity: workers) { packedHead in
            packedHead.initialize(repeating: -1)
            Parallel.forEachStealingByWorker(heads * splits) { worker, item in
                let sp = item % splits
                let bh = item / splits
                let b = bh / Hkv
                let hk = bh % Hkv
                let s = buffers.ptr + worker * perWorker
                let dp = s + tile
                let ktp = packed ? dp + tile : nil
                let t0 = splits > 1 ? kBounds[sp] : 0
                let t1 = splits > 1 ? kBounds[sp + 1] : nKT
                if splits == 1 {
                    zeroHead(b, hk)
                } else {
                    for n in (t0 * bk)..<Swift.min(Nk, t1 * bk) {
                        orr_fill(dk.row(b, hk, n), d, 0)
                        orr_fill(dv.row(b, hk, n), d, 0)
                    }
                    priv!.advanced(by: (bh * splits + sp) * privSize).update(repeating: 0, count: privSize)
                }
                let reuse = packedHead[worker] == bh
                if let ktp, !reuse {
                    packKeysValues(k, k, b: b, hk: hk, Nk: Nk, d: d, bk: bk, kt: ktp, vt: ktp + 2 * ktSize)
                    orr_sgemm_pack_b(d, Nk, v.row(b, hk, 0), 1, v.sn, ktp + ktSize)
                    packedHead[worker] = bh
                }
                let qtp = ktp.map { $0 + 2 * ktSize + kSize }
                let ahead = splits == 1 && bh + 1 < heads && prefetchesHeads(Nq: Nq, Nk: Nk, d: d, group: group)
                let tiles = group * nQT
                for g in 0..<group {
                    let h = hk * group + g
                    if let qtp, !(reuse && group == 1) {
                        var i0 = 0
                        while i0 < Nq {
                            let rows = Swift.min(bq, Nq - i0)
                            orr_sgemm_pack_b(rows, d, q.row(b, h, i0), q.sn, 1, qtp + (i0 / bq) * bq * dpad)
                            orr_sgemm_pack_b(rows, d, dO.row(b, h, i0), dO.sn, 1, qtp + qSize + (i0 / bq) * bq * dpad)
                            i0 += bq
                        }
                    }
                    for kt in t0..<t1 {
                        let k0 = kt * bk
                        let cols = Swift.min(bk, Nk - k0)
                        let kp = k.row(b, hk, k0)
                        let vp = v.row(b, hk, k0)
                        let dkp = dk.row(b, hk, k0)
                        let dvp = dv.row(b, hk, k0)
                        var i0 = 0
                        while i0 < Nq {
                            let rows = Swift.min(bq, Nq - i0)
                            if ahead && kt == t0 {
                                // The next head's operands and gradient rows, a share per query tile
                                // (see forwardRaw).
                                let t = g * nQT + i0 / bq
                                let (nb, nhk) = ((bh + 1) / Hkv, (bh + 1) % Hkv)
                                let (r0, r1) = (Nk * t / tiles, Nk * (t + 1) / tiles)
                                orr_prefetch_rows(k.row(nb, nhk, 0), r0, r1, k.sn, d, 0)
                                orr_prefetch_rows(v.row(nb, nhk, 0), r0, r1, v.sn, d, 0)
                                orr_prefetch_rows(dk.row(nb, nhk, 0), r0, r1, dk.sn, d, 1)
                                orr_prefetch_rows(dv.row(nb, nhk, 0), r0, r1, dv.sn, d, 1)
                                let (s0, s1) = (Nq * t / tiles, Nq * (t + 1) / tiles)
                                for ng in 0..<group {
                                    let nh = nhk * group + ng
                                    orr_prefetch_rows(q.row(nb, nh, 0), s0, s1, q.sn, d, 0)
                                    orr_prefetch_rows(dO.row(nb, nh, 0), s0, s1, dO.sn, d, 0)
                                    orr_prefetch_rows(dq.row(nb, nh, 0), s0, s1, dq.sn, d, 1)
                                }
                            }
                            let (lo, hi) = mask.span(i0, i0 + rows)
                            if hi <= k0 || lo >= k0 + cols {
                                i0 += bq
                                continue
                            }
                            // Keys of this tile past every row's range are masked: left out of the products.
                            let cols = Swift.min(cols, hi - k0)
                            let qp = q.row(b, h, i0)
                            let dop = dO.row(b, h, i0)
                            let full = mask.full(i0, i0 + rows, k0, k0 + cols)
                            // A tile across the causal diagonal (see forwardRaw): the products whose
                            // rows are query rows take bands of rows, each with the keys it sees; those
                            // whose rows are keys (dV, dK) take bands of 32 keys, each with the query rows
                            // that see its first key (the rows above see none of the band: P and dS are 0).
                            let banded = ktp != nil && !full && mask.bandsDiagonal(rows: rows)
                            if let ktp {
                                mask.forEachBand(banded, i0, rows, k0, cols) { r0, rr, sc in
                                    orr_sgemm_panels(
                                        rr, sc, d, scale, qp + r0 * q.sn, q.sn, 1, ktp + k0 * d, 32 * d,
                                        s + r0 * bk,
                                        bk, 1, 1)
                                }
                            } else {
                                s.update(repeating: 0, count: rows * bk)
                                orr_sgemm_acc(rows, cols, d, scale, qp, q.sn, 1, kp, 1, k.sn, s, bk, 1)
                            }
                            if !full && !only {
                                mask.apply(s, ld: bk, i0: i0, rows: rows, k0: k0, cols: cols)
                            }
                            if !only { orr_attention_exp_tile(s, bk, rows, cols, lse + (b * H + h) * Nq + i0) }
                            /// Calls body(first key, keys, first row) per band of 32 keys of a diagonal tile;
                            /// not banded, once for the whole tile, body(0, cols, 0).
                            func keyBands(_ body: (Int, Int, Int) -> Void) {
                                if !banded { return body(0, cols, 0) }
                                var c0 = 0
                                while c0 < cols {
                                    let r0 = mask.firstRow(seeing: k0 + c0, i0, rows)
                                    if r0 < rows { body(c0, Swift.min(FlashAttention.bandKeys, cols - c0), r0) }
                                    c0 += FlashAttention.bandKeys
                                }
                            }
                            // dV += Pᵀ dO
                            let qTile = qtp.map { $0 + (i0 / bq) * bq * dpad }
                            if let qTile {
                                keyBands { c0, cc, r0 in
                                    orr_sgemm_panels(
                                        cc, d, rows - r0, 1, s + r0 * bk + c0, 1, bk, qTile + qSize + r0 * 32,
                                        32 * rows,
                                        dvp + c0 * dv.sn, dv.sn, 1, 0)
                                }
                            } else {
                                orr_sgemm_acc(cols, d, rows, 1, s, 1, bk, dop, dO.sn, 1, dvp, dv.sn, 1)
                            }
                            // dP = dO Vᵀ ; dS = P ∘ (dP − D)
                            if let ktp {
                                mask.forEachBand(banded, i0, rows, k0, cols) { r0, rr, sc in
                                    orr_sgemm_panels(
                                        rr, sc, d, 1, dop + r0 * dO.sn, dO.sn, 1, ktp + ktSize + k0 * d, 32 * d,
                                        dp + r0 * bk, bk, 1, 1)
                                    // The keys a band leaves out: dP 0 there (P is 0), not last tile's.
                                    if sc < cols {
                                        for r in r0..<(r0 + rr) { orr_fill(dp + r * bk + sc, cols - sc, 0) }
                                    }
                                }
                            } else {
                                dp.update(repeating: 0, count: rows * bk)
                                orr_sgemm_acc(rows, cols, d, 1, dop, dO.sn, 1, vp, 1, v.sn, dp, bk, 1)
                            }
                            let drow = D + (b * H + h) * Nq + i0
                            if !only {
                                for r in 0..<rows { orr_softmax_grad_row(s + r * bk, dp + r * bk, cols, drow[r]) }
                            }
                            // dQ += scale·dS K ; dK += scale·dSᵀ Q
                            // A run's dQ goes to its private rows.
                            let (dqp, dqs) =
                                priv.map { ($0 + (bh * splits + sp) * privSize + (g * Nq + i0) * d, d) }
                                ?? (dq.row(b, h, i0), dq.sn)
                            if let ktp {
                                let kTile = ktp + 2 * ktSize + kt * bk * dpad
                                let kStride = 32 * Swift.min(bk, Nk - k0)
                                mask.forEachBand(banded, i0, rows, k0, cols) { r0, rr, sc in
                                    orr_sgemm_panels(
                                        rr, d, sc, scale, dp + r0 * bk, bk, 1, kTile, kStride, dqp + r0 * dqs, dqs,
                                        1, 0
                                    )
                                }
                            } else {
                                orr_sgemm_acc(rows, d, cols, scale, dp, bk, 1, kp, k.sn, 1, dqp, dqs, 1)
                            }
                            if let qTile {
                                keyBands { c0, cc, r0 in
                                    orr_sgemm_panels(
                                        cc, d, rows - r0, scale, dp + r0 * bk + c0, 1, bk, qTile + r0 * 32,
                                        32 * rows,
                                        dkp + c0 * dk.sn, dk.sn, 1, 0)
                                }
                            } else {
                                orr_sgemm_acc(cols, d, rows, scale, dp, 1, bk, qp, q.sn, 1, dkp, dk.sn, 1)
                            }
                            i0 += bq
                        }
                    }
                }
            }
        }
        if let pv = priv {  // sum the private dQ buffers in a fixed order
            Parallel.forRanges(heads * group * Nq, grain: 64) { r in
                for idx in r {
                    let n = idx % Nq
                    let g = (idx / Nq) % group
                    let bh = idx / (Nq * group)
                    let b = bh / Hkv
                    let h = (bh % Hkv) * group + g
                    let out = dq.row(b, h, n)
                    orr_fill(out, d, 0)
                    for sp in 0..<splits { orr_saxpy(d, 1, pv + (bh * splits + sp) * privSize + (g * Nq + n) * d, out) }
                }
            }
        }
    }
}
