import Compute
import Formats
import Foundation
import TestSupport
import XCTest

final class GGUFTests: XCTestCase {
    /// A small valid file: every metadata type, a matrix, a vector and a zero-element tensor.
    func sample() -> GGUFWriter {
        var w = GGUFWriter()
        w.set("general.architecture", string: "llama")
        w.set("u8", .uint(200, type: 0))
        w.set("i8", .int(-5, type: 1))
        w.set("u16", .uint(60000, type: 2))
        w.set("i16", .int(-30000, type: 3))
        w.set("u32", uint32: 123_456)
        w.set("i32", .int(-7, type: 5))
        w.set("f32", float32: 1.5)
        w.set("b", bool: true)
        w.set("u64", .uint(1 << 40, type: 10))
        w.set("i64", .int(-(1 << 40), type: 11))
        w.set("f64", .float(2.25, type: 12))
        w.set("names", strings: ["a", "ünï", ""])
        w.set("ints", int32s: [1, -2, 3])
        w.add("m", Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6]))
        w.add("v", Tensor(shape: [4], data: [0.5, -1, 2, 8]), as: .f16)
        w.add("empty", dimensions: [0, 3], type: .f32, bytes: [])
        return w
    }

    func write(_ bytes: [UInt8]) throws -> String {
        let path = try temporaryDirectory("gguf") + "/m.gguf"
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    func testRoundTripEveryValueType() throws {
        let f = try GGUFFile(path: try write(sample().serialize()))
        XCTAssertEqual(f.version, 3)
        XCTAssertEqual(try f.string("general.architecture"), "llama")
        XCTAssertEqual(f.metadata["u8"], .uint(200, type: 0))
        XCTAssertEqual(f.metadata["i8"], .int(-5, type: 1))
        XCTAssertEqual(f.metadata["u16"], .uint(60000, type: 2))
        XCTAssertEqual(f.metadata["i16"], .int(-30000, type: 3))
        XCTAssertEqual(try f.integer("u32"), 123_456)
        XCTAssertEqual(try f.integer("i32"), -7)
        XCTAssertEqual(try f.number("f32"), 1.5)
        XCTAssertEqual(try f.optionalBool("b"), true)
        XCTAssertEqual(try f.integer("u64"), 1 << 40)
        XCTAssertEqual(try f.integer("i64"), -(1 << 40))
        XCTAssertEqual(try f.number("f64"), 2.25)
        XCTAssertEqual(try f.stringArray("names"), ["a", "ünï", ""])
        XCTAssertEqual(try f.numberArray("ints", integerOnly: true), [1, -2, 3])
        XCTAssertEqual(f.keys.first, "general.architecture")
        let m = try XCTUnwrap(f.tensor("m"))
        XCTAssertEqual(m.dimensions, [3, 2])
        XCTAssertEqual(m.shape, [2, 3])
        XCTAssertEqual(f.data(m).assumingMemoryBound(to: Float.self)[4], 5)
        let v = try XCTUnwrap(f.tensor("v"))
        XCTAssertEqual(v.type, .f16)
        let q = QuantizedMatrix(type: .f16, rows: 1, cols: 4, data: f.data(v), owner: f)
        XCTAssertEqual(q.dequantized().toArray(), [0.5, -1, 2, 8])
        XCTAssertEqual(f.tensor("empty")?.elementCount, 0, "a zero-element tensor is accepted")
        XCTAssertEqual(f.dataOffset % 32, 0)
        // Wrong-type access is a typed error naming the key.
        XCTAssertThrowsError(try f.string("u32")) {
            XCTAssertEqual($0 as? GGUFError, .wrongValueType(key: "u32", expected: "string", found: "uint32"))
        }
        XCTAssertThrowsError(try f.integer("nope")) { XCTAssertEqual($0 as? GGUFError, .missingKey("nope")) }
    }

    // MARK: malformed files

    /// Little-endian builders for hand-made headers.
    struct Bytes {
        var b: [UInt8] = []
        mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
        mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
        mutating func str(_ s: String) {
            u64(UInt64(s.utf8.count))
            b += Array(s.utf8)
        }
        mutating func header(tensors: UInt64, kvs: UInt64, version: UInt32 = 3) {
            u32(0x4655_4747)
            u32(version)
            u64(tensors)
            u64(kvs)
        }
        mutating func pad(_ n: Int) { b += [UInt8](repeating: 0, count: n) }
    }

    /// One tensor info (name, dims, type, offset) after a header with no metadata.
    func oneTensor(_ name: String, dims: [UInt64], type: UInt32, offset: UInt64 = 0, data: Int = 64) -> [UInt8] {
        var x = Bytes()
        x.header(tensors: 1, kvs: 0)
        x.str(name)
        x.u32(UInt32(dims.count))
        for d in dims { x.u64(d) }
        x.u32(type)
        x.u64(offset)
        while x.b.count % 32 != 0 { x.b.append(0) }
        x.pad(data)
        return x.b
    }

    func error(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) throws -> GGUFError? {
        let path = try write(bytes)
        do {
            _ = try GGUFFile(path: path)
            XCTFail("accepted a malformed file", file: file, line: line)
            return nil
        } catch let e as GGUFError {
            return e
        }
    }

    func testMalformedFilesEachGiveTheirOwnError() throws {
        var cases: [(String, [UInt8])] = []
        cases.append(("too small", [0x47, 0x47, 0x55, 0x46]))
        var x = Bytes()
        x.u32(0x1234_5678)
        x.pad(20)
        cases.append(("bad magic", x.b))
        x = Bytes()
        x.header(tensors: 0, kvs: 0, version: 1)
        cases.append(("version 1", x.b))
        x = Bytes()
        x.header(tensors: 0, kvs: 1 << 60)
        cases.append(("metadata count", x.b))
        x = Bytes()
        x.header(tensors: 0, kvs: 1)
        x.u64(1 << 50)
        x.pad(16)
        cases.append(("key length past the end", x.b))
        x = Bytes()
        x.header(tensors: 0, kvs: 1)
        x.u64(2)
        x.b += [0xFF, 0xFE]
        x.u32(4)
        x.u32(1)
        cases.append(("key not UTF-8", x.b))
        x = Bytes()
        x.header(tensors: 0, kvs: 1)
        x.str("")
        x.u32(4)
        x.u32(1)
        cases.append(("empty key", x.b))
        x = Bytes()
        x.header(tensors: 0, kvs: 1)
        x.str("k")
        x.u32(99)
        x.u32(1)
        cases.append(("unknown value type", x.b))
        x = Bytes()
        x.header(tensors: 0, kvs: 1)
        x.str("k")
        x.u32(9)
        x.u32(9)
        x.u64(1)
        x.pad(16)
        cases.append(("nested array", x.b))
        x = Bytes()
        x.header(tensors: 0, kvs: 1)
        x.str("k")
        x.u32(9)
        x.u32(4)
        x.u64(1 << 40)
        x.pad(16)
        cases.append(("array too long", x.b))
        x = Bytes()
        x.header(tensors: 0, kvs: 2)
        for _ in 0..<2 {
            x.str("k")
            x.u32(4)
            x.u32(1)
        }
        cases.append(("duplicate key", x.b))
        x = Bytes()
        x.header(tensors: 0, kvs: 1)
        x.str("general.alignment")
        x.u32(4)
        x.u32(24)
        cases.append(("alignment not a power of two", x.b))
        x = Bytes()
        x.header(tensors: 0, kvs: 1)
        x.str("general.alignment")
        x.u32(8)
        x.str("32")
        cases.append(("alignment of the wrong type", x.b))
        cases.append(("five dimensions", oneTensor("t", dims: [1, 1, 1, 1, 1], type: 0)))
        cases.append(("name too long", oneTensor(String(repeating: "n", count: 64), dims: [4], type: 0)))
        cases.append(("unknown tensor type", oneTensor("t", dims: [32], type: 77)))
        cases.append(("row not a block multiple", oneTensor("t", dims: [33], type: 2)))
        cases.append(("size overflow", oneTensor("t", dims: [1 << 40, 1 << 40], type: 0)))
        cases.append(("misaligned offset", oneTensor("t", dims: [4], type: 0, offset: 4)))
        cases.append(("data past the end", oneTensor("t", dims: [64], type: 0, data: 64)))
        x = Bytes()
        x.header(tensors: 2, kvs: 0)
        for name in ["a", "a"] {
            x.str(name)
            x.u32(1)
            x.u64(4)
            x.u32(0)
            x.u64(0)
        }
        x.pad(64)
        cases.append(("duplicate tensor", x.b))
        x = Bytes()
        x.header(tensors: 2, kvs: 0)
        for name in ["a", "b"] {
            x.str(name)
            x.u32(1)
            x.u64(16)
            x.u32(0)
            x.u64(name == "a" ? 0 : 32)
        }
        while x.b.count % 32 != 0 { x.b.append(0) }
        x.pad(128)
        cases.append(("overlapping tensors", x.b))
        x = Bytes()
        x.header(tensors: 0, kvs: 1)
        x.str("k")
        x.u32(10)
        x.u32(1)
        cases.append(("truncated value", x.b))
        var kinds: [String: String] = [:]
        for (label, bytes) in cases {
            guard let e = try error(bytes) else { continue }
            // The case name (without its associated values) must be new for every malformed file.
            let kind = Mirror(reflecting: e).children.first?.label ?? "\(e)"
            XCTAssertFalse(e.description.isEmpty)
            if let other = kinds[kind] {
                XCTFail("\(label) and \(other) give the same error kind \(kind): \(e)")
            }
            kinds[kind] = label
        }
        XCTAssertGreaterThanOrEqual(kinds.count, 20, "distinct errors: \(kinds.keys.sorted())")
    }

    /// Malformed files whose error kind repeats one of the cases above (other fields).
    func testMoreMalformedFilesAreRefused() throws {
        var cases: [[UInt8]] = []
        var x = Bytes()
        x.header(tensors: 1 << 60, kvs: 0)
        cases.append(x.b)
        x = Bytes()
        x.header(tensors: 0, kvs: 1)
        x.str("b")
        x.u32(7)
        x.b.append(2)
        x.pad(8)
        cases.append(x.b)
        cases.append(oneTensor("t", dims: [256], type: 15))
        for b in cases {
            XCTAssertNotNil(try error(b))
        }
    }

    func testErrorsNameTheFieldAndNumbers() throws {
        let e = try error(oneTensor("blk.0.w", dims: [33], type: 2))
        XCTAssertEqual(e, .rowNotBlockMultiple(tensor: "blk.0.w", rowLength: 33, blockSize: 32))
        XCTAssertTrue(e!.description.contains("blk.0.w") && e!.description.contains("33"))
        var x = Bytes()
        x.header(tensors: 0, kvs: 1)
        x.str("k")
        x.u32(8)
        x.u64(1 << 40)
        let s = try error(x.b)
        XCTAssertEqual(s, .stringTooLong(field: "k", offset: 37, length: 1 << 40, remaining: 0))
    }

    /// Every truncation of a valid file is refused with a typed error (no crash, no hang).
    func testEveryTruncationIsRefused() throws {
        let full = sample().serialize()
        let dir = try temporaryDirectory("gguf-trunc")
        let path = dir + "/t.gguf"
        var n = 0
        for cut in stride(from: 0, to: full.count - 1, by: 3) {
            FileManager.default.createFile(atPath: path, contents: Data(full.prefix(cut)))
            XCTAssertThrowsError(try GGUFFile(path: path), "cut at \(cut)") { XCTAssertTrue($0 is GGUFError) }
            n += 1
        }
        XCTAssertGreaterThan(n, 50)
    }

    /// Random byte flips in a valid file: parsing either succeeds or throws a GGUFError.
    func testByteFlipsNeverCrash() throws {
        let full = sample().serialize()
        let path = try temporaryDirectory("gguf-flip") + "/f.gguf"
        var rng = SeededGenerator(seed: 201)
        var refused = 0
        for _ in 0..<400 {
            var b = full
            for _ in 0..<3 {
                let i = Int.random(in: 0..<b.count, using: &rng)
                b[i] = UInt8.random(in: 0...255, using: &rng)
            }
            FileManager.default.createFile(atPath: path, contents: Data(b))
            do { _ = try GGUFFile(path: path) } catch is GGUFError { refused += 1 }
        }
        XCTAssertGreaterThan(refused, 0)
    }

    func testDirectoryAndMissingFileAreIOErrors() throws {
        let dir = try temporaryDirectory("gguf-io")
        XCTAssertThrowsError(try GGUFFile(path: dir)) {
            guard case .io = $0 as? GGUFError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try GGUFFile(path: dir + "/none.gguf")) {
            guard case .io = $0 as? GGUFError else { return XCTFail("\($0)") }
        }
    }
}

final class SHA256Tests: XCTestCase {
    func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }

    func testKnownDigests() throws {
        var s = SHA256()
        s.update(Array("abc".utf8))
        XCTAssertEqual(hex(s.finalize()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        s = SHA256()
        XCTAssertEqual(hex(s.finalize()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        // A million 'a's in uneven pieces (buffering across block boundaries) to a file, read back.
        let path = try temporaryDirectory("sha") + "/a"
        FileManager.default.createFile(atPath: path, contents: Data(repeating: 0x61, count: 1_000_000))
        XCTAssertEqual(try SHA256.hex(ofFile: path), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        s = SHA256()
        var left = 1_000_000
        var piece = 1
        while left > 0 {
            let n = min(piece, left)
            s.update([UInt8](repeating: 0x61, count: n))
            left -= n
            piece = piece * 3 % 1000 + 1
        }
        XCTAssertEqual(hex(s.finalize()), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}
