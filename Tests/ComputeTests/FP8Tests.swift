import Compute
import TestSupport
import XCTest

final class FP8Tests: XCTestCase {
    /// Every code decodes to a value that encodes back to the same code (NaNs to a NaN, −0 to 0x80,
    /// E5M2's infinities to themselves when not saturating).
    func testEveryCodeRoundTrips() {
        for f in FP8Format.allCases {
            var finite = 0
            for c in 0...255 {
                let code = UInt8(c)
                let v = f.decode(code)
                if v.isNaN {
                    XCTAssertTrue(f.decode(f.encode(v)).isNaN, "\(f) \(code)")
                    continue
                }
                XCTAssertEqual(f.encode(v, saturate: !v.isInfinite), code, "\(f) code \(code) = \(v)")
                if v.isFinite { finite += 1 }
            }
            // E4M3: 256 − 2 NaNs; E5M2: 256 − 6 NaNs − 2 infinities.
            XCTAssertEqual(finite, f == .e4m3 ? 254 : 248, "\(f)")
        }
    }

    func testKnownValuesAndEdges() {
        let e4 = FP8Format.e4m3
        let e5 = FP8Format.e5m2
        XCTAssertEqual(e4.decode(0x7E), 448)
        XCTAssertTrue(e4.decode(0x7F).isNaN)
        XCTAssertEqual(e4.decode(0x01), 0x1p-9)
        XCTAssertEqual(e4.decode(0x08), 0x1p-6)
        XCTAssertEqual(e4.decode(0x38), 1)
        XCTAssertEqual(e5.decode(0x7B), 57344)
        XCTAssertEqual(e5.decode(0x7C), .infinity)
        XCTAssertEqual(e5.decode(0xFC), -.infinity)
        XCTAssertEqual(e5.decode(0x01), 0x1p-16)
        XCTAssertEqual(e5.decode(0x3C), 1)
        // Ties go to the even mantissa: 1.0625 between 1 (m 000) and 1.125 (m 001) → 1;
        // 1.1875 between 1.125 (001) and 1.25 (010) → 1.25; just above a tie rounds up.
        XCTAssertEqual(e4.round(1.0625), 1)
        XCTAssertEqual(e4.round(1.1875), 1.25)
        XCTAssertEqual(e4.round(Float(1.0625).nextUp), 1.125)
        XCTAssertEqual(e5.round(1.125), 1)  // between 1 (00) and 1.25 (01)
        XCTAssertEqual(e5.round(1.375), 1.5)  // between 1.25 (01) and 1.5 (10)
        // Subnormals: half the smallest subnormal is a tie with 0 → 0; a hair more → the subnormal.
        XCTAssertEqual(e4.round(0x1p-10), 0)
        XCTAssertEqual(e4.round(0x1p-10 * 1.01), 0x1p-9)
        XCTAssertEqual(e4.round(3 * 0x1p-10), 0x1p-8)  // 1.5 subnormal quanta: tie → 2 (even)
        XCTAssertEqual(e4.round(7.5 * 0x1p-9), 0x1p-6)  // rounds up out of the subnormals into the normals
        // Saturation at the top, NaN or infinity without it.
        XCTAssertEqual(e4.round(449), 448)
        XCTAssertEqual(e4.round(1e9), 448)
        XCTAssertEqual(e4.round(-1e9), -448)
        XCTAssertEqual(e4.round(.infinity), 448)
        XCTAssertTrue(e4.decode(e4.encode(480, saturate: false)).isNaN)
        XCTAssertEqual(e4.decode(e4.encode(455, saturate: false)), 448)  // rounds down to 448: not an overflow
        XCTAssertEqual(e5.round(61439), 57344)
        XCTAssertEqual(e5.decode(e5.encode(61440, saturate: false)), .infinity)  // the tie rounds up to 2¹⁶
        XCTAssertEqual(e5.decode(e5.encode(-.infinity, saturate: false)), -.infinity)
        XCTAssertEqual(e5.round(-.infinity), -57344)
        XCTAssertTrue(e4.round(.nan).isNaN)
        XCTAssertEqual(e4.encode(-0.0), 0x80)
        // Rounding is monotone and within half a quantum across the whole range.
        var last = -Float.infinity
        var x: Float = -500
        while x < 500 {
            let r = e4.round(x)
            XCTAssertGreaterThanOrEqual(r, last)
            if x.magnitude <= 448 {
                let q = Float(sign: .plus, exponent: Swift.max(Int(x.magnitude.exponent), -6) - 3, significand: 1)
                XCTAssertLessThanOrEqual((r - x).magnitude, q / 2 * 1.000001, "\(x) → \(r)")
            }
            last = r
            x += 0.37
        }
    }

    /// Fine-grained scaling: each tile is scaled by its own amax, so an outlier costs precision only
    /// in its tile; values are within E4M3's relative half-step (1/16) of the tile's amax; the
    /// gradient passes straight through.
    func testTileScalingAndStraightThroughGradient() {
        var rng = RNG(seed: 3)
        var values = (Tensor.randn([2, 256], rng: &rng) * 0.01).toArray()
        values[5] = 1000  // an outlier in row 0's first tile
        let x = Tensor(shape: [2, 256], data: values).requiringGrad()
        let q = x.fp8Simulated(tile: (1, 128))
        let qa = q.toArray()
        XCTAssertEqual(qa[5], 1000, accuracy: 1000 / 16)
        for tile in [(0, 128, 256), (1, 0, 128), (1, 128, 256)] {
            let (row, c0, c1) = tile
            let amax = (c0..<c1).map { values[row * 256 + $0].magnitude }.max()!
            for j in c0..<c1 {
                let i = row * 256 + j
                XCTAssertLessThanOrEqual(
                    (qa[i] - values[i]).magnitude, amax / 448 * 0.5 * 1.0001 + values[i].magnitude / 16)
            }
        }
        // In the outlier's tile, small values flush towards coarse steps (amax/448 ≈ 2.2 ≫ 0.01).
        XCTAssertEqual(qa[6], 0, accuracy: 2.3)
        (q * Tensor(shape: [2, 256], data: (0..<512).map { Float($0) })).sum().backward()
        XCTAssertEqual(x.grad!.toArray(), (0..<512).map { Float($0) })
        // A 128 × 128 block scale for weights.
        let w = Tensor.randn([256, 256], rng: &rng)
        let wq = w.fp8Simulated(tile: (128, 128)).toArray()
        let wa = w.toArray()
        let rel = zip(wq, wa).map { ($0 - $1).magnitude / Swift.max($1.magnitude, 1e-3) }.sorted()[256 * 256 / 2]
        XCTAssertLessThan(rel, 1.0 / 16, "median relative error")
    }
}
