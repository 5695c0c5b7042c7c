import CKernels
import Compute
import TestSupport
import Foundation
import XCTest

/// GEMM against a naive Double reference: odd and degenerate shapes, every transpose, strided
/// views, alpha/beta, batched and broadcast matmul, each micro-kernel this CPU has, any thread count.
final class GEMMTests: XCTestCase {
    /// C = alpha·op(A)·op(B) + beta·C0 in Double, operands given by strides.
    func reference(
        M: Int, N: Int, K: Int, alpha: Float, A: [Float], rsA: Int, csA: Int,
        B: [Float], rsB: Int, csB: Int, beta: Float, C0: [Float]
    ) -> [Float] {
        var out = [Float](repeating: 0, count: M * N)
        for i in 0..<M {
            for j in 0..<N {
                var s = 0.0
                for k in 0..<K { s += Double(A[i * rsA + k * csA]) * Double(B[k * rsB + j * csB]) }
                out[i * N + j] = Float(Double(alpha) * s + (beta == 0 ? 0 : Double(beta) * Double(C0[i * N + j])))
            }
        }
        return out
    }

    func check(
        M: Int, N: Int, K: Int, transA: Bool, transB: Bool, alpha: Float = 1, beta: Float = 0, seed: UInt64,
        threads: Int? = nil, file: StaticString = #filePath, line: UInt = #line
    ) {
        let a = randn([M * K], seed: seed).toArray()
        let b = randn([K * N], seed: seed + 1).toArray()
        let c0 = randn([M * N], seed: seed + 2).toArray()
        // A stored [M,K] (rs K, cs 1) or as Aᵀ [K,M] (rs 1, cs M).
        let (rsA, csA) = transA ? (1, M) : (K, 1)
        let (rsB, csB) = transB ? (1, K) : (N, 1)
        let want = reference(
            M: M, N: N, K: K, alpha: alpha, A: a, rsA: rsA, csA: csA, B: b, rsB: rsB, csB: csB,
            beta: beta, C0: c0)
        var c = c0
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    Kernels.gemm(
                        M: M, N: N, K: K, alpha: alpha, A: ap.baseAddress!, rsA: rsA, csA: csA,
                        B: bp.baseAddress!, rsB: rsB, csB: csB, beta: beta, C: cp.baseAddress!, rsC: N, csC: 1,
                        threads: threads)
                }
            }
        }
        let tol = 1e-4 * Float(K).squareRoot() + 1e-5
        assertClose(
            c, want, atol: tol, rtol: 1e-4, "gemm \(M)x\(K)x\(N) tA=\(transA) tB=\(transB) α=\(alpha) β=\(beta)",
            file: file, line: line)
    }

    /// Asserts that Kernels.gemm (β = 0, C filled with NaN first) writes every element and gives the
    /// same bits for 1…4 workers: A and B random, stored with the given strides.
    func assertSameForEveryWorkerCount(
        M: Int, N: Int, K: Int, rsA: Int, csA: Int, rsB: Int, csB: Int, seed: UInt64,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let a = randn([M * K], seed: seed).toArray()
        let b = randn([K * N], seed: seed + 1).toArray()
        func run(_ threads: Int) -> [Float] {
            var c = [Float](repeating: .nan, count: M * N)
            a.withUnsafeBufferPointer { ap in
                b.withUnsafeBufferPointer { bp in
                    c.withUnsafeMutableBufferPointer { cp in
                        Kernels.gemm(
                            M: M, N: N, K: K, A: ap.baseAddress!, rsA: rsA, csA: csA, B: bp.baseAddress!, rsB: rsB,
                            csB: csB, C: cp.baseAddress!, rsC: N, csC: 1, threads: threads)
                    }
                }
            }
            return c
        }
        let one = run(1)
        XCTAssertFalse(one.contains { $0.isNaN }, "β = 0 overwrites every element", file: file, line: line)
        for t in 2...4 { XCTAssertEqual(run(t), one, "\(t) workers", file: file, line: line) }
    }

    let shapes = [
        (1, 1, 1), (7, 13, 5), (1, 64, 1), (8, 1, 32), (33, 17, 65), (1023, 65, 257), (129, 300, 31), (2, 513, 3),
    ]

    func testAllTransposesAndOddShapes() {
        for (i, (M, K, N)) in shapes.enumerated() {
            for ta in [false, true] {
                for tb in [false, true] {
                    check(M: M, N: N, K: K, transA: ta, transB: tb, seed: UInt64(10 * i))
                }
            }
        }
    }

    func testAlphaBetaAndDegenerate() {
        check(M: 9, N: 40, K: 11, transA: false, transB: false, alpha: 0.5, beta: 2, seed: 100)
        check(M: 9, N: 40, K: 11, transA: true, transB: false, alpha: -1, beta: 1, seed: 101)
        // K = 0: C = beta·C
        var c: [Float] = [1, 2, 3, 4]
        let z: [Float] = [0]
        z.withUnsafeBufferPointer { zp in
            c.withUnsafeMutableBufferPointer { cp in
                Kernels.gemm(
                    M: 2, N: 2, K: 0, A: zp.baseAddress!, rsA: 0, csA: 1, B: zp.baseAddress!, rsB: 1, csB: 0,
                    beta: 0.5, C: cp.baseAddress!, rsC: 2, csC: 1)
            }
        }
        XCTAssertEqual(c, [0.5, 1, 1.5, 2])
        // Empty tensors.
        let e = Tensor.zeros([0, 3]).matmul(Tensor.zeros([3, 4]))
        XCTAssertEqual(e.shape, [0, 4])
        let k0 = Tensor.ones([2, 0]).matmul(Tensor.ones([0, 3]))
        XCTAssertEqual(k0.toArray(), [Float](repeating: 0, count: 6))
    }

    /// Weight-gradient shapes (K ≫ M, N) sum two halves of K: right against the reference with α, β,
    /// column-major A (edge panels of 4 and 5 rows), transposed B, and bit-identical for 1…4 workers.
    func testShortWideOutputsSplitTheSharedDimension() {
        check(M: 20, N: 37, K: 2100, transA: true, transB: false, alpha: 0.5, beta: 2, seed: 300)
        check(M: 13, N: 40, K: 2304, transA: true, transB: true, beta: 1, seed: 301, threads: 2)
        check(M: 8, N: 64, K: 4096, transA: false, transB: false, seed: 302, threads: 3)
        assertSameForEveryWorkerCount(M: 24, N: 50, K: 2560, rsA: 1, csA: 24, rsB: 50, csB: 1, seed: 303)
    }

    /// A column-major A (a weight gradient's Xᵀ) splits K as soon as K ≥ max(M, N), where other
    /// layouts keep splitting C: right against the reference with α and β, and bit-identical for
    /// 1…4 workers.
    func testColumnMajorWeightGradientsSplitTheSharedDimension() {
        check(M: 40, N: 300, K: 2048, transA: true, transB: false, alpha: 0.5, beta: 2, seed: 310, threads: 2)
        check(M: 44, N: 70, K: 2304, transA: true, transB: true, beta: 1, seed: 311, threads: 3)
        assertSameForEveryWorkerCount(M: 48, N: 520, K: 2048, rsA: 1, csA: 48, rsB: 520, csB: 1, seed: 312)
    }

    /// Tall products over a row-major A (a training step's projections) pack B once for all workers,
    /// which then take 64-row blocks of C: right against the reference with α and β (a last short
    /// block, a last narrow panel, two K blocks), and bit-identical for 1…4 workers.
    func testTallProductsShareOnePackedB() {
        check(M: 300, N: 70, K: 300, transA: false, transB: true, alpha: 0.5, beta: 2, seed: 320, threads: 2)
        check(M: 520, N: 96, K: 64, transA: false, transB: false, beta: 1, seed: 321, threads: 3)
        assertSameForEveryWorkerCount(M: 1000, N: 200, K: 300, rsA: 300, csA: 1, rsB: 1, csB: 300, seed: 322)
    }

    func testEveryMicroKernelAgrees() {
        defer { _ = orr_gemm_force_kernel("auto") }
        for name in ["generic-4x16", "avx2-6x16", "avx512-8x32"] {
            guard orr_gemm_force_kernel(name) == 1 else { continue }
            XCTAssertEqual(Kernels.gemmKernelName, name)
            for (i, (M, K, N)) in [(7, 13, 5), (1023, 65, 257), (64, 256, 96)].enumerated() {
                check(M: M, N: N, K: K, transA: i == 1, transB: i == 2, seed: UInt64(200 + i))
            }
        }
    }

    func testThreadCountDoesNotChangeResults() {
        let a = randn([300, 200], seed: 1)
        let b = randn([200, 150], seed: 2)
        let one = Parallel.withThreads(1) { a.matmul(b).toArray() }
        let two = Parallel.withThreads(2) { a.matmul(b).toArray() }
        let three = Parallel.withThreads(3) { a.matmul(b).toArray() }
        XCTAssertEqual(one, two, "GEMM splits by output, so results are bit-identical")
        XCTAssertEqual(one, three)
        check(M: 200, N: 300, K: 100, transA: false, transB: true, seed: 5, threads: 2)
    }

    /// matmul on Tensors: batched, broadcast batch dims, and non-contiguous views.
    func testBatchedAndStridedViews() {
        func naive(_ a: Tensor, _ b: Tensor) -> [Float] {
            // a [Bt, M, K], b [Bt, K, N] materialised
            let A = a.contiguous().toArray()
            let Bv = b.contiguous().toArray()
            let bt = a.shape[0]
            let M = a.shape[1]
            let K = a.shape[2]
            let N = b.shape[2]
            var out: [Float] = []
            for t in 0..<bt {
                out += reference(
                    M: M, N: N, K: K, alpha: 1, A: Array(A[(t * M * K)...]), rsA: K, csA: 1,
                    B: Array(Bv[(t * K * N)...]), rsB: N, csB: 1, beta: 0, C0: [])
            }
            return out
        }
        let a = randn([3, 5, 7], seed: 1)
        let b = randn([3, 7, 4], seed: 2)
        assertClose(a.matmul(b).toArray(), naive(a, b), "batched")
        let shared = randn([7, 4], seed: 3)
        assertClose(a.matmul(shared).toArray(), naive(a, shared.unsqueeze(0).expand([3, 7, 4])), "broadcast b")
        // Non-contiguous: every other row of a taller tensor, and a transposed view of b.
        let tall = randn([3, 10, 7], seed: 4)
        let strided = tall.slice(1, 0, 10, step: 2)
        XCTAssertFalse(strided.isContiguous)
        let bt = randn([3, 4, 7], seed: 5).transpose(1, 2)
        assertClose(strided.matmul(bt).toArray(), naive(strided, bt), "strided views")
        // Column slice (row stride ≠ width), permuted batch.
        let wide = randn([5, 12], seed: 6).slice(1, 3, 10)
        let rhs = randn([7, 2], seed: 7)
        assertClose(wide.matmul(rhs).toArray(), naive(wide.unsqueeze(0), rhs.unsqueeze(0)), "column slice")
        let perm = randn([5, 3, 7], seed: 8).permute([1, 0, 2])
        assertClose(
            perm.matmul(shared).toArray(), naive(perm, shared.unsqueeze(0).expand([3, 7, 4])), "permuted batch")
        let big = randn([4, 2, 33, 17], seed: 9)
        let bigB = randn([2, 17, 9], seed: 10)
        let got = big.matmul(bigB)
        XCTAssertEqual(got.shape, [4, 2, 33, 9])
        let want = naive(big.reshape([8, 33, 17]), bigB.unsqueeze(0).expand([4, 2, 17, 9]).reshape([8, 17, 9]))
        assertClose(got.toArray(), want, "4-d broadcast")
    }
}

/// The balanced loop under the shared-panel GEMM: every item runs once, and a worker that runs out
/// of its own share takes the rest of a slower one's.
final class StealingTests: XCTestCase {
    func testEveryItemRunsOnceAndASlowWorkersItemsAreTaken() {
        let shares = [0, 3, 10, 10, 16]  // uneven, one empty
        var runs = [Int](repeating: 0, count: 16)
        var ranOn = [Int](repeating: -1, count: 16)
        let lock = NSLock()
        shares.withUnsafeBufferPointer { s in
            Parallel.stealing(workers: 4, shares: s.baseAddress!) { item in
                // Share 1 (items 3 ..< 10) is slow: its later items should go to the others.
                if (3..<10).contains(item) { usleep(20_000) }
                let worker = Int(bitPattern: pthread_self())
                lock.lock()
                runs[item] += 1
                ranOn[item] = worker
                lock.unlock()
            }
        }
        XCTAssertEqual(runs, [Int](repeating: 1, count: 16))
        if Parallel.threads >= 2 {
            XCTAssertGreaterThan(Set(ranOn[3..<10]).count, 1, "the slow share's last items were taken by others")
        }
    }
}
