// Writes GGUF version 3 files, per the specification: header, metadata, tensor infos, then the data
// section with every tensor at a multiple of the alignment. Used by `orrery export --gguf` (the bridge
// to llama.cpp) and by the tests, which build their own tiny models. The file is written atomically.
import Compute
import Foundation

public struct GGUFWriter {
    public struct Entry {
        public let name: String
        /// ne[0] first (the row length), as GGUF stores dimensions.
        public let dimensions: [Int]
        public let type: GGMLType
        public let bytes: [UInt8]
        public init(name: String, dimensions: [Int], type: GGMLType, bytes: [UInt8]) {
            self.name = name
            self.dimensions = dimensions
            self.type = type
            self.bytes = bytes
        }
    }

    public var metadata: [(String, GGUFValue)] = []
    public var tensors: [Entry] = []
    public var alignment = 32

    public init() {}

    public mutating func set(_ key: String, _ value: GGUFValue) {
        metadata.removeAll { $0.0 == key }
        metadata.append((key, value))
    }

    public mutating func set(_ key: String, string: String) { set(key, .string(string)) }
    public mutating func set(_ key: String, uint32: Int) { set(key, .uint(UInt64(uint32), type: 4)) }
    public mutating func set(_ key: String, float32: Float) { set(key, .float(Double(float32), type: 6)) }
    public mutating func set(_ key: String, bool: Bool) { set(key, .bool(bool)) }
    public mutating func set(_ key: String, strings: [String]) {
        set(key, .array(strings.map { .string($0) }, elementType: 8))
    }
    public mutating func set(_ key: String, int32s: [Int]) {
        set(key, .array(int32s.map { .int(Int64($0), type: 5) }, elementType: 5))
    }
    public mutating func set(_ key: String, float32s: [Float]) {
        set(key, .array(float32s.map { .float(Double($0), type: 6) }, elementType: 6))
    }

    /// A float32 matrix or vector stored as F32, F16 or BF16 (shape outermost first, PyTorch order).
    public mutating func add(_ name: String, _ t: Tensor, as type: GGMLType = .f32) {
        let values = t.toArray()
        tensors.append(
            Entry(name: name, dimensions: t.shape.reversed(), type: type, bytes: GGUFWriter.encode(values, type)))
    }

    public mutating func add(_ name: String, dimensions: [Int], type: GGMLType, bytes: [UInt8]) {
        tensors.append(Entry(name: name, dimensions: dimensions, type: type, bytes: bytes))
    }

    /// Float values in a float type, or quantised to Q8_0 (llama.cpp's rounding).
    public static func encode(_ values: [Float], _ type: GGMLType) -> [UInt8] {
        var out: [UInt8] = []
        switch type {
        case .f32:
            out.reserveCapacity(values.count * 4)
            for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { out += $0 } }
        case .f16, .bf16:
            let t = Tensor(shape: [values.count], data: values)
            let bits = type == .f16 ? HalfConversion.toFloat16Bits(t) : HalfConversion.toBFloat16Bits(t)
            for b in bits { withUnsafeBytes(of: b.littleEndian) { out += $0 } }
        case .q8_0:
            out = QuantizedMatrix.quantizeActivations(values, as: .q8_0)
        default:
            preconditionFailure("encoding float values as \(type) is not supported")
        }
        return out
    }

    /// The whole file.
    public func serialize() -> [UInt8] {
        var b: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
        func str(_ s: String) {
            u64(UInt64(s.utf8.count))
            b += Array(s.utf8)
        }
        func scalar(_ v: GGUFValue) {
            switch v {
            case .uint(let x, let t):
                switch t {
                case 0: b.append(UInt8(truncatingIfNeeded: x))
                case 2: withUnsafeBytes(of: UInt16(truncatingIfNeeded: x).littleEndian) { b += $0 }
                case 4: u32(UInt32(truncatingIfNeeded: x))
                default: u64(x)
                }
            case .int(let x, let t):
                switch t {
                case 1: b.append(UInt8(bitPattern: Int8(truncatingIfNeeded: x)))
                case 3: withUnsafeBytes(of: Int16(truncatingIfNeeded: x).littleEndian) { b += $0 }
                case 5: u32(UInt32(bitPattern: Int32(truncatingIfNeeded: x)))
                default: u64(UInt64(bitPattern: x))
                }
            case .float(let x, let t):
                if t == 6 { u32(Float(x).bitPattern) } else { u64(x.bitPattern) }
            case .bool(let x): b.append(x ? 1 : 0)
            case .string(let s): str(s)
            case .array(let items, let et):
                u32(et)
                u64(UInt64(items.count))
                for i in items { scalar(i) }
            case .packed(let a):
                u32(a.elementType)
                u64(UInt64(a.count))
                for i in a.values() { scalar(i) }
            }
        }
        func typeCode(_ v: GGUFValue) -> UInt32 {
            switch v {
            case .uint(_, let t), .int(_, let t), .float(_, let t): return t
            case .bool: return 7
            case .string: return 8
            case .array, .packed: return 9
            }
        }
        u32(0x4655_4747)
        u32(3)
        u64(UInt64(tensors.count))
        var meta = metadata
        if alignment != 32 && !meta.contains(where: { $0.0 == "general.alignment" }) {
            meta.append(("general.alignment", .uint(UInt64(alignment), type: 4)))
        }
        u64(UInt64(meta.count))
        for (k, v) in meta {
            str(k)
            u32(typeCode(v))
            scalar(v)
        }
        var offset = 0
        var offsets: [Int] = []
        for t in tensors {
            offsets.append(offset)
            offset += (t.bytes.count + alignment - 1) / alignment * alignment
        }
        for (t, o) in zip(tensors, offsets) {
            str(t.name)
            u32(UInt32(t.dimensions.count))
            for d in t.dimensions { u64(UInt64(d)) }
            u32(t.type.rawValue)
            u64(UInt64(o))
        }
        while b.count % alignment != 0 { b.append(0) }
        for t in tensors {
            b += t.bytes
            while b.count % alignment != 0 { b.append(0) }
        }
        return b
    }

    /// Writes the file atomically (a temporary file, then a rename).
    public func write(to path: String) throws { try AtomicFile.write(serialize(), to: path) }
}
