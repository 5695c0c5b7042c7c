import Compute
import Formats
import Foundation
import Labs
import Models
import XCTest

final class SessionDirectoryTests: XCTestCase {
    var dir: String!
    override func setUp() {
        dir = NSTemporaryDirectory() + "orrery-sessiondir-\(UUID().uuidString)"
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    func testACommitIsWholeOrNothing() throws {
        try SessionDirectory.commit([("a.txt", Array("one".utf8)), ("b.txt", Array("1".utf8))], step: 1, to: dir)
        let first = try SessionDirectory.current(dir)
        XCTAssertEqual(read(first + "/a.txt"), "one")
        // A save that fails part-way (its second file cannot be created): nothing of it is visible.
        XCTAssertThrowsError(
            try SessionDirectory.commit([("a.txt", Array("two".utf8)), ("no/such/b.txt", [])], step: 2, to: dir)
        ) { e in
            guard case .writeFailed = e as? CheckpointError else { return XCTFail("\(e)") }
        }
        XCTAssertEqual(try SessionDirectory.current(dir), first)
        XCTAssertEqual(read(first + "/a.txt"), "one")
        // Leftovers of a killed save (a .partial folder) are ignored when reading and removed by the next save.
        try FileManager.default.createDirectory(
            atPath: dir + "/.partial-step-00000003-1", withIntermediateDirectories: true)
        XCTAssertEqual(try SessionDirectory.current(dir), first)
        try SessionDirectory.commit([("a.txt", Array("three".utf8))], step: 3, to: dir)
        let third = try SessionDirectory.current(dir)
        XCTAssertEqual(read(third + "/a.txt"), "three")
        let items = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        XCTAssertEqual(items, [".lock", "CURRENT", "step-00000003"])
        // Saving the same step again makes a new snapshot and removes the old one.
        try SessionDirectory.commit([("a.txt", Array("again".utf8))], step: 3, to: dir)
        XCTAssertEqual(read(try SessionDirectory.current(dir) + "/a.txt"), "again")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).count, 3)
        // A second writer is refused while one holds the directory.
        let lock = try SessionDirectory.lock(dir)
        let other = Process()
        other.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        other.arguments = ["-n", dir + "/.lock", "true"]
        try other.run()
        other.waitUntilExit()
        XCTAssertNotEqual(other.terminationStatus, 0, "the lock is held")
        withExtendedLifetime(lock) {}
    }

    func testPointerIsValidatedAndFlatLayoutIsRead() throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        XCTAssertThrowsError(try SessionDirectory.current(dir)) {
            XCTAssertEqual($0 as? CheckpointError, .notASession(dir: dir))
        }
        try "{}".write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        XCTAssertEqual(try SessionDirectory.current(dir), dir, "flat layout (the shipped models)")
        for bad in ["../../etc", "step-1/../..", "/tmp", "step-", "step-1-2-3", ""] {
            try bad.write(toFile: dir + "/CURRENT", atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try SessionDirectory.current(dir), bad) { e in
                guard case .malformed(_, "CURRENT", _) = e as? CheckpointError else { return XCTFail("\(bad): \(e)") }
            }
        }
        try "step-00000009".write(toFile: dir + "/CURRENT", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try SessionDirectory.current(dir)) { e in
            guard case .malformed(_, "CURRENT", let why) = e as? CheckpointError, why.contains("missing") else {
                return XCTFail("\(e)")
            }
        }
    }

    func testPrepareNewRefusesWhatItWouldDestroy() throws {
        try SessionDirectory.prepareNew(dir, replace: false)
        try SessionDirectory.commit([("config.json", Array("{}".utf8))], step: 0, to: dir)
        XCTAssertThrowsError(try SessionDirectory.prepareNew(dir, replace: false)) {
            XCTAssertEqual($0 as? CheckpointError, .alreadyExists(dir: dir))
        }
        XCTAssertNoThrow(try SessionDirectory.prepareNew(dir, replace: true))
        let other = dir + "-other"
        defer { try? FileManager.default.removeItem(atPath: other) }
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        try "x".write(toFile: other + "/notes.txt", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try SessionDirectory.prepareNew(other, replace: true)) {
            XCTAssertEqual($0 as? CheckpointError, .notEmpty(dir: other))
        }
        XCTAssertThrowsError(try SessionDirectory.prepareNew(other + "/notes.txt", replace: true)) {
            XCTAssertEqual($0 as? CheckpointError, .notADirectory(dir: other + "/notes.txt"))
        }
    }

    func testNegativeSecondMomentsAreRefusedOnResume() throws {
        var c = LMConfig()
        c.corpusDocuments = 200
        c.layers = 1
        c.width = 16
        c.heads = 2
        c.context = 16
        c.batch = 2
        c.steps = 4
        c.evalEvery = 0
        let s = try LanguageSession(config: c, directory: dir)
        s.trainStep()
        try s.save()
        let path = try SessionDirectory.current(dir) + "/optimizer.safetensors"
        let f = try SafetensorsFile(path: path)
        let items = try f.entries.map { e -> SafetensorsWriter.Item in
            let t = try f.tensor(e)
            return .init(e.name, e.name.hasPrefix("v.") ? Tensor(shape: t.shape, data: t.toArray().map { _ in -1 }) : t)
        }
        try SafetensorsWriter.write(items, metadata: f.metadata, to: path)
        XCTAssertThrowsError(try LanguageSessionDirectory.resume(dir)) { e in
            guard case .malformed(_, "optimizer.safetensors", let why) = e as? CheckpointError, why.contains("negative")
            else {
                return XCTFail("\(e)")
            }
        }
    }

    func testParameterCountMatchesTheBuiltModels() {
        for kind in LMConfig.ModelKind.allCases {
            var c = LMConfig()
            c.model = kind
            c.layers = 2
            c.width = 48
            c.heads = 4
            c.kvHeads = kind == .gpt ? 2 : nil
            let model = LanguageSession.makeModel(c, vocab: 77)
            XCTAssertEqual(ModelBudget.parameterCount(c, vocab: 77), model.parameterCount, "\(kind)")
        }
        var huge = LMConfig()
        huge.layers = 64
        huge.width = 4096
        huge.heads = 32
        XCTAssertThrowsError(try ModelBudget.check(huge, vocab: 300, training: false, available: 24e9)) { e in
            XCTAssertTrue("\(e)".contains("GB"), "\(e)")
        }
        XCTAssertNoThrow(try ModelBudget.check(LMConfig(), vocab: 300, training: true, available: 24e9))
    }

    func testEmptyStopStringsAreIgnoredAndNonFiniteLogitsStopGeneration() throws {
        var c = LMConfig()
        c.layers = 1
        c.width = 16
        c.heads = 2
        c.context = 16
        let model = LanguageSession.makeModel(c, vocab: 300)
        let tok = CharTokenizer(chars: Array("abcdefghijklmnopqrstuvwxyz ".unicodeScalars))
        var o = SamplingOptions()
        o.temperature = 0
        o.maxTokens = 40
        let plain = TextGenerator(model: model, tokenizer: tok, prompt: tok.encode("ab"), options: o).run()
        o.stop = [""]
        let withEmpty = TextGenerator(model: model, tokenizer: tok, prompt: tok.encode("ab"), options: o).run()
        XCTAssertEqual(withEmpty, plain)
        model.parameters[0].assign(
            Tensor(
                shape: model.parameters[0].shape,
                data: [Float](repeating: .nan, count: model.parameters[0].count)))
        let gen = TextGenerator(model: model, tokenizer: tok, prompt: tok.encode("ab"), options: o)
        XCTAssertEqual(gen.run(), "")
        XCTAssertNotNil(gen.failure)
    }

    func testTokenizerFilesAreValidated() throws {
        XCTAssertThrowsError(try TokenizerFile.load(["type": "char", "chars": [97, -1]]))
        XCTAssertThrowsError(try TokenizerFile.load(["type": "char", "chars": [97, 97]]))
        XCTAssertThrowsError(try TokenizerFile.load(["type": "char", "chars": [0xD800]]))
        var merges = [[97, 97]]
        for i in 0..<12 { merges.append([256 + i, 256 + i]) }  // 2^13 bytes
        XCTAssertThrowsError(try TokenizerFile.load(["type": "bpe", "merges": merges])) { e in
            XCTAssertTrue("\(e)".contains("longer than \(ByteBPE.maxTokenBytes) bytes"), "\(e)")
        }
        XCTAssertThrowsError(try TokenizerFile.load(["type": "bpe", "merges": [[97, 98], [97, 98]]]))
        // Training never makes a token the loader would refuse, even from one endless word.
        let bpe = try ByteBPE.train(Array(String(repeating: "a", count: 5000).utf8), vocabSize: 300)
        XCTAssertNoThrow(try TokenizerFile.load(bpe.json()))
        XCTAssertEqual(bpe.decode(bpe.encode(Array("aaaa".utf8))), Array("aaaa".utf8))
    }
}
