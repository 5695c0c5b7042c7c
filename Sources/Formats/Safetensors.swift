// safetensors (Hugging Face): an 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}, then the
// data section. Reading memory-maps the file and validates everything before any use, as strictly
// as the reference implementation; writing is atomic (a temp file in the same directory, fsync,
// rename, fsync of the directory), so a failed write leaves the previous file intact.
import Compute
import Foundation

/// Element types of the format, with their width in bits (the reference library's complete table:
/// F4 and the F6 types are packed below a byte, so a tensor of them must fill whole bytes).
public enum SafetensorsDType: String, CaseIterable, Sendable {
    case BOOL, F4, F6_E2M3, F6_E3M2, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, F8_E4M3FNUZ, F8_E5M2FNUZ
    case I16, U16, F16, BF16, I32, U32, F32, C64, F64, I64, U64
    public var bits: Int {
        switch self {
        case .F4: return 4
        case .F6_E2M3, .F6_E3M2: return 6
        case .BOOL, .U8, .I8, .F8_E5M2, .F8_E4M3, .F8_E8M0, .F8_E4M3FNUZ, .F8_E5M2FNUZ: return 8
        case .I16, .U16, .F16, .BF16: return 16
        case .I32, .U32, .F32: return 32
        case .C64, .F64, .I64, .U64: return 64
        }
    }
}

public enum SafetensorsError: Error, CustomStringConvertible, Equatable {
    case io(path: String, reason: String)
    case fileTooSmall(size: Int)
    case headerTooLarge(length: UInt64, limit: Int)
    case headerOutOfBounds(length: UInt64, fileSize: Int)
    case headerNotUTF8
    case invalidJSON(String)
    case headerNotObject
    case invalidMetadata(String)
    case invalidEntry(tensor: String, reason: String)
    case unknownDType(tensor: String, dtype: String)
    case sizeOverflow(tensor: String)
    case sizeMismatch(tensor: String, expected: Int, found: Int)
    case offsetsNotContiguous(tensor: String, expectedBegin: Int, found: Int)
    case dataOutOfBounds(tensor: String, end: Int, dataSize: Int)
    case dataSizeMismatch(expected: Int, found: Int)
    case unsupportedDType(tensor: String, dtype: String)
    case missingTensor(String)
    case invalidName(String)
    case partialByte(tensor: String, bits: Int)

    public var description: String {
        switch self {
        case .io(let p, let r): return "\(r) (\(p))"
        case .fileTooSmall(let s): return "file of \(s) bytes is too small for a safetensors header (needs ≥ 8)"
        case .headerTooLarge(let l, let lim): return "header length \(l) exceeds the \(lim)-byte limit"
        case .headerOutOfBounds(let l, let f): return "header length \(l) runs past the end of the \(f)-byte file"
        case .headerNotUTF8: return "header is not valid UTF-8"
        case .invalidJSON(let r): return "header is not valid JSON: \(r)"
        case .headerNotObject: return "header is not a JSON object"
        case .invalidMetadata(let r): return "__metadata__ \(r)"
        case .invalidEntry(let t, let r): return "tensor \"\(t)\": \(r)"
        case .unknownDType(let t, let d): return "tensor \"\(t)\": unknown dtype \"\(d)\""
        case .sizeOverflow(let t): return "tensor \"\(t)\": element count × dtype size overflows"
        case .sizeMismatch(let t, let e, let f):
            return "tensor \"\(t)\": shape and dtype need \(e) bytes but data_offsets span \(f)"
        case .offsetsNotContiguous(let t, let e, let f):
            return "tensor \"\(t)\": data begins at \(f), expected \(e) (offsets must be sorted and contiguous from 0)"
        case .dataOutOfBounds(let t, let e, let d):
            return "tensor \"\(t)\": data ends at \(e), past the \(d)-byte data section"
        case .dataSizeMismatch(let e, let f): return "tensors cover \(e) bytes but the data section holds \(f)"
        case .unsupportedDType(let t, let d):
            return "tensor \"\(t)\": dtype \(d) cannot be loaded as Float32 (F32, F16, BF16 only)"
        case .missingTensor(let n): return "no tensor named \"\(n)\""
        case .invalidName(let n): return "invalid tensor name \"\(n)\""
        case .partialByte(let t, let b): return "tensor \"\(t)\": \(b) bits do not fill whole bytes"
        }
    }
}

/// One validated entry of the header.
public struct SafetensorsEntry: Equatable, Sendable {
    public let name: String
    public let dtype: SafetensorsDType
    public let shape: [Int]
    /// Byte range inside the data section.
    public let begin: Int, end: Int
    public var byteCount: Int { end - begin }
}

/// A memory-mapped, validated safetensors file.
public final class SafetensorsFile {
    public static let maxHeaderBytes = 100_000_000

    public let path: String
    /// Entries in data order.
    public let entries: [SafetensorsEntry]
    public let metadata: [String: String]
    public let fileSize: Int
    let base: UnsafeRawPointer?
    /// Offset of the data section in the file.
    public let dataStart: Int
    let mapped: Bool

    /// Opens and validates `path`; throws a `SafetensorsError` naming the first problem.
    public init(path: String) throws {
        self.path = path
        let fd: Int32
        let size: Int
        do { (fd, size) = try BoundedFile.openRegular(path) } catch let e as BoundedFileError {
            switch e {
            case .missing: throw SafetensorsError.io(path: path, reason: String(cString: strerror(ENOENT)))
            case .notRegularFile(_, let kind):
                throw SafetensorsError.io(path: path, reason: "is a \(kind), not a regular file")
            case .unreadable(_, let reason): throw SafetensorsError.io(path: path, reason: reason)
            case .tooLarge: throw SafetensorsError.io(path: path, reason: "too large")
            }
        }
        defer { close(fd) }
        fileSize = size
        var ptr: UnsafeRawPointer? = nil
        if size > 0 {
            let m = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
            guard let m, m != MAP_FAILED else {
                throw SafetensorsError.io(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
            }
            ptr = UnsafeRawPointer(m)
        }
        base = ptr
        mapped = ptr != nil
        do {
            let buf = UnsafeRawBufferPointer(start: ptr, count: size)
            let parsed = try SafetensorsFile.validate(buf)
            entries = parsed.entries
            metadata = parsed.metadata
            dataStart = parsed.dataStart
            var index: [[UInt8]: Int] = [:]
            index.reserveCapacity(parsed.entries.count)
            for (i, e) in parsed.entries.enumerated() { index[Array(e.name.utf8)] = i }
            self.index = index
        } catch {
            if let p = ptr { munmap(UnsafeMutableRawPointer(mutating: p), size) }
            throw error
        }
    }

    /// Validates a file image that lives for the whole process (e.g. a model compiled into the binary).
    public init(staticImage: UnsafeRawBufferPointer, name: String) throws {
        path = name
        fileSize = staticImage.count
        base = staticImage.baseAddress
        mapped = false
        let parsed = try SafetensorsFile.validate(staticImage)
        entries = parsed.entries
        metadata = parsed.metadata
        dataStart = parsed.dataStart
        var index: [[UInt8]: Int] = [:]
        for (i, e) in parsed.entries.enumerated() { index[Array(e.name.utf8)] = i }
        self.index = index
    }

    deinit { if mapped, let p = base { munmap(UnsafeMutableRawPointer(mutating: p), fileSize) } }

    /// Entries by the bytes of their names (the format compares names as bytes: two names that differ
    /// only in Unicode normalisation are two tensors).
    let index: [[UInt8]: Int]

    public func entry(_ name: String) -> SafetensorsEntry? { index[Array(name.utf8)].map { entries[$0] } }

    /// Raw bytes of a tensor (valid while this file object lives).
    public func bytes(of e: SafetensorsEntry) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base.map { $0 + dataStart + e.begin }, count: e.byteCount)
    }

    /// Loads tensor `name` as Float32 (converting F16/BF16).
    public func tensor(_ name: String) throws -> Tensor {
        guard let e = entry(name) else { throw SafetensorsError.missingTensor(name) }
        return try tensor(e)
    }

    public func tensor(_ e: SafetensorsEntry) throws -> Tensor {
        let raw = bytes(of: e)
        let n = e.shape.reduce(1, *)
        switch e.dtype {
        case .F32:
            let t = Tensor.empty(e.shape)
            if n > 0 { memcpy(t.data, raw.baseAddress!, n * 4) }  // little-endian host
            return t
        case .F16, .BF16:
            var bits = [UInt16](repeating: 0, count: n)
            if n > 0 { bits.withUnsafeMutableBytes { _ = memcpy($0.baseAddress!, raw.baseAddress!, n * 2) } }
            return bits.withUnsafeBufferPointer {
                e.dtype == .F16
                    ? HalfConversion.fromFloat16Bits($0, shape: e.shape)
                    : HalfConversion.fromBFloat16Bits($0, shape: e.shape)
            }
        default:
            throw SafetensorsError.unsupportedDType(tensor: e.name, dtype: e.dtype.rawValue)
        }
    }

    /// Every tensor, by name.
    public func tensors() throws -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for e in entries { out[e.name] = try tensor(e) }
        return out
    }

    struct Parsed {
        var entries: [SafetensorsEntry]
        var metadata: [String: String]
        var dataStart: Int
    }

    /// Validates a whole file image; the checks mirror the reference implementation.
    static func validate(_ buf: UnsafeRawBufferPointer) throws -> Parsed {
        let size = buf.count
        guard size >= 8 else { throw SafetensorsError.fileTooSmall(size: size) }
        var n: UInt64 = 0
        for k in 0..<8 { n |= UInt64(buf[k]) << (8 * UInt64(k)) }
        guard n <= UInt64(maxHeaderBytes) else {
            throw SafetensorsError.headerTooLarge(length: n, limit: maxHeaderBytes)
        }
        let (end, overflow) = Int(n).addingReportingOverflow(8)
        guard !overflow, end <= size else { throw SafetensorsError.headerOutOfBounds(length: n, fileSize: size) }
        let headerBytes = Array(buf[8..<end])
        guard String(validating: headerBytes, as: UTF8.self) != nil else { throw SafetensorsError.headerNotUTF8 }
        let json: JSONValue
        do { json = try StrictJSONParser.parse(headerBytes) } catch let e as JSONParseError {
            throw SafetensorsError.invalidJSON(e.description)
        }
        guard case .object(let fields) = json else { throw SafetensorsError.headerNotObject }
        var metadata: [String: String] = [:]
        var entries: [SafetensorsEntry] = []
        for (name, value) in fields {
            if name == "__metadata__" {
                if case .null = value { continue }  // the reference library reads a null __metadata__ as absent
                guard case .object(let m) = value else { throw SafetensorsError.invalidMetadata("is not an object") }
                for (k, v) in m {
                    guard case .string(let s) = v else {
                        throw SafetensorsError.invalidMetadata("value of \"\(k)\" is not a string")
                    }
                    metadata[k] = s
                }
                continue
            }
            entries.append(try parseEntry(name, value))
        }
        let dataSize = size - end
        entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var expected = 0
        for e in entries {
            guard e.begin == expected else {
                throw SafetensorsError.offsetsNotContiguous(tensor: e.name, expectedBegin: expected, found: e.begin)
            }
            guard e.end <= dataSize else {
                throw SafetensorsError.dataOutOfBounds(tensor: e.name, end: e.end, dataSize: dataSize)
            }
            expected = e.end
        }
        guard expected == dataSize else { throw SafetensorsError.dataSizeMismatch(expected: expected, found: dataSize) }
        return Parsed(entries: entries, metadata: metadata, dataStart: end)
    }

    static func parseEntry(_ name: String, _ value: JSONValue) throws -> SafetensorsEntry {
        guard case .object(let f) = value else {
            throw SafetensorsError.invalidEntry(tensor: name, reason: "entry is not an object")
        }
        var dtypeS: String?
        var shape: [Int]?
        var offsets: [Int]?
        for (k, v) in f {
            switch k {
            case "dtype":
                guard case .string(let s) = v else {
                    throw SafetensorsError.invalidEntry(tensor: name, reason: "dtype is not a string")
                }
                dtypeS = s
            case "shape":
                shape = try intArray(v, name, "shape")
            case "data_offsets":
                offsets = try intArray(v, name, "data_offsets")
            default:
                continue  // the reference library ignores fields it does not know
            }
        }
        guard let ds = dtypeS else { throw SafetensorsError.invalidEntry(tensor: name, reason: "missing dtype") }
        guard let sh = shape else { throw SafetensorsError.invalidEntry(tensor: name, reason: "missing shape") }
        guard let off = offsets else {
            throw SafetensorsError.invalidEntry(tensor: name, reason: "missing data_offsets")
        }
        guard let dtype = SafetensorsDType(rawValue: ds) else {
            throw SafetensorsError.unknownDType(tensor: name, dtype: ds)
        }
        guard off.count == 2 else {
            throw SafetensorsError.invalidEntry(tensor: name, reason: "data_offsets must have 2 numbers")
        }
        guard off[0] <= off[1] else {
            throw SafetensorsError.invalidEntry(tensor: name, reason: "data_offsets begin \(off[0]) > end \(off[1])")
        }
        var elements = 1
        for d in sh {
            let (p, o) = elements.multipliedReportingOverflow(by: d)
            guard !o else { throw SafetensorsError.sizeOverflow(tensor: name) }
            elements = p
        }
        let (bits, o) = elements.multipliedReportingOverflow(by: dtype.bits)
        guard !o else { throw SafetensorsError.sizeOverflow(tensor: name) }
        guard bits % 8 == 0 else { throw SafetensorsError.partialByte(tensor: name, bits: bits) }
        let bytes = bits / 8
        guard bytes == off[1] - off[0] else {
            throw SafetensorsError.sizeMismatch(tensor: name, expected: bytes, found: off[1] - off[0])
        }
        return SafetensorsEntry(name: name, dtype: dtype, shape: sh, begin: off[0], end: off[1])
    }

    static func intArray(_ v: JSONValue, _ name: String, _ field: String) throws -> [Int] {
        guard case .array(let a) = v else {
            throw SafetensorsError.invalidEntry(tensor: name, reason: "\(field) is not an array")
        }
        return try a.map {
            guard case .int(let x) = $0, x >= 0 else {
                throw SafetensorsError.invalidEntry(
                    tensor: name, reason: "\(field) holds a value that is not a non-negative integer")
            }
            return x
        }
    }
}

/// Writes tensors as safetensors, atomically.
public enum SafetensorsWriter {
    /// A tensor to write and the dtype to store it as (F32, F16 or BF16).
    public struct Item {
        public let name: String
        public let tensor: Tensor
        public let dtype: SafetensorsDType
        public init(_ name: String, _ tensor: Tensor, dtype: SafetensorsDType = .F32) {
            self.name = name
            self.tensor = tensor
            self.dtype = dtype
        }
    }

    /// The complete file image: header (space-padded to 8 bytes, as the reference writer does) + data.
    public static func encode(_ items: [Item], metadata: [String: String] = [:]) throws -> [UInt8] {
        var seen = Set<String>()
        var fields: [(String, JSONValue)] = []
        if !metadata.isEmpty {
            fields.append(
                ("__metadata__", .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        }
        var offset = 0
        var blobs: [[UInt8]] = []
        for it in items {
            guard !it.name.isEmpty, it.name != "__metadata__", !seen.contains(it.name) else {
                throw SafetensorsError.invalidName(it.name)
            }
            seen.insert(it.name)
            let blob: [UInt8]
            switch it.dtype {
            case .F32:
                let c = it.tensor.contiguousRaw()
                blob = Array(UnsafeRawBufferPointer(start: c.data, count: c.count * 4))
            case .F16:
                blob = HalfConversion.toFloat16Bits(it.tensor).withUnsafeBytes { Array($0) }
            case .BF16:
                blob = HalfConversion.toBFloat16Bits(it.tensor).withUnsafeBytes { Array($0) }
            default:
                throw SafetensorsError.unsupportedDType(tensor: it.name, dtype: it.dtype.rawValue)
            }
            fields.append(
                (
                    it.name,
                    .object([
                        ("dtype", .string(it.dtype.rawValue)),
                        ("shape", .array(it.tensor.shape.map { .int($0) })),
                        ("data_offsets", .array([.int(offset), .int(offset + blob.count)])),
                    ])
                ))
            offset += blob.count
            blobs.append(blob)
        }
        var header = Array(JSONValue.object(fields).serialized.utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        var out: [UInt8] = []
        out.reserveCapacity(8 + header.count + offset)
        let n = UInt64(header.count)
        for k in 0..<8 { out.append(UInt8(truncatingIfNeeded: n >> (8 * UInt64(k)))) }
        out += header
        for b in blobs { out += b }
        return out
    }

    public static func write(_ items: [Item], metadata: [String: String] = [:], to path: String) throws {
        try AtomicFile.write(try encode(items, metadata: metadata), to: path)
    }
}
