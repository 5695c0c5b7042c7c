// The weight types of GGML/GGUF files: how many values a block holds and how many bytes it takes.
// Layouts (little-endian, `d`/`m` are float16 unless said otherwise):
//   F32, F16, BF16    one value per "block"
//   Q4_0  32 values:  d, 16 bytes of 4-bit q (low nibbles: values 0…15, high: 16…31)   x = d·(q − 8)
//   Q4_1  32 values:  d, m, 16 bytes of 4-bit q                                          x = d·q + m
//   Q8_0  32 values:  d, 32 int8 q                                                       x = d·q
//   Q8_1  32 values:  d, s = d·Σq (float16), 32 int8 q (the activations' type for Q4_1)
//   Q4_K 256 values:  d, dmin, 12 bytes of 6-bit scales/mins for 8 sub-blocks of 32, 128 bytes of q
//                     x = d·sc_j·q − dmin·m_j
//   Q5_K 256 values:  d, dmin, 12 bytes scales/mins, 32 bytes of fifth bits, 128 bytes of low nibbles
//   Q6_K 256 values:  128 bytes low nibbles, 64 bytes high 2 bits, 16 int8 scales, d
//                     x = d·sc_j·(q − 32) over 16 sub-blocks of 16
//   Q8_K 256 values:  d (float32), 256 int8 q, 16 int16 sums of 16 (the activations' type for K-quants)

/// A GGML tensor type (the numbers are GGUF's).
public enum GGMLType: UInt32, CaseIterable, Sendable, CustomStringConvertible {
    case f32 = 0
    case f16 = 1
    case q4_0 = 2
    case q4_1 = 3
    case q8_0 = 8
    case q8_1 = 9
    case q4_K = 12
    case q5_K = 13
    case q6_K = 14
    case q8_K = 15
    case bf16 = 30

    /// Values per block.
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: return 1
        case .q4_0, .q4_1, .q8_0, .q8_1: return 32
        case .q4_K, .q5_K, .q6_K, .q8_K: return 256
        }
    }

    /// Bytes per block.
    public var blockBytes: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .q4_0: return 18
        case .q4_1: return 20
        case .q8_0: return 34
        case .q8_1: return 36
        case .q4_K: return 144
        case .q5_K: return 176
        case .q6_K: return 210
        case .q8_K: return 292
        }
    }

    /// Whether GGUF files may store weights in this type (Q8_1 and Q8_K are activation types).
    public var isWeightType: Bool { self != .q8_1 && self != .q8_K }

    /// The type activations are quantised to for this weight type's integer dot product (nil: the
    /// activations stay float32).
    public var activationType: GGMLType? {
        switch self {
        case .q4_0, .q8_0: return .q8_0
        case .q4_1: return .q8_1
        case .q4_K, .q5_K, .q6_K: return .q8_K
        case .f32, .f16, .bf16, .q8_1, .q8_K: return nil
        }
    }

    /// Bytes of a row of `n` values (n a multiple of the block size), nil on overflow.
    public func rowBytes(_ n: Int) -> Int? {
        guard n >= 0, n % blockSize == 0 else { return nil }
        let (r, o) = (n / blockSize).multipliedReportingOverflow(by: blockBytes)
        return o ? nil : r
    }

    public var description: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .q4_0: return "Q4_0"
        case .q4_1: return "Q4_1"
        case .q8_0: return "Q8_0"
        case .q8_1: return "Q8_1"
        case .q4_K: return "Q4_K"
        case .q5_K: return "Q5_K"
        case .q6_K: return "Q6_K"
        case .q8_K: return "Q8_K"
        }
    }

    /// Parses "q4_1", "Q8_0", "f16", … .
    public init?(name: String) {
        guard let t = GGMLType.allCases.first(where: { $0.description.lowercased() == name.lowercased() }) else {
            return nil
        }
        self = t
    }
}
