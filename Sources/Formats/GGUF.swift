// GGUF (the llama.cpp model format), versions 2 and 3: a header, typed metadata key/values, tensor
// infos, then the aligned data section. The file is read into memory once (see MappedFile for why
// not mmap) and weights are used in place from there; everything is
// validated before use: every count, length, offset and dimension is checked with overflow-safe
// arithmetic against the bytes that remain, so a hostile file ends in a typed `GGUFError` naming the
// field, its offset and the numbers, never in a crash, a hang or an allocation beyond the file size.
import Compute
import Foundation

public enum GGUFError: Error, Equatable, CustomStringConvertible {
    case io(path: String, reason: String)
    case tooSmall(size: Int)
    case badMagic(found: UInt32)
    case unsupportedVersion(UInt32)
    case truncated(field: String, offset: Int, need: Int, have: Int)
    case tooManyEntries(field: String, count: UInt64, limit: Int)
    case stringTooLong(field: String, offset: Int, length: UInt64, remaining: Int)
    case invalidUTF8(field: String, offset: Int)
    case emptyKey(offset: Int)
    case emptyTensorName(offset: Int)
    case unknownValueType(key: String, offset: Int, type: UInt32)
    case nestedArray(key: String, offset: Int)
    case arrayTooLong(key: String, offset: Int, count: UInt64, remaining: Int)
    case duplicateKey(key: String, offset: Int)
    case badAlignment(UInt64)
    case wrongValueType(key: String, expected: String, found: String)
    case tooManyDimensions(tensor: String, dimensions: UInt32)
    case nameTooLong(tensor: String, length: Int)
    case duplicateTensor(String)
    case unknownTensorType(tensor: String, type: UInt32)
    case rowNotBlockMultiple(tensor: String, rowLength: UInt64, blockSize: Int)
    case sizeOverflow(tensor: String)
    case misalignedTensor(tensor: String, offset: UInt64, alignment: Int)
    case tensorOutOfBounds(tensor: String, end: UInt64, dataSize: Int)
    case overlappingTensors(String, String)
    case missingKey(String)
    case missingTensor(String)
    case shapeMismatch(tensor: String, expected: [Int], found: [Int])
    case malformedToken(index: Int, text: String)
    case unsupported(String)

    public var description: String {
        switch self {
        case .io(let p, let r): return "\(r) (\(p))"
        case .tooSmall(let s): return "file of \(s) bytes is too small for a GGUF header (needs ≥ 24)"
        case .badMagic(let m): return String(format: "not a GGUF file (magic 0x%08X, expected 0x46554747 \"GGUF\")", m)
        case .unsupportedVersion(let v): return "GGUF version \(v) is not supported (2 and 3 are)"
        case .truncated(let f, let o, let n, let h):
            return "\(f) at byte \(o) needs \(n) bytes but only \(h) remain"
        case .tooManyEntries(let f, let c, let l): return "\(f) \(c) exceeds what the file can hold (\(l))"
        case .stringTooLong(let f, let o, let l, let r):
            return "string length \(l) of \(f) at byte \(o) runs past the end (\(r) bytes remain)"
        case .invalidUTF8(let f, let o): return "\(f) at byte \(o) is not valid UTF-8"
        case .emptyKey(let o): return "metadata key at byte \(o) is empty"
        case .emptyTensorName(let o): return "tensor name at byte \(o) is empty"
        case .unknownValueType(let k, let o, let t): return "metadata \(k) at byte \(o) has unknown value type \(t)"
        case .nestedArray(let k, let o): return "metadata \(k) at byte \(o) is an array of arrays (not supported)"
        case .arrayTooLong(let k, let o, let c, let r):
            return "metadata \(k) at byte \(o): \(c) array elements cannot fit in the \(r) bytes that remain"
        case .duplicateKey(let k, let o): return "metadata key \(k) at byte \(o) appears twice"
        case .badAlignment(let a): return "general.alignment \(a) is not a power of two in 1…65536"
        case .wrongValueType(let k, let e, let f): return "metadata \(k) should be \(e), found \(f)"
        case .tooManyDimensions(let t, let n): return "tensor \(t) has \(n) dimensions (at most 4)"
        case .nameTooLong(let t, let l): return "tensor name \(t.prefix(64))… is \(l) bytes (at most 63)"
        case .duplicateTensor(let t): return "tensor \(t) appears twice"
        case .unknownTensorType(let t, let ty): return "tensor \(t) has unknown or unsupported type \(ty)"
        case .rowNotBlockMultiple(let t, let r, let b):
            return "tensor \(t): first dimension \(r) is not a multiple of its type's block size \(b)"
        case .sizeOverflow(let t): return "tensor \(t): its size overflows"
        case .misalignedTensor(let t, let o, let a): return "tensor \(t): offset \(o) is not a multiple of \(a)"
        case .tensorOutOfBounds(let t, let e, let d):
            return "tensor \(t) ends at data byte \(e), past the \(d)-byte data section"
        case .overlappingTensors(let a, let b): return "tensors \(a) and \(b) overlap"
        case .missingKey(let k): return "required metadata \(k) is missing"
        case .missingTensor(let t): return "required tensor \(t) is missing"
        case .shapeMismatch(let t, let e, let f): return "tensor \(t) has shape \(f), expected \(e)"
        case .malformedToken(let i, let s): return "token \(i) (\(s.debugDescription)) is malformed"
        case .unsupported(let s): return s
        }
    }
}

/// A metadata value. Arrays hold scalars or strings (GGUF allows nested arrays; no model needs them).
public enum GGUFValue: Equatable, Sendable {
    case uint(UInt64, type: UInt32)
    case int(Int64, type: UInt32)
    case float(Double, type: UInt32)
    case bool(Bool)
    case string(String)
    case array([GGUFValue], elementType: UInt32)
    /// An array as the reader leaves it: validated, but decoded only when asked for (a 100 MB array of
    /// bytes would otherwise take 24 bytes a byte in memory).
    case packed(GGUFArray)

    public var typeName: String {
        switch self {
        case .uint(_, let t), .int(_, let t), .float(_, let t): return GGUFValue.name(of: t)
        case .bool: return "bool"
        case .string: return "string"
        case .array(_, let t): return "array of \(GGUFValue.name(of: t))"
        case .packed(let a): return "array of \(GGUFValue.name(of: a.elementType))"
        }
    }

    static func name(of type: UInt32) -> String {
        switch type {
        case 0: return "uint8"
        case 1: return "int8"
        case 2: return "uint16"
        case 3: return "int16"
        case 4: return "uint32"
        case 5: return "int32"
        case 6: return "float32"
        case 7: return "bool"
        case 8: return "string"
        case 9: return "array"
        case 10: return "uint64"
        case 11: return "int64"
        case 12: return "float64"
        default: return "type \(type)"
        }
    }

    /// An integer value of any integer type.
    public var integer: Int? {
        switch self {
        case .uint(let v, _): return v <= UInt64(Int.max) ? Int(v) : nil
        case .int(let v, _): return Int(exactly: v)
        default: return nil
        }
    }

    public var number: Double? {
        switch self {
        case .uint(let v, _): return Double(v)
        case .int(let v, _): return Double(v)
        case .float(let v, _): return v
        default: return nil
        }
    }

    /// A short rendering for `inspect` (arrays summarised).
    public var summary: String {
        switch self {
        case .uint(let v, _): return "\(v)"
        case .int(let v, _): return "\(v)"
        case .float(let v, _): return "\(v)"
        case .bool(let b): return "\(b)"
        case .string(let s): return s.count > 60 ? String(s.prefix(57)).debugDescription + "…" : s.debugDescription
        case .array(let a, let t): return "[\(a.count) × \(GGUFValue.name(of: t))]"
        case .packed(let a): return "[\(a.count) × \(GGUFValue.name(of: a.elementType))]"
        }
    }
}

/// A validated metadata array inside the file's bytes, decoded on demand. Valid while its GGUFFile is.
public struct GGUFArray: Equatable, @unchecked Sendable {
    public let elementType: UInt32
    public let count: Int
    let offset: Int
    let end: Int
    let base: UnsafeRawPointer

    public static func == (a: GGUFArray, b: GGUFArray) -> Bool {
        a.elementType == b.elementType && a.count == b.count && a.offset == b.offset && a.base == b.base
    }

    /// The elements (already validated when the file was read, so decoding cannot fail).
    public func values() -> [GGUFValue] {
        var r = Reader(base: base, size: end, offset: offset)
        var out: [GGUFValue] = []
        out.reserveCapacity(count)
        for _ in 0..<count {
            guard let v = try? r.value(type: elementType, key: "", allowArray: false) else { break }
            out.append(v)
        }
        return out
    }

    public func strings() -> [String] {
        var r = Reader(base: base, size: end, offset: offset)
        var out: [String] = []
        out.reserveCapacity(count)
        for _ in 0..<count { out.append((try? r.string("")) ?? "") }
        return out
    }
}

/// One tensor's description: GGUF dimensions are innermost first (ne[0] is the row length).
public struct GGUFTensorInfo: Sendable {
    public let name: String
    /// ne[0], ne[1], …: ne[0] is contiguous (a row); a [rows, cols] matrix is [cols, rows] here.
    public let dimensions: [Int]
    public let type: GGMLType
    /// Offset inside the data section.
    public let offset: Int
    public let byteCount: Int
    public var elementCount: Int { dimensions.reduce(1, *) }
    /// Shape outermost first (PyTorch order): [rows, cols] for a matrix.
    public var shape: [Int] { dimensions.reversed() }
}

/// The file's bytes in memory (read once, 64-byte aligned), freed when the last user lets go.
///
/// Measured against mmap: reading SmolLM2's 98 MB costs ~60 ms at load (first token after 0.21–0.24 s
/// instead of 0.15–0.18 s), and buys two things. A file
/// truncated or replaced while a model runs from it can no longer kill the process with SIGBUS (a
/// hostile-input probe did exactly that with `cp` over the file), and the weights are anonymous
/// memory, which this VM kind's page-out of cold file-backed pages cannot evict (PERF's llama.cpp note).
public final class MappedFile: @unchecked Sendable {
    public let base: UnsafeRawPointer
    public let size: Int

    public init(path: String) throws {
        let (fd, size): (Int32, Int)
        do {
            (fd, size) = try BoundedFile.openRegular(path)
        } catch let e as BoundedFileError {
            throw GGUFError.io(path: path, reason: e.reason)
        }
        defer { close(fd) }
        self.size = size
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(1, size), alignment: 64)
        var got = 0
        while got < size {
            let r = read(fd, p + got, min(size - got, 1 << 26))
            if r < 0 && errno == EINTR { continue }
            if r <= 0 {
                let why = r < 0 ? String(cString: strerror(errno)) : "the file shrank while it was read"
                p.deallocate()
                throw GGUFError.io(path: path, reason: "cannot read: \(why)")
            }
            got += r
        }
        base = UnsafeRawPointer(p)
    }

    deinit { UnsafeMutableRawPointer(mutating: base).deallocate() }
}

/// A parsed GGUF file. Tensor data stays in the mapping: `data(_:)` gives a pointer into it.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: UInt32
    /// Metadata in file order.
    public let keys: [String]
    public let metadata: [String: GGUFValue]
    public let tensors: [GGUFTensorInfo]
    public let tensorIndex: [String: Int]
    public let alignment: Int
    /// Byte offset of the data section in the file.
    public let dataOffset: Int
    public let mapping: MappedFile

    public static let maxDimensions = 4
    public static let maxNameBytes = 63

    public convenience init(path: String) throws {
        try self.init(mapping: MappedFile(path: path), path: path)
    }

    public init(mapping: MappedFile, path: String) throws {
        self.path = path
        self.mapping = mapping
        var r = Reader(base: mapping.base, size: mapping.size)
        guard mapping.size >= 24 else { throw GGUFError.tooSmall(size: mapping.size) }
        let magic = try r.u32("magic")
        guard magic == 0x4655_4747 else { throw GGUFError.badMagic(found: magic) }
        version = try r.u32("version")
        guard version == 2 || version == 3 else { throw GGUFError.unsupportedVersion(version) }
        let tensorCount = try r.u64("tensor count")
        let kvCount = try r.u64("metadata count")
        // Each key/value takes ≥ 13 bytes (8 length, ≥ 1 key byte, 4 type); each tensor info ≥ 25.
        let remaining = r.remaining
        guard kvCount <= UInt64(remaining / 13) else {
            throw GGUFError.tooManyEntries(field: "metadata count", count: kvCount, limit: remaining / 13)
        }
        guard tensorCount <= UInt64(remaining / 25) else {
            throw GGUFError.tooManyEntries(field: "tensor count", count: tensorCount, limit: remaining / 25)
        }
        var keys: [String] = []
        var metadata: [String: GGUFValue] = [:]
        for _ in 0..<Int(kvCount) {
            let at = r.offset
            let key = try r.string("metadata key")
            guard !key.isEmpty else { throw GGUFError.emptyKey(offset: at) }
            guard metadata[key] == nil else { throw GGUFError.duplicateKey(key: key, offset: at) }
            let type = try r.u32("value type of \(key)")
            metadata[key] = try r.value(type: type, key: key, allowArray: true)
            keys.append(key)
        }
        self.keys = keys
        self.metadata = metadata
        var alignment = 32
        if let a = metadata["general.alignment"] {
            guard case .uint(let v, _) = a else {
                throw GGUFError.wrongValueType(key: "general.alignment", expected: "uint32", found: a.typeName)
            }
            guard v >= 1 && v <= 65536 && v & (v - 1) == 0 else { throw GGUFError.badAlignment(v) }
            alignment = Int(v)
        }
        self.alignment = alignment

        var infos: [GGUFTensorInfo] = []
        var index: [String: Int] = [:]
        var rawOffsets: [(UInt64, Int)] = []
        for _ in 0..<Int(tensorCount) {
            let nameAt = r.offset
            let name = try r.string("tensor name")
            guard !name.isEmpty else { throw GGUFError.emptyTensorName(offset: nameAt) }
            guard name.utf8.count <= GGUFFile.maxNameBytes else {
                throw GGUFError.nameTooLong(tensor: name, length: name.utf8.count)
            }
            guard index[name] == nil else { throw GGUFError.duplicateTensor(name) }
            let nd = try r.u32("dimension count of \(name)")
            guard nd >= 1 && nd <= UInt32(GGUFFile.maxDimensions) else {
                throw GGUFError.tooManyDimensions(tensor: name, dimensions: nd)
            }
            var dims: [UInt64] = []
            for i in 0..<Int(nd) { dims.append(try r.u64("dimension \(i) of \(name)")) }
            let rawType = try r.u32("type of \(name)")
            guard let type = GGMLType(rawValue: rawType), type.isWeightType else {
                throw GGUFError.unknownTensorType(tensor: name, type: rawType)
            }
            let offset = try r.u64("offset of \(name)")
            // Sizes: every dimension and the product stay far from overflow (the bounds check against
            // the data section follows); a zero dimension cannot hide a huge one.
            var count: UInt64 = 1
            for d in dims {
                let (p, o) = count.multipliedReportingOverflow(by: d)
                guard !o, p <= UInt64(Int.max / 8), d <= UInt64(Int.max / 8) else {
                    throw GGUFError.sizeOverflow(tensor: name)
                }
                count = p
            }
            guard dims[0] % UInt64(type.blockSize) == 0 else {
                throw GGUFError.rowNotBlockMultiple(tensor: name, rowLength: dims[0], blockSize: type.blockSize)
            }
            let (bytes, o) = (count / UInt64(type.blockSize)).multipliedReportingOverflow(by: UInt64(type.blockBytes))
            guard !o, bytes <= UInt64(Int.max / 8) else { throw GGUFError.sizeOverflow(tensor: name) }
            guard offset % UInt64(alignment) == 0 else {
                throw GGUFError.misalignedTensor(tensor: name, offset: offset, alignment: alignment)
            }
            index[name] = infos.count
            rawOffsets.append((offset, infos.count))
            infos.append(
                GGUFTensorInfo(
                    name: name, dimensions: dims.map { Int($0) }, type: type,
                    offset: offset <= UInt64(Int.max) ? Int(truncatingIfNeeded: offset) : Int.max,
                    byteCount: Int(bytes)))
        }
        // The data section starts at the next multiple of the alignment.
        let (padded, po) = r.offset.addingReportingOverflow(alignment - 1)
        guard !po else { throw GGUFError.sizeOverflow(tensor: "data section") }
        let dataOffset = padded / alignment * alignment
        let dataSize = max(0, mapping.size - dataOffset)
        for t in infos {
            let (end, o) = UInt64(t.offset).addingReportingOverflow(UInt64(t.byteCount))
            guard !o, t.offset != Int.max, end <= UInt64(dataSize) else {
                throw GGUFError.tensorOutOfBounds(tensor: t.name, end: o ? UInt64.max : end, dataSize: dataSize)
            }
        }
        // No two tensors with data may share bytes.
        let spans = infos.filter { $0.byteCount > 0 }.sorted { $0.offset < $1.offset }
        for (a, b) in zip(spans, spans.dropFirst()) where a.offset + a.byteCount > b.offset {
            throw GGUFError.overlappingTensors(a.name, b.name)
        }
        self.tensors = infos
        self.tensorIndex = index
        self.dataOffset = dataOffset
    }

    public func tensor(_ name: String) -> GGUFTensorInfo? { tensorIndex[name].map { tensors[$0] } }

    /// The tensor's bytes inside the mapping (valid while this file is alive).
    public func data(_ t: GGUFTensorInfo) -> UnsafeRawPointer { mapping.base + dataOffset + t.offset }

    // MARK: typed metadata access

    public func string(_ key: String) throws -> String {
        guard let v = metadata[key] else { throw GGUFError.missingKey(key) }
        guard case .string(let s) = v else {
            throw GGUFError.wrongValueType(key: key, expected: "string", found: v.typeName)
        }
        return s
    }

    public func optionalString(_ key: String) throws -> String? {
        metadata[key] == nil ? nil : try string(key)
    }

    public func integer(_ key: String) throws -> Int {
        guard let v = metadata[key] else { throw GGUFError.missingKey(key) }
        guard let i = v.integer else {
            throw GGUFError.wrongValueType(key: key, expected: "an integer", found: v.typeName)
        }
        return i
    }

    public func optionalInteger(_ key: String) throws -> Int? { metadata[key] == nil ? nil : try integer(key) }

    public func number(_ key: String) throws -> Double {
        guard let v = metadata[key] else { throw GGUFError.missingKey(key) }
        guard let d = v.number else {
            throw GGUFError.wrongValueType(key: key, expected: "a number", found: v.typeName)
        }
        return d
    }

    public func optionalNumber(_ key: String) throws -> Double? { metadata[key] == nil ? nil : try number(key) }

    public func optionalBool(_ key: String) throws -> Bool? {
        guard let v = metadata[key] else { return nil }
        guard case .bool(let b) = v else {
            throw GGUFError.wrongValueType(key: key, expected: "bool", found: v.typeName)
        }
        return b
    }

    public func stringArray(_ key: String) throws -> [String] {
        guard let v = metadata[key] else { throw GGUFError.missingKey(key) }
        let items: [GGUFValue]
        switch v {
        case .array(let a, 8): items = a
        case .packed(let p) where p.elementType == 8: return p.strings()
        default: throw GGUFError.wrongValueType(key: key, expected: "array of string", found: v.typeName)
        }
        return items.map { if case .string(let s) = $0 { return s } else { return "" } }
    }

    public func optionalStringArray(_ key: String) throws -> [String]? {
        metadata[key] == nil ? nil : try stringArray(key)
    }

    /// An array of integers or floats as Doubles (`integerOnly` refuses float arrays).
    public func numberArray(_ key: String, integerOnly: Bool = false) throws -> [Double] {
        guard let v = metadata[key] else { throw GGUFError.missingKey(key) }
        let expected = integerOnly ? "array of integers" : "array of numbers"
        func numeric(_ t: UInt32) -> Bool { t != 8 && t != 7 && (!integerOnly || (t != 6 && t != 12)) }
        switch v {
        case .array(let a, let t) where numeric(t): return a.map { $0.number ?? 0 }
        case .packed(let p) where numeric(p.elementType): return p.values().map { $0.number ?? 0 }
        default: throw GGUFError.wrongValueType(key: key, expected: expected, found: v.typeName)
        }
    }

    /// Elements of an array value without decoding it (nil: not an array).
    public func arrayCount(_ key: String) -> Int? {
        switch metadata[key] {
        case .array(let a, _): return a.count
        case .packed(let p): return p.count
        default: return nil
        }
    }

    public func optionalNumberArray(_ key: String, integerOnly: Bool = false) throws -> [Double]? {
        metadata[key] == nil ? nil : try numberArray(key, integerOnly: integerOnly)
    }
}

/// Bounds-checked little-endian reads over the mapping.
struct Reader {
    let base: UnsafeRawPointer
    let size: Int
    var offset = 0

    var remaining: Int { size - offset }

    mutating func take(_ n: Int, _ field: String) throws -> UnsafeRawPointer {
        guard n >= 0, n <= remaining else {
            throw GGUFError.truncated(field: field, offset: offset, need: n, have: remaining)
        }
        let p = base + offset
        offset += n
        return p
    }

    mutating func u8(_ f: String) throws -> UInt8 { try take(1, f).load(as: UInt8.self) }
    mutating func u16(_ f: String) throws -> UInt16 {
        UInt16(littleEndian: try take(2, f).loadUnaligned(as: UInt16.self))
    }
    mutating func u32(_ f: String) throws -> UInt32 {
        UInt32(littleEndian: try take(4, f).loadUnaligned(as: UInt32.self))
    }
    mutating func u64(_ f: String) throws -> UInt64 {
        UInt64(littleEndian: try take(8, f).loadUnaligned(as: UInt64.self))
    }

    mutating func string(_ field: String) throws -> String {
        let at = offset
        let n = try u64("length of \(field)")
        guard n <= UInt64(remaining) else {
            throw GGUFError.stringTooLong(field: field, offset: at, length: n, remaining: remaining)
        }
        let p = try take(Int(n), field)
        let bytes = UnsafeRawBufferPointer(start: p, count: Int(n))
        guard let s = String(validating: bytes, as: UTF8.self) else {
            throw GGUFError.invalidUTF8(field: field, offset: at)
        }
        return s
    }

    /// Checks a string (length inside the file, valid UTF-8) and moves past it.
    mutating func skipString(_ field: String) throws {
        let at = offset
        let n = try u64("length of \(field)")
        guard n <= UInt64(remaining) else {
            throw GGUFError.stringTooLong(field: field, offset: at, length: n, remaining: remaining)
        }
        let p = try take(Int(n), field)
        guard String(validating: UnsafeRawBufferPointer(start: p, count: Int(n)), as: UTF8.self) != nil else {
            throw GGUFError.invalidUTF8(field: field, offset: at)
        }
    }

    /// Smallest encoded size of one value of a scalar type (nil: unknown type).
    static func scalarSize(_ type: UInt32) -> Int? {
        switch type {
        case 0, 1, 7: return 1
        case 2, 3: return 2
        case 4, 5, 6: return 4
        case 10, 11, 12: return 8
        case 8: return 8  // a string: its length field at least
        default: return nil
        }
    }

    mutating func value(type: UInt32, key: String, allowArray: Bool) throws -> GGUFValue {
        let at = offset
        switch type {
        case 0: return .uint(UInt64(try u8(key)), type: 0)
        case 1: return .int(Int64(Int8(bitPattern: try u8(key))), type: 1)
        case 2: return .uint(UInt64(try u16(key)), type: 2)
        case 3: return .int(Int64(Int16(bitPattern: try u16(key))), type: 3)
        case 4: return .uint(UInt64(try u32(key)), type: 4)
        case 5: return .int(Int64(Int32(bitPattern: try u32(key))), type: 5)
        case 6: return .float(Double(Float(bitPattern: try u32(key))), type: 6)
        case 7:
            let b = try u8(key)
            guard b <= 1 else { throw GGUFError.wrongValueType(key: key, expected: "bool 0 or 1", found: "\(b)") }
            return .bool(b == 1)
        case 8: return .string(try string(key))
        case 10: return .uint(try u64(key), type: 10)
        case 11: return .int(Int64(bitPattern: try u64(key)), type: 11)
        case 12: return .float(Double(bitPattern: try u64(key)), type: 12)
        case 9:
            guard allowArray else { throw GGUFError.nestedArray(key: key, offset: at) }
            let et = try u32("element type of \(key)")
            if et == 9 { throw GGUFError.nestedArray(key: key, offset: at) }
            guard let size = Reader.scalarSize(et) else {
                throw GGUFError.unknownValueType(key: key, offset: at, type: et)
            }
            let n = try u64("element count of \(key)")
            guard n <= UInt64(remaining / size) else {
                throw GGUFError.arrayTooLong(key: key, offset: at, count: n, remaining: remaining)
            }
            let start = offset
            if et == 8 {  // strings: each validated now (lengths and UTF-8), decoded later
                for _ in 0..<Int(n) { try skipString(key) }
            } else if et == 7 {  // bools: 0 or 1
                for _ in 0..<Int(n) { _ = try value(type: et, key: key, allowArray: false) }
            } else {
                _ = try take(Int(n) * size, key)
            }
            return .packed(GGUFArray(elementType: et, count: Int(n), offset: start, end: offset, base: base))
        default:
            throw GGUFError.unknownValueType(key: key, offset: at, type: type)
        }
    }
}
