import Compute
import Formats
import Foundation
import Labs
import Models
import XCTest

final class LanguageSessionTests: XCTestCase {
    var dir: String!
    override func setUp() {
        dir = NSTemporaryDirectory() + "orrery-lab-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func small(_ kind: LMConfig.ModelKind, steps: Int = 40) -> LMConfig {
        var c = LMConfig()
        c.model = kind
        c.corpus = "stories"
        c.corpusDocuments = 300
        c.layers = kind == .gpt ? 2 : 1
        c.width = kind == .gpt ? 32 : 48
        c.heads = 2
        c.context = 32
        c.batch = 8
        c.steps = steps
        c.warmup = 5
        c.lr = 1e-2
        c.minLR = 1e-3
        c.evalEvery = 0
        c.evalBatches = 4
        c.checkpointEvery = 5
        return c
    }

    func testGPTLSTMAndGRULossesFall() throws {
        for kind in LMConfig.ModelKind.allCases {
            let s = try LanguageSession(config: small(kind))
            let before = s.evaluate()
            while s.step < s.config.steps { s.trainStep() }
            let after = s.evaluate()
            XCTAssertLessThan(after, before * 0.75, "\(kind): validation loss \(before) → \(after)")
            XCTAssertFalse(s.history.contains { $0.skipped })
            XCTAssertFalse(s.history.last!.layerGradNorms.isEmpty)
        }
    }

    func testDropoutIsDeterministicAndOffForEvaluation() throws {
        var c = small(.gpt, steps: 6)
        c.dropout = 0.2
        let a = try LanguageSession(config: c)
        let b = try LanguageSession(config: c)
        while a.step < 6 {
            a.trainStep()
            b.trainStep()
        }
        XCTAssertEqual(a.history.map(\.loss), b.history.map(\.loss), "same seed, same dropout masks")
        var plain = c
        plain.dropout = nil
        let p = try LanguageSession(config: plain)
        p.trainStep()
        XCTAssertNotEqual(p.history[0].loss, a.history[0].loss, "dropout changes the training loss")
        XCTAssertEqual(a.evaluate(), a.evaluate(), "evaluation runs without dropout")
    }

    func testAttentionProbeAndSampleComeFromTheSession() throws {
        let s = try LanguageSession(config: small(.gpt, steps: 2))
        let (tokens, maps) = try XCTUnwrap(s.attentionProbe(length: 10))
        XCTAssertEqual(tokens.count, 10)
        XCTAssertEqual(maps.count, 2)
        XCTAssertEqual(maps[0].count, 2)
        for row in maps[1][0].indices { XCTAssertEqual(maps[1][0][row].reduce(0, +), 1, accuracy: 1e-4) }
        XCTAssertTrue(s.sampleText(maxTokens: 5).hasPrefix("Once"))
        XCTAssertNil(try LanguageSession(config: small(.gru, steps: 2)).attentionProbe(), "no attention in a GRU")
    }

    func testChatContextDropsTheOldestTurnsFirst() throws {
        let tok = CharTokenizer(training: "abcdefghijklmnopqrstuvwxyz UserBot:?.\n0123456789")
        let history = (0..<10).map { (user: "question \($0)", assistant: "answer \($0)") }
        let (tokens, kept) = ChatFormat().fit(history: history, user: "last?", tokenizer: tok, context: 90, reserve: 20)
        XCTAssertLessThanOrEqual(tokens.count + 20, 90)
        XCTAssertLessThan(kept, 10)
        let text = tok.decodeString(tokens)
        XCTAssertTrue(text.hasSuffix("User: last?\nBot: "))
        XCTAssertTrue(text.contains("question 9") && !text.contains("question 0"), text)
    }

    func testSaveThenResumeIsBitIdenticalToAnUninterruptedRun() throws {
        let c = small(.gpt, steps: 12)
        let straight = try LanguageSession(config: c)
        while straight.step < 12 { straight.trainStep() }
        let first = try LanguageSession(config: c, directory: dir)
        while first.step < 6 { first.trainStep() }
        try first.save()
        let resumed = try LanguageSessionDirectory.resume(dir)
        XCTAssertEqual(resumed.step, 6)
        while resumed.step < 12 { resumed.trainStep() }
        XCTAssertEqual(resumed.history.map(\.loss), straight.history.map(\.loss), "losses identical bit for bit")
        for (a, b) in zip(resumed.model.parameters, straight.model.parameters) {
            XCTAssertEqual(a.toArray(), b.toArray())
        }
        // The same seed and thread count reproduce a run exactly.
        let again = try LanguageSession(config: c)
        while again.step < 12 { again.trainStep() }
        XCTAssertEqual(again.history.map(\.loss), straight.history.map(\.loss))
    }

    func testCorruptedOrTruncatedCheckpointsAreRejected() throws {
        let s = try LanguageSession(config: small(.lstm, steps: 3), directory: dir)
        s.trainStep()
        try s.save()
        let snapshot = try SessionDirectory.current(dir)
        let model = snapshot + "/model.safetensors"
        let good = try Data(contentsOf: URL(fileURLWithPath: model))
        try good.prefix(good.count - 10).write(to: URL(fileURLWithPath: model))
        XCTAssertThrowsError(try LanguageSessionDirectory.resume(dir)) { e in
            guard case .malformed(_, "model.safetensors", _) = e as? CheckpointError else { return XCTFail("\(e)") }
        }
        try good.write(to: URL(fileURLWithPath: model))
        XCTAssertNoThrow(try LanguageSessionDirectory.resume(dir))
        // A config from another step than the weights (files mixed by hand: a save never does it).
        s.trainStep()
        try LanguageSessionDirectory.save(s, to: dir)
        let newSnapshot = try SessionDirectory.current(dir)
        XCTAssertNotEqual(newSnapshot, snapshot)
        XCTAssertFalse(
            FileManager.default.fileExists(atPath: snapshot),
            "the older snapshot is removed once the new one is current")
        try good.write(to: URL(fileURLWithPath: newSnapshot + "/model.safetensors"))
        XCTAssertThrowsError(try LanguageSessionDirectory.resume(dir)) { e in
            XCTAssertEqual(
                e as? CheckpointError, .stepMismatch(dir: dir, file: "model.safetensors", fileStep: "1", sessionStep: 2)
            )
        }
        try "{\"format\": 3}".write(toFile: newSnapshot + "/config.json", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try LanguageSessionDirectory.resume(dir)) { e in
            XCTAssertEqual(e as? CheckpointError, .wrongFormat(dir: dir, found: "3"))
        }
        XCTAssertThrowsError(try LanguageSessionDirectory.resume(dir + "/missing")) { e in
            XCTAssertEqual(e as? CheckpointError, .notASession(dir: dir + "/missing"))
        }
    }

    func testInjectedNaNIsSkippedThenRolledBackWithALowerLearningRate() throws {
        let s = try LanguageSession(config: small(.gpt, steps: 30))
        while s.step < 7 { s.trainStep() }  // a good snapshot at step 5
        let goodLoss = s.history[4].loss
        s.injectNaN = [7]
        let m = s.trainStep()
        XCTAssertTrue(m.skipped)
        XCTAssertEqual(s.events.last, .nonFiniteLoss(step: 7))
        XCTAssertEqual(s.lrScale, 1, "one bad step is skipped, not rolled back")
        s.injectNaN = [8, 9]  // three non-finite steps in a row: roll back
        s.trainStep()
        s.trainStep()
        XCTAssertEqual(s.events.last, .rollback(toStep: 5, lrScale: 0.5))
        XCTAssertEqual(s.step, 5)
        XCTAssertEqual(s.lrScale, 0.5)
        while s.step < 12 { s.trainStep() }
        XCTAssertTrue(s.history.suffix(5).allSatisfy { $0.loss.isFinite && !$0.skipped })
        XCTAssertTrue(goodLoss.isFinite)
    }

    func testBadCorpusFilesGiveClearErrors() throws {
        func err(_ path: String, bytes: Bool = false) -> String {
            var c = small(.gpt)
            c.corpus = .file(path)
            c.byteLevel = bytes
            do {
                _ = try LanguageSession(config: c)
                return "no error"
            } catch { return "\(error)" }
        }
        let empty = dir + "/empty.txt"
        _ = FileManager.default.createFile(atPath: empty, contents: Data())
        XCTAssertTrue(err(empty).contains("empty"))
        let bin = dir + "/bin.dat"
        _ = FileManager.default.createFile(
            atPath: bin, contents: Data([0x41, 0, 0x42] + Array(repeating: 0x43, count: 100)))
        XCTAssertTrue(err(bin).contains("binary"))
        let latin = dir + "/latin1.txt"
        _ = FileManager.default.createFile(
            atPath: latin, contents: Data(Array("caf".utf8) + [0xE9] + Array(repeating: 0x61, count: 100)))
        XCTAssertTrue(err(latin).contains("not valid UTF-8 at byte 3"), err(latin))
        XCTAssertFalse(err(latin, bytes: true).contains("UTF-8"), "explicit byte-level mode accepts it")
        XCTAssertTrue(err(dir).contains("directory"))
        XCTAssertTrue(err(dir + "/nope.txt").contains("not found"))
        let fifo = dir + "/fifo"
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        XCTAssertTrue(err(fifo).contains("FIFO"), "a FIFO is refused without opening it (which would block)")
        let huge = dir + "/oneline.txt"
        _ = FileManager.default.createFile(atPath: huge, contents: nil)
        let fh = FileHandle(forWritingAtPath: huge)!
        try fh.truncate(atOffset: 100 << 20)  // a single 100 MB "line" (sparse: costs no disk)
        try fh.close()
        XCTAssertTrue(err(huge).contains("limit"), err(huge))
        let tiny = dir + "/tiny.txt"
        try "hi".write(toFile: tiny, atomically: true, encoding: .utf8)
        XCTAssertTrue(err(tiny).contains("a context of 32 needs at least 34"), err(tiny))
    }
}
