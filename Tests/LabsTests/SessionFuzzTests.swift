// Hostile session directories, tokenizer files and corpora, generated: deterministic mutations of a
// real saved session and of valid inputs. Every case must end in a typed error (CheckpointError,
// SessionError, TokenizerError, CorpusError) or a loaded model — never a crash, a hang, or an
// allocation far beyond what the files describe.
import Compute
import Formats
import Foundation
import Labs
import Models
import XCTest

final class SessionFuzzTests: XCTestCase {
    var dir: String!
    override func setUp() {
        dir = NSTemporaryDirectory() + "orrery-sessfuzz-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func baseSession(tokenizer: String) throws -> String {
        var c = LMConfig()
        c.corpusDocuments = 200
        c.layers = 1
        c.width = 16
        c.heads = 2
        c.context = 16
        c.batch = 2
        c.steps = 4
        c.evalEvery = 0
        c.tokenizer = TokenizerKind(rawValue: tokenizer) ?? .char
        c.bpeVocab = 280
        let path = dir + "/base-\(tokenizer)"
        let s = try LanguageSession(config: c, directory: path)
        s.trainStep()
        s.trainStep()
        try s.save()
        return path
    }

    func bytes(_ path: String) -> [UInt8] { (try? [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))) ?? [] }

    /// Byte-level mutations of any file.
    func mutateBytes(_ b: [UInt8], _ rng: inout RNG) -> [UInt8] {
        guard !b.isEmpty else { return [UInt8(truncatingIfNeeded: rng.next32())] }
        var b = b
        switch rng.int(below: 5) {
        case 0: for _ in 0...rng.int(below: 3) { b[rng.int(below: b.count)] ^= UInt8(1 << rng.int(below: 8)) }
        case 1: b = Array(b.prefix(rng.int(below: b.count)))
        case 2: b[rng.int(below: b.count)] = Array("\"{}[],:-0e".utf8)[rng.int(below: 10)]
        case 3: b += (0..<(1 + rng.int(below: 16))).map { _ in UInt8(truncatingIfNeeded: rng.next32()) }
        default: b = []
        }
        return b
    }

    /// JSON-level mutations: one value somewhere in the object replaced by an extreme of another kind.
    func mutateJSON(_ b: [UInt8], _ rng: inout RNG) -> [UInt8] {
        guard var obj = (try? JSONSerialization.jsonObject(with: Data(b))) as? [String: Any] else {
            return mutateBytes(b, &rng)
        }
        let extremes: [Any] = [
            -1, 0, 1, 3, -0.0, 1e30, Int.max, Int.min, Int(Int32.max), 65_537, 200_001, 4096, 8192, 0.5, 2.0,
            "bpe", "char", "", "x", NSNull(), [1, 2], [[1, 2], [3]], ["a": 1], true,
        ]
        func change(_ o: inout [String: Any], depth: Int) {
            let keys = o.keys.sorted()
            guard !keys.isEmpty else { return }
            let key = keys[rng.int(below: keys.count)]
            if depth < 2, var inner = o[key] as? [String: Any], rng.int(below: 3) > 0 {
                change(&inner, depth: depth + 1)
                o[key] = inner
            } else if var list = o[key] as? [Any], !list.isEmpty, rng.int(below: 2) == 0 {
                list[rng.int(below: list.count)] = extremes[rng.int(below: extremes.count)]
                o[key] = list
            } else {
                o[key] = rng.int(below: 8) == 0 ? nil : extremes[rng.int(below: extremes.count)]
            }
        }
        change(&obj, depth: 0)
        return (try? [UInt8](JSONSerialization.data(withJSONObject: obj))) ?? b
    }

    func testMutatedSessionDirectoriesEndInATypedError() throws {
        let bases = [try baseSession(tokenizer: "char"), try baseSession(tokenizer: "bpe")]
        let files = [
            "config.json", "tokenizer.json", "model.safetensors", "CURRENT", "optimizer.safetensors", "metrics.jsonl",
        ]
        var rng = RNG(seed: 99)
        var loaded = 0
        var rejected = 0
        let work = dir + "/case"
        let start = Date()
        for k in 0..<2000 {
            let base = bases[k % 2]
            try? FileManager.default.removeItem(atPath: work)
            try FileManager.default.copyItem(atPath: base, toPath: work)
            let snapshot = try SessionDirectory.current(work)
            let file = files[rng.int(below: files.count)]
            let path = file == "CURRENT" ? work + "/CURRENT" : snapshot + "/" + file
            let original = bytes(path)
            let mutated =
                file.hasSuffix(".json") && rng.int(below: 3) > 0
                ? mutateJSON(original, &rng) : mutateBytes(original, &rng)
            try Data(mutated).write(to: URL(fileURLWithPath: path))
            let resume = file.hasPrefix("optimizer") || file.hasPrefix("metrics")
            MemoryStats.resetPeak()
            let live = MemoryStats.liveBytes
            let t0 = Date()
            do {
                if resume {
                    _ = try LanguageSessionDirectory.resume(work)
                } else {
                    _ = try LanguageSessionDirectory.loadModel(work)
                }
                loaded += 1
            } catch is CheckpointError {
                rejected += 1
            } catch is SessionError {
                rejected += 1
            } catch {
                XCTFail("case \(k) (\(file)): untyped error \(error)")
            }
            let secs = Date().timeIntervalSince(t0)
            XCTAssertLessThan(secs, 5, "case \(k) (\(file)) took \(secs) s")
            XCTAssertLessThan(
                MemoryStats.peakBytes - live, 64 << 20,
                "case \(k) (\(file)): allocated \(MemoryStats.peakBytes - live) bytes")
        }
        XCTAssertGreaterThan(rejected, 300)
        print(
            "session fuzz: 2000 cases, \(loaded) loaded, \(rejected) rejected in \(Date().timeIntervalSince(start)) s")
    }

    func testRandomTokenizerFilesEndInATypedErrorOrRoundTrip() {
        var rng = RNG(seed: 5)
        var ok = 0
        for k in 0..<1500 {
            let obj: [String: Any]
            if rng.int(below: 2) == 0 {
                let n = rng.int(below: 40)
                let pool = [
                    -5, -1, 0, 9, 10, 65, 97, 0xD7FF, 0xD800, 0xDFFF, 0xFFFF, 0x10FFFF, 0x110000, Int.max, Int.min,
                ]
                obj = [
                    "type": "char",
                    "chars": (0..<n).map { _ in
                        rng.int(below: 3) == 0 ? pool[rng.int(below: pool.count)] : 32 + rng.int(below: 200)
                    },
                ]
            } else {
                let n = rng.int(below: 60)
                obj = [
                    "type": "bpe",
                    "merges": (0..<n).map { i in
                        rng.int(below: 10) == 0
                            ? [rng.int(below: 3) - 1]
                            : [rng.int(below: 256 + i + 2) - 1, rng.int(below: 256 + i + 2) - 1]
                    },
                ]
            }
            do {
                let tok = try TokenizerFile.load(obj)
                let text = (0..<rng.int(below: 64)).map { _ in UInt8(truncatingIfNeeded: rng.next32()) }
                XCTAssertEqual(tok.decode(tok.encode(text)), text, "case \(k): exact on any bytes")
                ok += 1
            } catch is TokenizerError {
            } catch { XCTFail("case \(k): untyped error \(error)") }
        }
        XCTAssertGreaterThan(ok, 100)
    }

    func testMutatedCorporaLoadOrFailWithACorpusError() throws {
        var rng = RNG(seed: 11)
        let seed = Array("Once upon a time, Ana found a red key. «Ça va?» — 猫が好き 😀\n".utf8)
        for k in 0..<300 {
            var b = seed
            for _ in 0..<rng.int(below: 4) { b = mutateBytes(b, &rng) }
            let path = dir + "/corpus.txt"
            try Data(b).write(to: URL(fileURLWithPath: path))
            for allowBytes in [false, true] {
                do {
                    let loaded = try CorpusLoader.load(path, allowBytes: allowBytes)
                    XCTAssertEqual(loaded, b, "case \(k)")
                    let tok = CharTokenizer(training: String(decoding: loaded, as: UTF8.self))
                    XCTAssertEqual(tok.decode(tok.encode(loaded)), loaded, "case \(k): char tokenizer round trip")
                    if loaded.count > 8 {
                        let bpe = try ByteBPE.train(loaded, vocabSize: 270)
                        XCTAssertEqual(bpe.decode(bpe.encode(loaded)), loaded, "case \(k): BPE round trip")
                    }
                } catch is CorpusError {
                    XCTAssertFalse(allowBytes && !b.isEmpty, "case \(k): byte mode accepts any non-empty file")
                } catch { XCTFail("case \(k): untyped error \(error)") }
            }
        }
    }
}
