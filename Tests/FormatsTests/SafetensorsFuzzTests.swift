// Hostile safetensors files, generated: deterministic mutations of valid files (bit flips, byte
// stamps, truncations, extensions, extreme length fields, JSON-level substitutions). Every case must
// end in a typed SafetensorsError or a file whose entries tile the data section exactly — within a
// time and allocation bound. Also: the cases where the reference library's verdict differs from a
// naive reading (names as bytes, sub-byte dtypes, unknown fields, null metadata, "-0").
import Compute
import Formats
import Foundation
import XCTest

final class SafetensorsFuzzTests: XCTestCase {
    var dir: String!
    override func setUp() {
        dir = NSTemporaryDirectory() + "orrery-stfuzz-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func image(_ header: String, data: [UInt8]) -> [UInt8] {
        var b: [UInt8] = []
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { b += $0 }
        return b + Array(header.utf8) + data
    }

    func open(_ bytes: [UInt8], name: String = "f") throws -> SafetensorsFile {
        let path = dir + "/\(name).safetensors"
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return try SafetensorsFile(path: path)
    }

    /// Valid seeds: several dtypes, metadata, a zero-element tensor.
    func seeds() throws -> [[UInt8]] {
        var rng = RNG(seed: 7)
        let a = Tensor.randn([3, 5], rng: &rng)
        let b = Tensor.randn([7], rng: &rng)
        let z = Tensor.zeros([0, 4])
        let one = try SafetensorsWriter.encode(
            [
                .init("w", a), .init("b", b, dtype: .F16), .init("empty", z),
                .init("h", a, dtype: .BF16),
            ], metadata: ["format": "pt", "step": "3"])
        let two = try SafetensorsWriter.encode([.init("layer.0.weight", Tensor.randn([16, 16], rng: &rng))])
        let three = image(
            #"{"__metadata__":{"k":"v"},"a":{"dtype":"U8","shape":[2,3],"data_offsets":[0,6]},"#
                + #""b":{"dtype":"I64","shape":[1],"data_offsets":[6,14]}}"#, data: [UInt8](repeating: 9, count: 14))
        return [one, two, three]
    }

    func mutate(_ seed: [UInt8], _ rng: inout RNG) -> [UInt8] {
        var b = seed
        let headerEnd = min(b.count, 8 + Int(b[0]) + Int(b[1]) << 8)
        func position(headerBiased: Bool) -> Int {
            headerBiased && headerEnd > 8 ? 8 + rng.int(below: headerEnd - 8) : rng.int(below: b.count)
        }
        switch rng.int(below: 9) {
        case 0:  // flip bits
            for _ in 0...rng.int(below: 4) {
                let i = position(headerBiased: rng.int(below: 4) > 0)
                b[i] ^= UInt8(1 << rng.int(below: 8))
            }
        case 1:  // stamp a structural byte
            let stamps: [UInt8] = Array("\"{}[],:-09e.\\".utf8) + [0, 0xFF, 0x80, 0xC0]
            b[position(headerBiased: true)] = stamps[rng.int(below: stamps.count)]
        case 2:  // truncate
            b = Array(b.prefix(rng.int(below: b.count)))
        case 3:  // extend
            b += (0..<(1 + rng.int(below: 64))).map { _ in UInt8(truncatingIfNeeded: rng.next32()) }
        case 4:  // the length field at an extreme
            let n = UInt64(headerEnd - 8)
            let values: [UInt64] = [
                0, 1, 2, n - 1, n + 1, n + 8, UInt64(b.count), UInt64(Int.max), UInt64.max, 1 << 40,
            ]
            withUnsafeBytes(of: values[rng.int(below: values.count)].littleEndian) { raw in
                for k in 0..<8 { b[k] = raw[k] }
            }
        default:  // replace a number or a string of the header with an extreme
            let header = String(decoding: b[8..<headerEnd], as: UTF8.self)
            let numbers = [
                "-1", "-0", "0", "1e400", "1.5", "18446744073709551616", "9223372036854775807",
                "4611686018427387904", "99999999999", "null", "[]", "{}", "\"x\"", "true",
            ]
            let dtypes = SafetensorsDType.allCases.map { "\"\($0.rawValue)\"" } + ["\"F33\"", "\"\"", "\"f32\""]
            var scalars = Array(header.unicodeScalars)
            let digitRuns = scalars.indices.filter {
                scalars[$0].properties.numericType != nil
                    && ($0 == 0 || scalars[$0 - 1].properties.numericType == nil)
            }
            if rng.int(below: 2) == 0, let start = digitRuns.isEmpty ? nil : digitRuns[rng.int(below: digitRuns.count)]
            {
                var end = start
                while end < scalars.count, scalars[end].properties.numericType != nil { end += 1 }
                scalars.replaceSubrange(start..<end, with: numbers[rng.int(below: numbers.count)].unicodeScalars)
            } else if let r = header.range(of: "\"F32\"") ?? header.range(of: "\"F16\"") ?? header.range(of: "\"U8\"") {
                let replaced = header.replacingCharacters(in: r, with: dtypes[rng.int(below: dtypes.count)])
                scalars = Array(replaced.unicodeScalars)
            }
            var text = ""
            text.unicodeScalars.append(contentsOf: scalars)
            var h = Array(text.utf8)
            // Sometimes the first half twice.
            if rng.int(below: 3) == 0 { h = Array(h.prefix(h.count / 2)) + Array(h.prefix(h.count / 2)) }
            var out: [UInt8] = []
            withUnsafeBytes(of: UInt64(h.count).littleEndian) { out += $0 }
            b = out + h + Array(b[headerEnd...])
        }
        return b
    }

    func testMutatedFilesEndInATypedErrorOrAConsistentFile() throws {
        let seeds = try seeds()
        var rng = RNG(seed: 20_261_129)
        var accepted = 0
        var rejected = 0
        var slowest = 0.0
        let start = Date()
        for k in 0..<4000 {
            let bytes = mutate(seeds[k % seeds.count], &rng)
            MemoryStats.resetPeak()
            let base = MemoryStats.liveBytes
            let t0 = Date()
            do {
                let f = try open(bytes, name: "case")
                var expected = 0
                for e in f.entries {
                    XCTAssertEqual(e.begin, expected, "case \(k): entries tile the data")
                    expected = e.end
                    _ = try? f.tensor(e)  // unsupported dtypes throw; supported ones load
                }
                XCTAssertEqual(expected, f.fileSize - f.dataStart, "case \(k)")
                accepted += 1
            } catch is SafetensorsError {
                rejected += 1
            } catch {
                XCTFail("case \(k): untyped error \(error)")
            }
            let secs = Date().timeIntervalSince(t0)
            slowest = max(slowest, secs)
            XCTAssertLessThan(secs, 1, "case \(k) took \(secs) s")
            XCTAssertLessThanOrEqual(
                MemoryStats.peakBytes - base, 4 * bytes.count + 4096, "case \(k): allocation beyond the file")
        }
        XCTAssertGreaterThan(rejected, 1000, "the mutations reach the validator")
        XCTAssertGreaterThan(accepted, 20, "some mutations stay valid (e.g. data bytes flipped)")
        print(
            "safetensors fuzz: 4000 cases, \(accepted) accepted, \(rejected) rejected, slowest \(slowest) s, "
                + "total \(Date().timeIntervalSince(start)) s")
    }

    // MARK: agreement with the reference implementation

    func testVerdictsMatchTheReferenceLibrary() throws {
        // Names that differ only in Unicode normalisation are two tensors (names compare as bytes).
        let nfc = "caf\u{E9}"
        let nfd = "cafe\u{301}"
        let two = try open(
            image(
                "{\"\(nfc)\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                    + "\"\(nfd)\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", data: [1, 2]))
        XCTAssertEqual(two.entries.count, 2)
        XCTAssertEqual(two.entry(nfc)?.begin, 0)
        XCTAssertEqual(two.entry(nfd)?.begin, 1)
        // The dtypes of the reference's table, including packed sub-byte ones.
        for (dtype, shape, bytes) in [
            ("C64", 2, 16), ("F4", 4, 2), ("F6_E2M3", 4, 3), ("F8_E8M0", 3, 3), ("F8_E4M3FNUZ", 2, 2),
            ("F8_E5M2FNUZ", 1, 1), ("F6_E3M2", 8, 6),
        ] {
            let f = try open(
                image(
                    "{\"t\":{\"dtype\":\"\(dtype)\",\"shape\":[\(shape)],\"data_offsets\":[0,\(bytes)]}}",
                    data: [UInt8](repeating: 0, count: bytes)))
            XCTAssertEqual(f.entries.first?.dtype.rawValue, dtype)
            XCTAssertThrowsError(try f.tensor("t")) {
                XCTAssertEqual($0 as? SafetensorsError, .unsupportedDType(tensor: "t", dtype: dtype))
            }
        }
        XCTAssertThrowsError(try open(image(#"{"t":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}"#, data: [0, 0]))) {
            XCTAssertEqual($0 as? SafetensorsError, .partialByte(tensor: "t", bits: 12))
        }
        // Unknown fields in an entry are ignored; a null __metadata__ is no metadata.
        let extra = try open(
            image(
                #"{"__metadata__":null,"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"note":"x"}}"#,
                data: [0, 0, 0x80, 0x3F]))
        XCTAssertEqual(try extra.tensor("t").toArray(), [1])
        XCTAssertEqual(extra.metadata, [:])
        // "-0" is a negative number, not a dimension.
        XCTAssertThrowsError(try open(image(#"{"t":{"dtype":"F32","shape":[-0],"data_offsets":[0,0]}}"#, data: []))) {
            guard case .invalidEntry(tensor: "t", _) = $0 as? SafetensorsError else { return XCTFail("\($0)") }
        }
    }

    func testAMillionTinyTensorsOpenInReasonableTimeAndMemory() throws {
        // The format allows it; the reference library opens such a file in a few seconds.
        let n = 200_000
        var header = "{"
        header.reserveCapacity(n * 60)
        for i in 0..<n {
            header +=
                (i > 0 ? "," : "")
                + "\"t\(i)\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[\(4 * i),\(4 * i + 4)]}"
        }
        header += "}"
        let t0 = Date()
        let f = try open(image(header, data: [UInt8](repeating: 0, count: 4 * n)))
        let secs = Date().timeIntervalSince(t0)
        XCTAssertEqual(f.entries.count, n)
        XCTAssertEqual(f.entry("t\(n - 1)")?.begin, 4 * (n - 1))
        XCTAssertLessThan(secs, 10, "\(n) tensors in \(secs) s")
    }
}
