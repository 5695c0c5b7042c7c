import Compute
import Formats
import Foundation
import XCTest

final class SafetensorsTests: XCTestCase {
    var dir: String!

    override func setUp() {
        dir = NSTemporaryDirectory() + "orrery-st-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() {
        chmod(dir, 0o755)
        try? FileManager.default.removeItem(atPath: dir)
    }

    func testRoundTripF32F16BF16AndMetadata() throws {
        let a = Tensor(shape: [2, 3], data: [1, -2, 3.5, 0, 1e-3, 65504])
        let b = Tensor(shape: [4], data: [0.1, 0.2, -0.3, 8])
        let empty = Tensor.zeros([0, 5])
        let path = dir + "/m.safetensors"
        try SafetensorsWriter.write(
            [
                .init("a", a), .init("b.half", b, dtype: .F16), .init("b.bf", b, dtype: .BF16),
                .init("empty", empty), .init("scalar", Tensor.scalar(7)),
            ],
            metadata: ["format": "pt", "note": "ünïcode ✓"], to: path)
        let f = try SafetensorsFile(path: path)
        XCTAssertEqual(f.metadata, ["format": "pt", "note": "ünïcode ✓"])
        XCTAssertEqual(f.entries.map(\.name), ["a", "b.half", "b.bf", "empty", "scalar"])
        XCTAssertEqual(try f.tensor("a").toArray(), a.toArray())
        XCTAssertEqual(try f.tensor("a").shape, [2, 3])
        let half = try f.tensor("b.half").toArray()
        let bf = try f.tensor("b.bf").toArray()
        for i in 0..<4 {
            XCTAssertEqual(half[i], b.toArray()[i], accuracy: abs(b.toArray()[i]) * 1e-3)
            XCTAssertEqual(bf[i], b.toArray()[i], accuracy: abs(b.toArray()[i]) * 8e-3)
        }
        XCTAssertEqual(try f.tensor("empty").shape, [0, 5])
        XCTAssertEqual(try f.tensor("scalar").shape, [])
        XCTAssertEqual(try f.tensor("scalar").item(), 7)
        XCTAssertThrowsError(try f.tensor("missing")) {
            XCTAssertEqual($0 as? SafetensorsError, .missingTensor("missing"))
        }
        // Header is padded to a multiple of 8 with spaces, as the reference writer does.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let n = bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        XCTAssertEqual(n % 8, 0)
    }

    /// A file laid out byte by byte from the format description, as the Python library writes it.
    func testHandMadeFixtureFromTheSpec() throws {
        let header =
            #"{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"h":{"dtype":"F16","shape":[2],"data_offsets":[16,20]}}"#
        var h = Array(header.utf8)
        while h.count % 8 != 0 { h.append(0x20) }
        var file: [UInt8] = []
        withUnsafeBytes(of: UInt64(h.count).littleEndian) { file += $0 }
        file += h
        for v: Float in [1, 2, 3, 4] { withUnsafeBytes(of: v.bitPattern.littleEndian) { file += $0 } }
        file += [0x00, 0x3C, 0x00, 0xC0]  // f16 1.0, -2.0
        let path = dir + "/fixture.safetensors"
        _ = FileManager.default.createFile(atPath: path, contents: Data(file))
        let f = try SafetensorsFile(path: path)
        XCTAssertEqual(try f.tensor("w").toArray(), [1, 2, 3, 4])
        XCTAssertEqual(try f.tensor("h").toArray(), [1, -2])
        XCTAssertEqual(f.metadata["format"], "pt")
        // And what Orrery writes for the same tensors is read back identically.
        let out = dir + "/ours.safetensors"
        try SafetensorsWriter.write(
            [.init("w", try f.tensor("w")), .init("h", try f.tensor("h"), dtype: .F16)],
            metadata: ["format": "pt"], to: out)
        let g = try SafetensorsFile(path: out)
        XCTAssertEqual(g.entries.map(\.dtype), [.F32, .F16])
        XCTAssertEqual(Array(g.bytes(of: g.entry("h")!)), [0x00, 0x3C, 0x00, 0xC0])
    }

    func file(header: String, data: [UInt8] = [], lengthOverride: UInt64? = nil, name: String = "bad") -> String {
        var bytes: [UInt8] = []
        withUnsafeBytes(of: (lengthOverride ?? UInt64(header.utf8.count)).littleEndian) { bytes += $0 }
        bytes += Array(header.utf8) + data
        let path = dir + "/\(name).safetensors"
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    func assertRejects(
        _ path: String, _ expected: (SafetensorsError) -> Bool, _ what: String,
        line: UInt = #line
    ) {
        XCTAssertThrowsError(try SafetensorsFile(path: path), what, line: line) { e in
            guard let se = e as? SafetensorsError else {
                return XCTFail("\(what): not a SafetensorsError: \(e)", line: line)
            }
            XCTAssertTrue(expected(se), "\(what): got \(se)", line: line)
            XCTAssertFalse(se.description.isEmpty)
        }
    }

    func testMalformedFilesAreRejectedEachWithItsOwnError() {
        let ok = #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        let eight = [UInt8](repeating: 0, count: 8)
        let tiny = dir + "/tiny.safetensors"
        _ = FileManager.default.createFile(atPath: tiny, contents: Data([1, 2, 3]))
        assertRejects(tiny, { if case .fileTooSmall(3) = $0 { true } else { false } }, "shorter than the length field")
        assertRejects(
            file(header: ok, data: eight, lengthOverride: 200_000_000, name: "huge"),
            { if case .headerTooLarge(200_000_000, _) = $0 { true } else { false } }, "header length over 100 MB")
        assertRejects(
            file(header: ok, data: eight, lengthOverride: UInt64.max, name: "overflow"),
            { if case .headerTooLarge = $0 { true } else { false } }, "header length overflow")
        assertRejects(
            file(header: ok, lengthOverride: 90, name: "past"),
            { if case .headerOutOfBounds(90, _) = $0 { true } else { false } }, "header past end of file")
        var badUTF8 = file(header: "{\"\u{00E9}\":1}", name: "utf8")
        do {  // replace the é bytes by an invalid sequence
            var d = try! Data(contentsOf: URL(fileURLWithPath: badUTF8))
            d[10] = 0xFF
            badUTF8 = dir + "/utf8b.safetensors"
            _ = FileManager.default.createFile(atPath: badUTF8, contents: d)
        }
        assertRejects(badUTF8, { $0 == .headerNotUTF8 }, "header not UTF-8")
        assertRejects(
            file(header: "{\"t\": [", name: "json"), { if case .invalidJSON = $0 { true } else { false } },
            "invalid JSON")
        assertRejects(file(header: "[1,2]", name: "array"), { $0 == .headerNotObject }, "header not an object")
        assertRejects(
            file(
                header:
                    #"{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                data: eight, name: "dup"),
            { if case .invalidJSON(let r) = $0 { r.contains("duplicate key \"t\"") } else { false } }, "duplicate key")
        assertRejects(
            file(header: #"{"__metadata__":{"a":1}}"#, name: "meta"),
            { if case .invalidMetadata = $0 { true } else { false } }, "metadata value not a string")
        assertRejects(
            file(header: #"{"t":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}"#, data: eight, name: "dtype"),
            { $0 == .unknownDType(tensor: "t", dtype: "F33") }, "unknown dtype")
        assertRejects(
            file(header: #"{"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: eight, name: "size"),
            { $0 == .sizeMismatch(tensor: "t", expected: 12, found: 8) }, "shape × dtype ≠ byte length")
        assertRejects(
            file(
                header: #"{"t":{"dtype":"F64","shape":[4611686018427387904,4],"data_offsets":[0,8]}}"#, data: eight,
                name: "ovf"),
            { $0 == .sizeOverflow(tensor: "t") }, "shape product overflow")
        assertRejects(
            file(
                header:
                    #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#,
                data: [UInt8](repeating: 0, count: 12), name: "gap"),
            { $0 == .offsetsNotContiguous(tensor: "b", expectedBegin: 4, found: 8) }, "gap between tensors")
        assertRejects(
            file(
                header:
                    #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
                data: eight, name: "overlap"),
            { if case .offsetsNotContiguous = $0 { true } else { false } }, "overlapping tensors")
        assertRejects(
            file(header: ok, data: [0, 0, 0, 0], name: "short"),
            { $0 == .dataOutOfBounds(tensor: "t", end: 8, dataSize: 4) }, "data past end of file")
        assertRejects(
            file(header: ok, data: eight + [0], name: "trailing"),
            { $0 == .dataSizeMismatch(expected: 8, found: 9) }, "bytes after the last tensor")
        assertRejects(
            file(header: #"{"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, data: eight, name: "neg"),
            { if case .invalidEntry(tensor: "t", _) = $0 { true } else { false } }, "negative dimension")
        assertRejects(
            file(header: #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, data: eight, name: "rev"),
            { if case .invalidEntry(tensor: "t", _) = $0 { true } else { false } }, "begin after end")
        assertRejects(
            file(header: #"{"t":{"dtype":"F32","shape":[2]}}"#, data: eight, name: "missing"),
            { $0 == .invalidEntry(tensor: "t", reason: "missing data_offsets") }, "missing field")
        XCTAssertThrowsError(try SafetensorsFile(path: dir + "/nope.safetensors")) {
            guard case .io = $0 as? SafetensorsError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try SafetensorsFile(path: dir)) {
            guard case .io = $0 as? SafetensorsError else { return XCTFail("\($0)") }
        }
        // Loading an integer tensor as Float32 is refused with its own error.
        let ints = file(header: #"{"i":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, data: eight, name: "ints")
        let f = try! SafetensorsFile(path: ints)
        XCTAssertThrowsError(try f.tensor("i")) {
            XCTAssertEqual($0 as? SafetensorsError, .unsupportedDType(tensor: "i", dtype: "I64"))
        }
    }

    func testAtomicWriteKeepsThePreviousFileOnFailure() throws {
        let path = dir + "/model.safetensors"
        try SafetensorsWriter.write([.init("x", Tensor([1, 2]))], to: path)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        // Overwrite succeeds and replaces the content.
        try SafetensorsWriter.write([.init("x", Tensor([3, 4, 5]))], to: path)
        XCTAssertEqual(try SafetensorsFile(path: path).tensor("x").toArray(), [3, 4, 5])
        // A read-only directory: the write fails, the file is intact, no temp file remains.
        let now = try Data(contentsOf: URL(fileURLWithPath: path))
        XCTAssertNotEqual(now, before)
        if getuid() != 0 {  // root ignores directory permissions
            chmod(dir, 0o555)
            XCTAssertThrowsError(try SafetensorsWriter.write([.init("x", Tensor([9]))], to: path))
            chmod(dir, 0o755)
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), now)
        }
        // A directory that does not exist: a clear error naming the path.
        XCTAssertThrowsError(
            try SafetensorsWriter.write([.init("x", Tensor([9]))], to: dir + "/no/such/dir/m.safetensors")
        ) {
            XCTAssertTrue("\($0)".contains("no/such/dir"))
        }
        // A full disk, simulated by a file-size limit (writes fail with EFBIG part-way through).
        signal(SIGXFSZ, SIG_IGN)
        var old = rlimit()
        getrlimit(Int32(RLIMIT_FSIZE.rawValue), &old)
        var small = old
        small.rlim_cur = 4096
        setrlimit(Int32(RLIMIT_FSIZE.rawValue), &small)
        XCTAssertThrowsError(try SafetensorsWriter.write([.init("x", Tensor.zeros([10_000]))], to: path)) {
            XCTAssertTrue("\($0)".contains("write failed"), "\($0)")
        }
        setrlimit(Int32(RLIMIT_FSIZE.rawValue), &old)
        XCTAssertEqual(
            try Data(contentsOf: URL(fileURLWithPath: path)), now, "previous file intact after a failed write")
        // Never replaces something that is not a regular file.
        XCTAssertThrowsError(try AtomicFile.write([1], to: dir)) {
            XCTAssertTrue("\($0)".contains("not a regular file"))
        }
        // Duplicate names are refused before anything is written.
        XCTAssertThrowsError(try SafetensorsWriter.write([.init("x", Tensor([1])), .init("x", Tensor([2]))], to: path))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), now)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [], "no temp file left behind")
    }

    func testStrictJSON() throws {
        XCTAssertEqual(
            try StrictJSONParser.parse(Array(#"{"a":[1,2.5,"x\u00e9\ud83d\ude00",true,null]}"#.utf8)),
            .object([("a", .array([.int(1), .number(2.5), .string("xé😀"), .bool(true), .null]))]))
        for bad in [
            #"{"a":1,}"#, #"{"a" 1}"#, "[01]", #""\ud800""#, "{} x", "[1e]", #"{"a":1,"a":2}"#,
            String(repeating: "[", count: 100) + String(repeating: "]", count: 100),
        ] {
            XCTAssertThrowsError(try StrictJSONParser.parse(Array(bad.utf8)), bad)
        }
    }
}
