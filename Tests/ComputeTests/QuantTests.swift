import Compute
import Foundation
import TestSupport
import XCTest

/// Random GGML blocks and a second, independent decoder of every format (written from the format
/// descriptions, in Swift), against which the C kernels are checked.
enum QuantFixtures {
    static func half(_ f: Float) -> [UInt8] {
        let bits = HalfConversion.toFloat16Bits(Tensor(shape: [1], data: [f]))[0]
        return [UInt8(bits & 0xFF), UInt8(bits >> 8)]
    }

    static func halfValue(_ b: ArraySlice<UInt8>) -> Float {
        let i = b.startIndex
        let bits = [UInt16(b[i]) | UInt16(b[i + 1]) << 8]
        return bits.withUnsafeBufferPointer { HalfConversion.fromFloat16Bits($0, shape: [1]) }.toArray()[0]
    }

    /// `blocks` random blocks of `type`; `scale` sets the block scales (d, dmin) around it.
    static func randomBlocks(_ type: GGMLType, blocks: Int, scale: Float, rng: inout SeededGenerator)
        -> [UInt8]
    {
        var out: [UInt8] = []
        func d() -> [UInt8] { half(scale * Float.random(in: 0.25...1, using: &rng)) }
        func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) } }
        for _ in 0..<blocks {
            switch type {
            case .q4_0: out += d() + bytes(16)
            case .q4_1: out += d() + half(-scale * Float.random(in: 0...1, using: &rng)) + bytes(16)
            case .q8_0: out += d() + bytes(32).map { $0 == 0x80 ? 0x81 : $0 }
            case .q4_K: out += d() + d() + bytes(12) + bytes(128)
            case .q5_K: out += d() + d() + bytes(12) + bytes(32) + bytes(128)
            case .q6_K: out += bytes(128) + bytes(64) + bytes(16) + d()
            default: preconditionFailure("\(type)")
            }
        }
        return out
    }

    /// The format's definition of the values, block by block.
    static func decode(_ b: [UInt8], _ type: GGMLType, count: Int) -> [Float] {
        var y: [Float] = []
        var o = 0
        func i8(_ v: UInt8) -> Float { Float(Int8(bitPattern: v)) }
        func scaleMin(_ j: Int, _ q: ArraySlice<UInt8>) -> (Float, Float) {
            let s = q.startIndex
            if j < 4 { return (Float(q[s + j] & 63), Float(q[s + j + 4] & 63)) }
            let sc = (q[s + j + 4] & 0xF) | ((q[s + j - 4] >> 6) << 4)
            let m = (q[s + j + 4] >> 4) | ((q[s + j] >> 6) << 4)
            return (Float(sc), Float(m))
        }
        while y.count < count {
            switch type {
            case .q4_0:
                let d = halfValue(b[o..<(o + 2)])
                let qs = b[(o + 2)..<(o + 18)]
                y += qs.map { d * Float(Int($0 & 0xF) - 8) } + qs.map { d * Float(Int($0 >> 4) - 8) }
                o += 18
            case .q4_1:
                let (d, m) = (halfValue(b[o..<(o + 2)]), halfValue(b[(o + 2)..<(o + 4)]))
                let qs = b[(o + 4)..<(o + 20)]
                y += qs.map { d * Float($0 & 0xF) + m } + qs.map { d * Float($0 >> 4) + m }
                o += 20
            case .q8_0:
                let d = halfValue(b[o..<(o + 2)])
                y += b[(o + 2)..<(o + 34)].map { d * i8($0) }
                o += 34
            case .q4_K, .q5_K:
                let (d, dmin) = (halfValue(b[o..<(o + 2)]), halfValue(b[(o + 2)..<(o + 4)]))
                let sc = b[(o + 4)..<(o + 16)]
                let five = type == .q5_K
                let qh = b[(o + 16)..<(o + 48)]
                let ql = five ? b[(o + 48)..<(o + 176)] : b[(o + 16)..<(o + 144)]
                for j in 0..<8 {
                    let (s, m) = scaleMin(j, sc)
                    for l in 0..<32 {
                        let byte = ql[ql.startIndex + (j / 2) * 32 + l]
                        var q = Float(j % 2 == 0 ? byte & 0xF : byte >> 4)
                        if five && (qh[qh.startIndex + l] >> j) & 1 == 1 { q += 16 }
                        y.append(d * s * q - dmin * m)
                    }
                }
                o += five ? 176 : 144
            case .q6_K:
                let ql = b[o..<(o + 128)]
                let qh = b[(o + 128)..<(o + 192)]
                let sc = b[(o + 192)..<(o + 208)]
                let d = halfValue(b[(o + 208)..<(o + 210)])
                var block = [Float](repeating: 0, count: 256)
                for i in 0..<256 {  // value i: half h, position in half p
                    let (h, p) = (i / 128, i % 128)
                    let (quarter, l) = (p / 32, p % 32)
                    let lowByte = ql[ql.startIndex + h * 64 + (quarter % 2) * 32 + l]
                    let low = quarter < 2 ? lowByte & 0xF : lowByte >> 4
                    let high = (qh[qh.startIndex + h * 32 + l] >> (2 * quarter)) & 3
                    let q = Int(low | high << 4) - 32
                    block[i] = d * i8(sc[sc.startIndex + h * 8 + quarter * 2 + l / 16]) * Float(q)
                }
                y += block
                o += 210
            default: preconditionFailure("\(type)")
            }
        }
        return y
    }
}

final class QuantTests: XCTestCase {
    let weightTypes: [GGMLType] = [.q4_0, .q4_1, .q8_0, .q4_K, .q5_K, .q6_K]

    func testDequantizationFollowsEachFormat() {
        var rng = SeededGenerator(seed: 301)
        for type in weightTypes {
            for scale: Float in [1e-3, 1, 60000, 6e-8] {
                let n = 512
                let b = QuantFixtures.randomBlocks(type, blocks: n / type.blockSize, scale: scale, rng: &rng)
                let c = QuantizedMatrix.dequantize(b, type: type, count: n)
                let ref = QuantFixtures.decode(b, type, count: n)
                assertClose(c, ref, atol: 0, rtol: 1e-6, "\(type) at scale \(scale)")
            }
        }
    }

    /// Each integer dot kernel (portable and SIMD) equals the dot of the dequantised weights with
    /// the dequantised activations (up to float summation order), on random blocks including extreme
    /// scales; and it stays within the activation quantisation's error of the float dot.
    func testDotKernelsEqualDequantizeThenDot() {
        var rng = SeededGenerator(seed: 302)
        for type in weightTypes {
            let act = type.activationType!
            for scale: Float in [1e-4, 0.05, 1, 30000] {
                let n = 1024
                let w = QuantFixtures.randomBlocks(type, blocks: n / type.blockSize, scale: scale, rng: &rng)
                let x = (0..<n).map { _ in Float.random(in: -3...3, using: &rng) }
                let xq = QuantizedMatrix.quantizeActivations(x, as: act)
                let wf = QuantizedMatrix.dequantize(w, type: type, count: n).map(Double.init)
                let xf = QuantizedMatrix.dequantize(xq, type: act, count: n).map(Double.init)
                let exact = zip(wf, xf).reduce(0) { $0 + $1.0 * $1.1 }
                let magnitude = zip(wf, xf).reduce(0) { $0 + abs($1.0 * $1.1) }
                // Q4_1 adds m·s with s = d·Σq stored in float16: a half-precision rounding of that term.
                let slack = type == .q4_1 ? 2e-3 : 2e-5
                for portable in [true, false] {
                    let got = xq.withUnsafeBytes {
                        QuantizedMatrix.dot(
                            type: type, weights: w, activations: $0.baseAddress!, count: n, portable: portable)
                    }
                    XCTAssertTrue(got.isFinite, "\(type) scale \(scale)")
                    XCTAssertLessThanOrEqual(
                        abs(Double(got) - exact), slack * magnitude + 1e-30,
                        "\(type) scale \(scale) portable \(portable): \(got) vs \(exact)")
                }
                if type == .q4_K || type == .q6_K {  // integer sums exact, float steps the reference's
                    let (p, v) = xq.withUnsafeBytes { b in
                        (
                            QuantizedMatrix.dot(
                                type: type, weights: w, activations: b.baseAddress!, count: n, portable: true),
                            QuantizedMatrix.dot(
                                type: type, weights: w, activations: b.baseAddress!, count: n, portable: false)
                        )
                    }
                    XCTAssertEqual(p, v, "\(type): SIMD and portable kernels bit for bit")
                }
                let float = zip(wf, x).reduce(0) { $0 + $1.0 * Double($1.1) }
                let wmag = zip(wf, x).reduce(0) { $0 + abs($1.0 * Double($1.1)) }
                XCTAssertLessThanOrEqual(abs(exact - float), 0.02 * wmag, "\(type): activation quantisation error")
            }
        }
    }

    func testActivationQuantisationRoundTrips() {
        var rng = SeededGenerator(seed: 303)
        for act: GGMLType in [.q8_0, .q8_1, .q8_K] {
            let x = (0..<512).map { _ in Float.random(in: -5...5, using: &rng) }
            let back = QuantizedMatrix.dequantize(
                QuantizedMatrix.quantizeActivations(x, as: act), type: act, count: 512)
            for (a, b) in zip(x, back) { XCTAssertLessThanOrEqual(abs(a - b), 5.0 / 127 * 0.51 + 5e-3, "\(act)") }
            let zeros = QuantizedMatrix.quantizeActivations([Float](repeating: 0, count: 512), as: act)
            XCTAssertEqual(QuantizedMatrix.dequantize(zeros, type: act, count: 512), [Float](repeating: 0, count: 512))
        }
    }

    /// The matrix product (rows over threads, four rows against every token) equals row-by-row dots.
    func testApplyMatchesDequantizedMatmul() {
        var rng = SeededGenerator(seed: 304)
        for (type, T) in (weightTypes + [.f32, .f16]).map({ ($0, 3) }) + [(.f16, 20), (.f32, 20), (.q8_0, 20)] {
            let (rows, cols) = (37, 512)
            let bytes: [UInt8]
            if type == .f32 || type == .f16 {
                let v = (0..<(rows * cols)).map { _ in Float.random(in: -1...1, using: &rng) }
                bytes =
                    type == .f32
                    ? v.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
                    : HalfConversion.toFloat16Bits(Tensor(shape: [v.count], data: v)).flatMap {
                        [UInt8($0 & 0xFF), UInt8($0 >> 8)]
                    }
            } else {
                bytes = QuantFixtures.randomBlocks(type, blocks: rows * cols / type.blockSize, scale: 0.01, rng: &rng)
            }
            let m = QuantizedMatrix(type: type, rows: rows, cols: cols, bytes: bytes)
            let w = m.dequantized()
            let x = Tensor(shape: [T, cols], data: (0..<(T * cols)).map { _ in Float.random(in: -1...1, using: &rng) })
            let y = Tensor.empty([T, rows])
            m.apply(x.data, count: T, into: y.data)
            let ref = x.matmul(w.mT).toArray()
            let scale = ref.map(abs).max()!
            assertClose(y.toArray(), ref, atol: 0.03 * scale, rtol: 0, "\(type) T \(T)")
        }
    }

    /// The four-row interleaved copies give bit-identical products (rows not a multiple of four).
    func testRepackedKernelsAreBitIdentical() throws {
        var rng = SeededGenerator(seed: 305)
        for type: GGMLType in [.q4_1, .q4_0, .q8_0] {
            let (rows, cols) = (37, 576)
            let bytes = QuantFixtures.randomBlocks(type, blocks: rows * cols / 32, scale: 0.02, rng: &rng)
            let plain = QuantizedMatrix(type: type, rows: rows, cols: cols, bytes: bytes)
            let fast = QuantizedMatrix(type: type, rows: rows, cols: cols, bytes: bytes)
            guard fast.repackForSpeed() else { throw XCTSkip("no AVX-512 VNNI here: the repacked kernels do not run") }
            for T in [1, 5] {
                let x = (0..<(T * cols)).map { _ in Float.random(in: -2...2, using: &rng) }
                var a = [Float](repeating: 0, count: T * rows)
                var b = a
                x.withUnsafeBufferPointer { xp in
                    a.withUnsafeMutableBufferPointer { plain.apply(xp.baseAddress!, count: T, into: $0.baseAddress!) }
                    b.withUnsafeMutableBufferPointer { fast.apply(xp.baseAddress!, count: T, into: $0.baseAddress!) }
                }
                XCTAssertEqual(a, b, "\(type) T \(T)")
            }
        }
    }
}
