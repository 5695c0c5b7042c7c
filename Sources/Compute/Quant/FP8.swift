// 8-bit floating point as in the OCP FP8 specification (and NVIDIA's Hopper): E4M3 (bias 7, no
// infinities, S.1111.111 is NaN, largest finite ±448) and E5M2 (bias 15, IEEE-style infinities and
// NaNs, largest finite ±57344). Encoding rounds to nearest, ties to even, with subnormals; values
// beyond the largest finite saturate to it (the "satfinite" conversion training uses) or, without
// saturation, become NaN (E4M3) or infinity (E5M2).
//
// DeepSeek-V3 trains with E4M3 everywhere and fine-grained scaling instead of E5M2 for gradients: the
// scale of each 1 × 128 tile of an activation row and of each 128 × 128 block of a weight matrix is
// amax / 448, so one outlier spoils only its own tile, and the GEMM accumulates in FP32.
// `Tensor.fp8Simulated` reproduces that numerically: quantise, dequantise, multiply in FP32.
import Foundation

public enum FP8Format: String, Sendable, CaseIterable, Codable {
    case e4m3, e5m2

    var mantissaBits: Int { self == .e4m3 ? 3 : 2 }
    var bias: Int { self == .e4m3 ? 7 : 15 }
    /// Largest finite magnitude: 448 (1.75 · 2⁸) or 57344 (1.75 · 2¹⁵).
    public var maxFinite: Float { self == .e4m3 ? 448 : 57344 }
    /// Smallest positive normal (2⁻⁶ or 2⁻¹⁴) and subnormal (2⁻⁹ or 2⁻¹⁶).
    public var minNormal: Float { Float(sign: .plus, exponent: 1 - bias, significand: 1) }
    public var minSubnormal: Float { Float(sign: .plus, exponent: 1 - bias - mantissaBits, significand: 1) }

    /// The value of a code (NaN for NaN codes, ±∞ for E5M2's infinities).
    public func decode(_ code: UInt8) -> Float {
        let negative = code & 0x80 != 0
        let m = Int(code) & ((1 << mantissaBits) - 1)
        let e = (Int(code) >> mantissaBits) & (self == .e4m3 ? 0xF : 0x1F)
        var v: Float
        switch self {
        case .e4m3:
            if e == 0xF && m == 7 { return .nan }
        case .e5m2:
            if e == 0x1F { return m == 0 ? (negative ? -.infinity : .infinity) : .nan }
        }
        if e == 0 {
            v = Float(m) * minSubnormal
        } else {
            v = Float(sign: .plus, exponent: e - bias, significand: 1 + Float(m) / Float(1 << mantissaBits))
        }
        if negative { v = -v }
        return v
    }

    /// The code of `x`: round to nearest even; beyond the largest finite, saturate (or NaN/∞ when
    /// `saturate` is false); NaN stays NaN; infinities saturate (or stay infinite in E5M2).
    public func encode(_ x: Float, saturate: Bool = true) -> UInt8 {
        let signBit: UInt8 = x.sign == .minus ? 0x80 : 0
        let nanCode: UInt8 = self == .e4m3 ? 0x7F : 0x7E
        if x.isNaN { return signBit | nanCode }
        let a = x.magnitude
        let maxCode: UInt8 = self == .e4m3 ? 0x7E : 0x7B
        let infOrNaN: UInt8 = self == .e4m3 ? nanCode : 0x7C
        if a.isInfinite { return signBit | (saturate ? maxCode : infOrNaN) }
        // The quantum of a's binade (subnormals share the smallest normal binade's exponent).
        let e = Swift.max(Int(a.exponent), 1 - bias)
        let quantum = Float(sign: .plus, exponent: e - mantissaBits, significand: 1)
        let r = (a / quantum).rounded(.toNearestOrEven)  // exact: a / quantum is a power-of-two scaling
        let value = r * quantum
        if value > maxFinite { return signBit | (saturate ? maxCode : infOrNaN) }
        if value == 0 { return signBit }
        // Normalised (r may have rounded up into the next binade: r = 2^(m+1)).
        let ri = Int(r)
        let full = 1 << mantissaBits
        if ri < full {  // subnormal: exponent field 0
            return signBit | UInt8(ri)
        }
        var exp = e
        var mant = ri
        if mant >= 2 * full {
            mant /= 2
            exp += 1
        }
        return signBit | UInt8(((exp + bias) << mantissaBits) | (mant - full))
    }

    /// x rounded to the nearest representable value (with saturation).
    public func round(_ x: Float) -> Float { decode(encode(x)) }
}

extension Tensor {
    /// Fine-grained FP8 quantise-dequantise of the last two dimensions viewed as a matrix [rows, cols]:
    /// each `tile.rows` × `tile.cols` block is scaled by amax / maxFinite, rounded to `format` and scaled
    /// back (so the result holds exactly what an FP8 GEMM with FP32 accumulation would multiply).
    /// DeepSeek-V3: activations 1 × 128, weights 128 × 128. The gradient passes straight through.
    public func fp8Simulated(_ format: FP8Format = .e4m3, tile: (rows: Int, cols: Int)) -> Tensor {
        precondition(rank >= 1 && tile.rows >= 1 && tile.cols >= 1, "fp8Simulated: \(shape), tile \(tile)")
        let cols = shape[rank - 1]
        let rows = count / Swift.max(cols, 1)
        let src = contiguousRaw()
        let out = Tensor.empty(shape)
        let sp = src.data
        let op = out.data
        let blockRows = (rows + tile.rows - 1) / tile.rows
        let blockCols = (cols + tile.cols - 1) / tile.cols
        let maxFinite = format.maxFinite
        Parallel.forRanges(blockRows, grain: 1) { r in
            for br in r {
                let r0 = br * tile.rows
                let r1 = Swift.min(rows, r0 + tile.rows)
                for bc in 0..<blockCols {
                    let c0 = bc * tile.cols
                    let c1 = Swift.min(cols, c0 + tile.cols)
                    var amax: Float = 0
                    for i in r0..<r1 { for j in c0..<c1 { amax = Swift.max(amax, sp[i * cols + j].magnitude) } }
                    let scale = amax > 0 && amax.isFinite ? amax / maxFinite : 1
                    for i in r0..<r1 {
                        for j in c0..<c1 {
                            op[i * cols + j] = format.round(sp[i * cols + j] / scale) * scale
                        }
                    }
                }
            }
        }
        return out.recorded("fp8Simulated", [self]) { g in [g] }
    }
}
