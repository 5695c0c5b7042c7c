import CKernels
import Compute
import TestSupport
import XCTest

/// FlashAttention against the naive materialised definition, forward and backward.
final class AttentionTests: XCTestCase {
    /// max |a − b| / max |b|: relative to the scale of the reference. A reference that is exactly
    /// zero in exact arithmetic (N = 1: softmax ≡ 1, so dQ = dK = 0) is compared at the scale of
    /// its O(1) inputs, hence the floor of 0.01.
    func relErr(_ a: Tensor, _ b: Tensor) -> Float {
        let x = a.toArray()
        let y = b.toArray()
        var num: Float = 0
        var den: Float = 1e-2
        for i in 0..<x.count {
            num = max(num, abs(x[i] - y[i]))
            den = max(den, abs(y[i]))
        }
        return num / den
    }

    func compare(
        B: Int = 1, H: Int, Hkv: Int, Nq: Int, Nk: Int, d: Int, causal: Bool, cu: [Int]? = nil,
        seed: UInt64, line: UInt = #line
    ) {
        let q = randn([B, H, Nq, d], seed: seed)
        let k = randn([B, Hkv, Nk, d], seed: seed + 1)
        let v = randn([B, Hkv, Nk, d], seed: seed + 2)
        let dO = randn([B, H, Nq, d], seed: seed + 3)
        var grads: [[Tensor]] = []
        var outs: [Tensor] = []
        for impl in [AttentionImplementation.flash, .naive] {
            let qs = q.clone().requiringGrad()
            let ks = k.clone().requiringGrad()
            let vs = v.clone().requiringGrad()
            let o = Tensor.attention(qs, ks, vs, causal: causal, cuSeqlens: cu, implementation: impl)
            o.backward(dO)
            outs.append(o)
            grads.append([qs.grad!, ks.grad!, vs.grad!])
        }
        let what = "B\(B) H\(H)/\(Hkv) Nq\(Nq) Nk\(Nk) d\(d) causal=\(causal) cu=\(cu ?? [])"
        XCTAssertLessThan(relErr(outs[0], outs[1]), 1e-4, "output \(what)", line: line)
        for (n, name) in ["dQ", "dK", "dV"].enumerated() {
            XCTAssertLessThan(relErr(grads[0][n], grads[1][n]), 1e-4, "\(name) \(what)", line: line)
        }
    }

    /// The score-tile kernels attention calls (a vector path on AVX-512 machines) give exactly the
    /// library's exp of x − m per element — tiles with and without a 16-lane tail, masked (−∞),
    /// out-of-range and NaN scores — and the forward's running max, sum and accumulator rescaling.
    func testScoreTilesExponentiateWithTheLibraryExp() {
        var rng = RNG(seed: 77)
        func exact(_ got: Float, _ want: Float, _ what: String) {
            if want.isNaN {
                XCTAssertTrue(got.isNaN, what)
            } else {
                XCTAssertEqual(got.bitPattern, want.bitPattern, "\(what): \(got) vs \(want)")
            }
        }
        for n in [1, 15, 16, 17, 48, 100] {
            let rows = 3
            let ld = n + 3
            var x = (0..<(rows * ld)).map { _ in Float(rng.uniform()) * 120 - 100 }
            x[0] = -.infinity
            if n > 2 { x[2] = .nan }
            if n > 5 { x[5] = 95 }
            if n > 7 { x[7] = -88 }
            if n > 1 { x[2 * ld + 1] = -.infinity }  // a masked score in the forward's row
            // Backward: row r becomes exp(x − lse[r]); a row whose lse is −∞ becomes 0.
            let lse: [Float] = [3.5, -.infinity, -20]
            var p = x
            orr_attention_exp_tile(&p, ld, rows, n, lse)
            for r in 0..<rows {
                var want = [Float](repeating: 0, count: n)
                if lse[r] != -.infinity { orr_vexp(x[(r * ld)..<(r * ld + n)].map { $0 - lse[r] }, &want, n) }
                for c in 0..<n { exact(p[r * ld + c], want[c], "exp tile n \(n) row \(r) col \(c)") }
                XCTAssertEqual(Array(p[(r * ld + n)..<(r * ld + ld)]), Array(x[(r * ld + n)..<(r * ld + ld)]))
            }
            XCTAssertEqual(p[0], 0, "a masked score gives exactly 0")
            // Forward, row 2 (no NaN): first tile from m = −∞, then a second pass with the kept m.
            let d = 4
            var m: [Float] = [-.infinity]
            var l: [Float] = [0]
            var acc: [Float] = [1, 2, 3, 4]
            var s = Array(x[(2 * ld)..<(2 * ld + n)])
            orr_attention_softmax_tile(&s, n, 1, n, &m, &l, &acc, d)
            let mx = x[(2 * ld)..<(2 * ld + n)].max()!
            XCTAssertEqual(m[0], mx)
            var want = [Float](repeating: 0, count: n)
            orr_vexp(x[(2 * ld)..<(2 * ld + n)].map { $0 - mx }, &want, n)
            for c in 0..<n { exact(s[c], want[c], "softmax tile n \(n) col \(c)") }
            XCTAssertEqual(l[0], want.reduce(0, +), accuracy: 1e-5 * max(1, l[0]))
            XCTAssertEqual(acc, [0, 0, 0, 0], "the first tile replaces the accumulator (scale exp(−∞) = 0)")
            acc = [1, 2, 3, 4]
            let l0 = l[0]
            var t: [Float] = (0..<n).map { Float($0 % 7) + mx }  // raises the max by up to 6
            let t0 = t
            orr_attention_softmax_tile(&t, n, 1, n, &m, &l, &acc, d)
            let m1 = max(mx, t0.max()!)
            XCTAssertEqual(m[0], m1)
            let alpha = expf(mx - m1)
            XCTAssertEqual(acc, [1, 2, 3, 4].map { $0 * alpha })
            var e = [Float](repeating: 0, count: n)
            orr_vexp(t0.map { $0 - m1 }, &e, n)
            XCTAssertEqual(l[0], l0 * alpha + e.reduce(0, +), accuracy: 1e-5 * max(1, l[0]))
        }
    }

    func testFlashMatchesNaiveAcrossShapes() {
        var seed: UInt64 = 1
        for (N, d) in [(1, 32), (37, 64), (64, 64), (130, 32), (200, 128)] {
            for causal in [false, true] {
                compare(H: 2, Hkv: 2, Nq: N, Nk: N, d: d, causal: causal, seed: seed)
                seed += 10
            }
        }
        compare(B: 2, H: 4, Hkv: 2, Nq: 70, Nk: 70, d: 32, causal: true, seed: 100)  // GQA
        compare(B: 1, H: 4, Hkv: 1, Nq: 90, Nk: 90, d: 64, causal: false, seed: 110)  // multi-query
        compare(H: 2, Hkv: 2, Nq: 3, Nk: 70, d: 32, causal: true, seed: 120)  // decode: queries at the end
        compare(H: 2, Hkv: 1, Nq: 50, Nk: 20, d: 32, causal: false, seed: 130)
    }

    func testSmallTilesAndThreadCounts() {
        // Tile sizes and thread counts are set for this test's thread only (no global is changed).
        FlashAttention.withTiles(q: 16, k: 8) {
            XCTAssertEqual([FlashAttention.blockQ, FlashAttention.blockK], [16, 8])
            for t in [1, 2, 3] {
                Parallel.withThreads(t) {
                    XCTAssertEqual(Parallel.threads, t)
                    compare(H: 1, Hkv: 1, Nq: 45, Nk: 45, d: 32, causal: true, seed: 200)  // one head: split KV tiles
                    compare(H: 3, Hkv: 1, Nq: 33, Nk: 33, d: 32, causal: false, seed: 210)
                    compare(H: 2, Hkv: 2, Nq: 40, Nk: 40, d: 32, causal: true, cu: [0, 1, 9, 10, 33, 40], seed: 220)
                }
            }
        }
        // Key tiles of 32 with enough heads: each key/value head's operands packed once (Kᵀ columns
        // from a tile's start, V tiles cut short by the causal span and by packed documents).
        FlashAttention.withTiles(q: 16, k: 32) {
            for t in [1, 2] {
                Parallel.withThreads(t) {
                    compare(B: 2, H: 4, Hkv: 2, Nq: 100, Nk: 100, d: 48, causal: true, seed: 230)
                    compare(B: 2, H: 4, Hkv: 2, Nq: 90, Nk: 90, d: 32, causal: true, cu: [0, 5, 40, 41, 90], seed: 240)
                    compare(B: 3, H: 2, Hkv: 2, Nq: 20, Nk: 70, d: 16, causal: false, seed: 250)
                }
            }
        }
        // Query tiles taller than a band across the causal diagonal: the products take bands of 32
        // rows (and of 32 keys), with the diagonal at every offset from a tile's corner (Nq < Nk puts
        // the queries at the end), key tiles shorter and longer than the query tiles.
        for (bq, bk) in [(96, 64), (128, 128), (64, 96)] {
            FlashAttention.withTiles(q: bq, k: bk) {
                for t in [1, 2] {
                    Parallel.withThreads(t) {
                        compare(B: 2, H: 4, Hkv: 2, Nq: 200, Nk: 200, d: 48, causal: true, seed: 260)
                        compare(B: 2, H: 2, Hkv: 2, Nq: 150, Nk: 237, d: 32, causal: true, seed: 270)
                        compare(B: 2, H: 2, Hkv: 2, Nq: 37, Nk: 300, d: 16, causal: true, seed: 280)
                    }
                }
            }
        }
        // From 1024 keys, few heads: each head's tiles in runs of equal work (query runs forward, key
        // runs with private dQ rows backward), packed (4 heads on 2 workers, with GQA) and not.
        FlashAttention.withTiles(q: 64, k: 64) {
            for t in [2, 3] {
                Parallel.withThreads(t) {
                    compare(B: 2, H: 2, Hkv: 2, Nq: 1024, Nk: 1024, d: 16, causal: true, seed: 290)
                    compare(B: 2, H: 4, Hkv: 2, Nq: 1030, Nk: 1030, d: 16, causal: false, seed: 300)
                }
            }
        }
        XCTAssertEqual(FlashAttention.blockQ, 128, "the default is untouched")
    }

    /// The benchmark's products-only mode (`bench attention --bound`) is not attention, and ends with
    /// the call that set it.
    func testProductsOnlyTimingIsScopedToItsBody() {
        let q = randn([1, 2, 40, 32], seed: 300)
        let k = randn([1, 2, 40, 32], seed: 301)
        let v = randn([1, 2, 40, 32], seed: 302)
        let naive = Tensor.attention(q, k, v, causal: true, implementation: .naive)
        let products = FlashAttention.timingProductsOnly {
            Tensor.attention(q, k, v, causal: true, implementation: .flash)
        }
        XCTAssertGreaterThan(relErr(products, naive), 0.5, "the products alone leave out the softmax")
        let flash = Tensor.attention(q, k, v, causal: true, implementation: .flash)
        XCTAssertLessThan(relErr(flash, naive), 1e-4)
    }

    func testPackedDocumentsIncludingOneTokenOnes() {
        let cu = [0, 1, 2, 30, 31, 100, 131]
        compare(H: 2, Hkv: 1, Nq: 131, Nk: 131, d: 64, causal: true, cu: cu, seed: 300)
        compare(H: 2, Hkv: 2, Nq: 131, Nk: 131, d: 32, causal: false, cu: cu, seed: 310)
        // Packed attention equals running each document alone.
        let q = randn([1, 2, 131, 32], seed: 320)
        let k = randn([1, 2, 131, 32], seed: 321)
        let v = randn([1, 2, 131, 32], seed: 322)
        let packed = Tensor.attention(q, k, v, causal: true, cuSeqlens: cu)
        for doc in 0..<(cu.count - 1) {
            let (a, b) = (cu[doc], cu[doc + 1])
            let alone = Tensor.attention(q.slice(2, a, b), k.slice(2, a, b), v.slice(2, a, b), causal: true)
            XCTAssertLessThan(relErr(packed.slice(2, a, b), alone), 1e-5, "document \(doc)")
        }
    }

    /// RoPE's kernel (a vector path on AVX-512 machines, masked for a tail of rotation pairs) gives
    /// the bits of the scalar definition, on a strided head slice, forwards and inverse.
    func testRotationKernelIsTheScalarDefinition() {
        for d in [8, 32, 40, 64] {
            let table = RotaryTable(headDim: d, maxPositions: 16)
            let full = randn([2, 5, 3, d], seed: UInt64(800 + d))
            let x = full.slice(2, 1, 3)  // rows d apart, tokens 3·d apart
            let positions = [4, 0, 15, 7, 1]
            for inverse in [false, true] {
                let y = x.rope(table, positions: positions, inverse: inverse).toArray()
                let xs = x.contiguous().toArray()
                let (c, s) = (table.cos, table.sin)
                let half = d / 2
                var want = [Float](repeating: 0, count: xs.count)
                for row in 0..<(2 * 5 * 2) {
                    let p = positions[(row / 2) % 5]
                    for i in 0..<half {
                        let a = xs[row * d + i]
                        let b = xs[row * d + i + half]
                        let sn = (inverse ? -1 : 1) * s[p * half + i]
                        let (ac, bs) = (a * c[p * half + i], b * sn)
                        let (asn, bc) = (a * sn, b * c[p * half + i])
                        want[row * d + i] = ac - bs
                        want[row * d + i + half] = asn + bc
                    }
                }
                XCTAssertEqual(y, want, "d \(d) inverse \(inverse)")
            }
        }
    }

    /// The fused rotary attention over a [B, T, H + 2·Hkv, d] projection gives the bits of the
    /// composition it replaces (split, rotate q and k, attention), output and gradient: head dims
    /// with and without a 16-lane tail of rotation pairs, grouped heads, packed documents, 1 and 2
    /// threads, key tiles packed per head or not.
    func testRotaryAttentionOverAFusedProjectionIsTheComposition() {
        var seed: UInt64 = 700
        for (B, T, H, Hkv, d, cu) in [
            (2, 37, 2, 2, 32, nil), (1, 70, 4, 2, 40, [0, 3, 40, 41, 70]), (3, 20, 3, 1, 16, nil),
            (2, 150, 4, 4, 64, nil),
        ] as [(Int, Int, Int, Int, Int, [Int]?)] {
            let table = RotaryTable(headDim: d, maxPositions: 256)
            var positions = Array(0..<T)
            if let cu {
                for doc in 0..<(cu.count - 1) { for t in cu[doc]..<cu[doc + 1] { positions[t] = t - cu[doc] } }
            }
            // h is a reshaped projection, as in a model: its heads are strided views of one buffer.
            let x = randn([B, T, (H + 2 * Hkv) * d], seed: seed)
            let dO = randn([B, H, T, d], seed: seed + 1)
            for threads in [1, 2] {
                Parallel.withThreads(threads) {
                    var outs: [Tensor] = []
                    var grads: [Tensor] = []
                    for fused in [true, false] {
                        let xs = x.clone().requiringGrad()
                        let h = xs.reshape([B, T, H + 2 * Hkv, d])
                        let o: Tensor
                        if fused {
                            o = Tensor.ropeAttention(
                                h, heads: H, kvHeads: Hkv, rope: table, positions: positions,
                                causal: cu != nil || T != 20,
                                cuSeqlens: cu)
                        } else {
                            let p = h.split([H, Hkv, Hkv], dim: 2)
                            o = Tensor.attention(
                                p[0].rope(table, positions: positions).permute([0, 2, 1, 3]),
                                p[1].rope(table, positions: positions).permute([0, 2, 1, 3]),
                                p[2].permute([0, 2, 1, 3]), causal: cu != nil || T != 20, cuSeqlens: cu)
                        }
                        o.backward(dO)
                        outs.append(o)
                        grads.append(xs.grad!)
                    }
                    let what = "B\(B) T\(T) H\(H)/\(Hkv) d\(d) cu=\(cu ?? []) threads=\(threads)"
                    XCTAssertEqual(outs[0].toArray(), outs[1].toArray(), "output \(what)")
                    XCTAssertEqual(grads[0].toArray(), grads[1].toArray(), "gradient \(what)")
                }
            }
            seed += 10
        }
        // A second-order gradient (the backward recorded) goes through the composition.
        let table = RotaryTable(headDim: 8, maxPositions: 8)
        func penalty(_ fused: Bool) -> [Float] {
            let h = randn([1, 6, 3, 8], seed: 790).requiringGrad()
            let o: Tensor
            if fused {
                o = Tensor.ropeAttention(h, heads: 1, kvHeads: 1, rope: table, positions: Array(0..<6), causal: true)
            } else {
                let p = h.split([1, 1, 1], dim: 2)
                o = Tensor.attention(
                    p[0].rope(table, positions: Array(0..<6)).permute([0, 2, 1, 3]),
                    p[1].rope(table, positions: Array(0..<6)).permute([0, 2, 1, 3]), p[2].permute([0, 2, 1, 3]),
                    causal: true)
            }
            let g = Autograd.grad(of: o.tanh().sum(), wrt: h, createGraph: true)!
            g.square().sum().backward()
            return h.grad!.toArray()
        }
        assertClose(penalty(true), penalty(false), atol: 1e-5, rtol: 1e-4, "∂‖∂L/∂h‖²/∂h")
    }

    func testHeadLayoutViewsNeedNoCopy() {
        // q, k, v as views of one [B, N, 3, H, d] projection, permuted to [B, H, N, d].
        let qkv = randn([2, 20, 3, 2, 32], seed: 400)
        let q = qkv.select(2, 0).permute([0, 2, 1, 3])
        let k = qkv.select(2, 1).permute([0, 2, 1, 3])
        let v = qkv.select(2, 2).permute([0, 2, 1, 3])
        XCTAssertFalse(q.isContiguous)
        let a = Tensor.attention(q, k, v, causal: true)
        let b = Tensor.attention(q, k, v, causal: true, implementation: .naive)
        XCTAssertLessThan(relErr(a, b), 1e-5)
    }

    func testSecondOrderThroughFlashUsesTheComposite() {
        let q = randn([1, 1, 6, 8], seed: 500).requiringGrad()
        let k = randn([1, 1, 6, 8], seed: 501).requiringGrad()
        let v = randn([1, 1, 6, 8], seed: 502)
        func penalty(_ impl: AttentionImplementation) -> [Float] {
            q.grad = nil
            k.grad = nil
            let o = Tensor.attention(q, k, v, causal: true, implementation: impl)
            let g = Autograd.grad(of: o.tanh().sum(), wrt: q, createGraph: true)!
            g.square().sum().backward()
            return k.grad!.toArray()
        }
        assertClose(penalty(.flash), penalty(.naive), atol: 1e-5, rtol: 1e-4, "∂‖∂L/∂q‖²/∂k")
    }

    func testProbeAndOnlineSoftmaxTrace() {
        let q = randn([1, 2, 10, 16], seed: 600)
        let k = randn([1, 1, 10, 16], seed: 601)
        let v = randn([1, 1, 10, 16], seed: 602)
        let p = Tensor.attentionProbabilities(q, k, head: 1, causal: true)
        XCTAssertEqual(p.shape, [10, 10])
        for i in 0..<10 {
            XCTAssertEqual(p.select(0, i).sum().item(), 1, accuracy: 1e-5, "row \(i) sums to 1")
            for j in (i + 1)..<10 { XCTAssertEqual(p[i, j], 0, "causal: row \(i) does not see key \(j)") }
        }
        let out = Tensor.attention(q, k, v, causal: true)
        let viaProbe = p.matmul(v.select(0, 0).select(0, 0))
        XCTAssertLessThan(relErr(out.select(0, 0).select(0, 1), viaProbe), 1e-5, "probe is what the kernel computes")

        let (traced, steps) = FlashAttention.trace(
            q: q.select(0, 0).select(0, 1), k: k.select(0, 0).select(0, 0),
            v: v.select(0, 0).select(0, 0), tile: 4, causal: true)
        XCTAssertLessThan(relErr(traced, viaProbe), 1e-5, "the traced online softmax gives the same output")
        // Row 9 sees keys 0…9: tiles [0,4) [4,8) [8,10) → three steps; max never decreases.
        let row9 = steps.filter { $0.row == 9 }
        XCTAssertEqual(row9.map(\.keys), [0..<4, 4..<8, 8..<10])
        XCTAssertEqual(row9.first?.maxBefore, -.infinity)
        for s in row9 {
            XCTAssertGreaterThanOrEqual(s.maxAfter, s.maxBefore)
            XCTAssertGreaterThan(s.sumAfter, 0)
        }
        // The final normaliser equals Σ exp(s − m) over the row.
        let scores = q.select(0, 0).select(0, 1).matmul(k.select(0, 0).select(0, 0).mT) * (1 / Float(16).squareRoot())
        let last = row9.last!
        var l: Float = 0
        for j in 0..<10 { l += Foundation.exp(scores[9, j] - last.maxAfter) }
        XCTAssertEqual(last.sumAfter, l, accuracy: 1e-4)
        XCTAssertEqual(steps.filter { $0.row == 0 }.count, 1, "row 0 sees one key, one tile")
    }

    /// At N = 4096 the flash forward+backward needs under a tenth of the naive one's extra memory.
    func testFlashPeakMemoryIsAFractionOfNaive() {
        let N = 4096
        let q = randn([1, 4, N, 64], seed: 700)
        let k = randn([1, 4, N, 64], seed: 701)
        let v = randn([1, 4, N, 64], seed: 702)
        let dO = randn([1, 4, N, 64], seed: 703)
        var peaks: [Int] = []
        for impl in [AttentionImplementation.flash, .naive] {
            let qs = q.clone().requiringGrad()
            let ks = k.clone().requiringGrad()
            let vs = v.clone().requiringGrad()
            let base = MemoryStats.liveBytes
            MemoryStats.resetPeak()
            Tensor.attention(qs, ks, vs, causal: true, implementation: impl).backward(dO)
            peaks.append(MemoryStats.peakBytes - base)
        }
        XCTAssertLessThan(peaks[0] * 10, peaks[1], "flash \(peaks[0]) bytes vs naive \(peaks[1]) bytes")
    }
}
