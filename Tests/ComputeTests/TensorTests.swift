import CKernels
import Compute
import TestSupport
import XCTest

final class TensorTests: XCTestCase {
    func testViewsShareStorageAndCopyWhenNeeded() {
        let t = Tensor(shape: [2, 3], data: [0, 1, 2, 3, 4, 5])
        let tt = t.transpose(0, 1)
        XCTAssertEqual(tt.shape, [3, 2])
        XCTAssertFalse(tt.isContiguous)
        XCTAssertEqual(tt.toArray(), [0, 3, 1, 4, 2, 5])
        XCTAssertTrue(tt.storage === t.storage, "transpose is a view")
        XCTAssertFalse(tt.contiguous().storage === t.storage, "contiguous copies a non-contiguous view")
        XCTAssertTrue(t.reshape([3, 2]).storage === t.storage, "reshape of contiguous data is a view")
        XCTAssertEqual(t.slice(1, 1, 3).toArray(), [1, 2, 4, 5])
        XCTAssertEqual(t.slice(1, 0, 3, step: 2).toArray(), [0, 2, 3, 5])
        XCTAssertEqual(t.select(0, 1).toArray(), [3, 4, 5])
        XCTAssertEqual(Tensor([1, 2]).reshape([2, 1]).expand([2, 3]).toArray(), [1, 1, 1, 2, 2, 2])
        XCTAssertEqual(t.permute([1, 0]).reshape([6]).toArray(), [0, 3, 1, 4, 2, 5])
        XCTAssertEqual(t[1, 2], 5)
        t[0, 1] = 9
        XCTAssertEqual(tt[1, 0], 9, "views see writes")
    }

    func testTransposedCopiesMatchElementByElement() {
        // A matrix transpose made contiguous goes through the 4 × 4 register-transpose path (strips of
        // 16 columns, partial strips and rows that are not multiples of 4 included).
        for (r, c) in [(37, 53), (16, 16), (2, 35), (130, 3)] {
            let data = (0..<(r * c)).map { Float($0) * 0.5 - 7 }
            let a = Tensor(shape: [r, c], data: data)
            let t = a.mT.contiguous()
            XCTAssertEqual(t.shape, [c, r])
            XCTAssertTrue(t.isContiguous)
            let out = t.toArray()
            for i in 0..<c {
                for j in 0..<r { XCTAssertEqual(out[i * r + j], data[j * c + i], "\(r)×\(c) at \(i),\(j)") }
            }
        }
    }

    func testConcatSplitGatherScatter() {
        let a = Tensor(shape: [2, 2], data: [1, 2, 3, 4])
        let b = Tensor(shape: [2, 1], data: [5, 6])
        let c = Tensor.cat([a, b], dim: 1)
        XCTAssertEqual(c.toArray(), [1, 2, 5, 3, 4, 6])
        let parts = c.split([2, 1], dim: 1)
        XCTAssertEqual(parts[0].toArray(), a.toArray())
        XCTAssertEqual(parts[1].toArray(), b.toArray())
        XCTAssertEqual(Tensor.cat([a, a], dim: 0).shape, [4, 2])
        XCTAssertEqual(c.gather(1, index: [2, 0, 1, 1], indexShape: [2, 2]).toArray(), [5, 1, 4, 4])
        XCTAssertEqual(a.indexSelect([1, 1, 0]).toArray(), [3, 4, 3, 4, 1, 2])
        XCTAssertEqual(c.argmax(1), [2, 2])
        XCTAssertEqual(c.max(0).values.toArray(), [3, 4, 6])
    }

    func testBroadcastingAndReductions() {
        let x = Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual((x + Tensor([10, 20, 30])).toArray(), [11, 22, 33, 14, 25, 36])
        XCTAssertEqual((x * Tensor(shape: [2, 1], data: [1, -1])).toArray(), [1, 2, 3, -4, -5, -6])
        XCTAssertEqual(x.sum().item(), 21)
        XCTAssertEqual(x.sum(0).toArray(), [5, 7, 9])
        XCTAssertEqual(x.sum(1, keepDim: true).shape, [2, 1])
        XCTAssertEqual(x.transpose(0, 1).sum(1).toArray(), [5, 7, 9], "reduction over a strided view")
        XCTAssertEqual(x.mean().item(), 3.5)
        let big = Tensor.ones([1000, 37])
        XCTAssertEqual(big.sum(0).toArray(), [Float](repeating: 1000, count: 37))
        XCTAssertEqual(big.sum(1).toArray(), [Float](repeating: 37, count: 1000))
        let sm = Tensor(shape: [1, 3], data: [1, 2, 3]).softmax()
        assertClose(sm.toArray(), [0.09003057, 0.24472847, 0.66524096], "softmax")
        let masked = Tensor(shape: [2, 2], data: [-.infinity, -.infinity, 0, -.infinity]).softmax()
        XCTAssertEqual(masked.toArray(), [0, 0, 1, 0], "fully masked rows give zeros, not NaN")
        XCTAssertTrue(Tensor([1, .nan]).softmax().toArray().allSatisfy { $0.isNaN }, "NaN propagates")
    }

    func testExpAccuracy() {
        var xs: [Float] = [-100, -87, -10, -1, -1e-3, 0, 1e-3, 0.5, 1, 10, 80, 88, 89, .infinity, -.infinity]
        for i in 0..<200 { xs.append(Float(i) * 0.7 - 70) }
        let got = Tensor(xs).exp().toArray()
        for (x, y) in zip(xs, got) {
            let want = Float(Foundation.exp(Double(x)))
            if want.isInfinite {
                XCTAssertEqual(y, .infinity, "exp(\(x))")
                continue
            }
            XCTAssertEqual(y, want, accuracy: Swift.max(want * 3e-7, 1e-37), "exp(\(x))")
        }
        XCTAssertTrue(Tensor([.nan]).exp().item().isNaN)
    }

    func testHalfAndBFloat16Conversion() {
        let values: [Float] = [
            0, -0.0, 1, -2, 65504, 65520, 1e-8, 6.1035156e-05, 5.9604645e-08, 3.0e-08, .infinity, -.infinity,
            1 + 1.0 / 2048, 1 + 3.0 / 2048, 0.1,
        ]
        let bits = HalfConversion.toFloat16Bits(Tensor(values))
        XCTAssertEqual(
            bits,
            [
                0x0000, 0x8000, 0x3C00, 0xC000, 0x7BFF, 0x7C00, 0x0000, 0x0400, 0x0001, 0x0001,
                0x7C00, 0xFC00, 0x3C00, 0x3C02, 0x2E66,
            ])
        let back = bits.withUnsafeBufferPointer { HalfConversion.fromFloat16Bits($0, shape: [bits.count]) }.toArray()
        XCTAssertEqual(back[4], 65504)
        XCTAssertEqual(back[8], 5.9604645e-08)
        XCTAssertEqual(back[13], 1 + 2.0 / 1024)
        let nanBits = HalfConversion.toFloat16Bits(Tensor([.nan]))
        XCTAssertEqual(nanBits[0] & 0x7C00, 0x7C00)
        XCTAssertNotEqual(nanBits[0] & 0x3FF, 0)
        let bf = HalfConversion.toBFloat16Bits(Tensor([1, -2, 1 + 1.0 / 256, 1 + 3.0 / 256, 3.4e38, .nan]))
        XCTAssertEqual(Array(bf.prefix(5)), [0x3F80, 0xC000, 0x3F80, 0x3F82, 0x7F80])
        let bfb = bf.withUnsafeBufferPointer { HalfConversion.fromBFloat16Bits($0, shape: [bf.count]) }.toArray()
        XCTAssertEqual(Array(bfb.prefix(2)), [1, -2])
        XCTAssertTrue(bfb[5].isNaN)
    }

    func testRNGIsSeededSplittableAndFair() {
        var a = RNG(seed: 7)
        var b = RNG(seed: 7)
        var c = RNG(seed: 8)
        let sa = (0..<10).map { _ in a.next32() }
        XCTAssertEqual(sa, (0..<10).map { _ in b.next32() })
        XCTAssertNotEqual(sa, (0..<10).map { _ in c.next32() })
        var parent = RNG(seed: 1)
        var child1 = parent.split()
        var child2 = parent.split()
        XCTAssertNotEqual(child1.next64(), child2.next64(), "splits are independent streams")
        var r = RNG(seed: 3)
        let n = 20000
        let u = (0..<n).map { _ in r.uniform() }
        XCTAssertTrue(u.allSatisfy { $0 >= 0 && $0 < 1 })
        XCTAssertEqual(u.reduce(0, +) / Float(n), 0.5, accuracy: 0.01)
        let z = (0..<n).map { _ in Double(r.normal()) }
        let mean = z.reduce(0, +) / Double(n)
        let v = z.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)
        XCTAssertEqual(mean, 0, accuracy: 0.03)
        XCTAssertEqual(v, 1, accuracy: 0.04)
        var counts = [0, 0, 0]
        for _ in 0..<n { counts[r.categorical([1, 2, 7])] += 1 }
        XCTAssertEqual(Double(counts[2]) / Double(n), 0.7, accuracy: 0.02)
        XCTAssertEqual(counts[0] + counts[1] + counts[2], n)
        let p = r.permutation(100)
        XCTAssertEqual(p.sorted(), Array(0..<100))
        XCTAssertNotEqual(p, Array(0..<100))
        // Same seed, different thread counts: identical tensors.
        let t1 = Parallel.withThreads(1) {
            var r1 = RNG(seed: 11)
            return Tensor.randn([1000], rng: &r1).toArray()
        }
        let t2 = Parallel.withThreads(2) {
            var r2 = RNG(seed: 11)
            return Tensor.randn([1000], rng: &r2).toArray()
        }
        XCTAssertEqual(t1, t2)
    }

    func testMemoryAccounting() {
        let before = MemoryStats.liveBytes
        MemoryStats.resetPeak()
        do {
            let big = Tensor.zeros([1024, 1024])
            XCTAssertEqual(MemoryStats.liveBytes - before, 4 * 1024 * 1024)
            _ = big
        }
        XCTAssertEqual(MemoryStats.liveBytes, before, "storage is freed with its last view")
        XCTAssertGreaterThanOrEqual(MemoryStats.peakBytes - before, 4 * 1024 * 1024)
    }
}
