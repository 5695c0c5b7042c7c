// The hostile-user probe as tests: each reproducer from the hardening review, run against the real
// binary. Every case must end in a clear one-line error or success — never a signal, a hang, heap bytes
// on stdout, or a session that no longer loads.
import Foundation
import XCTest

final class HardeningTests: XCTestCase {
    static let tiny = [
        "--layers", "2", "--width", "32", "--heads", "2", "--context", "32", "--batch", "8", "--documents", "300",
    ]
    /// A saved 40-step session, made once and copied by each test that mutates it.
    nonisolated(unsafe) static var session: String?

    func savedSession() throws -> String {
        if let s = HardeningTests.session { return try copy(s) }
        let dir = NSTemporaryDirectory() + "orrery-hardening-base-\(UUID().uuidString)"
        let r = try run(["train", "gpt", "--steps", "40", "--out", dir, "--threads", "1"] + HardeningTests.tiny)
        XCTAssertEqual(r.code, 0, r.err)
        HardeningTests.session = dir
        return try copy(dir)
    }

    func copy(_ dir: String) throws -> String {
        let to = try temporaryDirectory("session") + "/C"
        try FileManager.default.copyItem(atPath: dir, toPath: to)
        return to
    }

    /// Rewrites the current snapshot's config.json through `edit`.
    func editConfig(_ dir: String, _ edit: (inout [String: Any]) -> Void) throws {
        let path = try currentSnapshot(dir) + "/config.json"
        var obj =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any]
            ?? [:]
        var cfg = obj["config"] as? [String: Any] ?? [:]
        edit(&cfg)
        obj["config"] = cfg
        try JSONSerialization.data(withJSONObject: obj).write(to: URL(fileURLWithPath: path))
    }

    /// A clear failure: non-zero exit, no signal, no hang, one `error:` line naming `mentions`.
    func assertCleanError(_ r: CLIResult, mentions: [String], _ what: String, line: UInt = #line) {
        XCTAssertFalse(r.timedOut, "\(what): hung", line: line)
        XCTAssertFalse(r.signaled, "\(what): killed by signal \(r.code)", line: line)
        XCTAssertNotEqual(r.code, 0, "\(what): exit 0\n\(r.out.suffix(300))", line: line)
        let lines = r.err.split(separator: "\n").filter { !$0.hasPrefix("\r") }
        XCTAssertEqual(lines.count, 1, "\(what): stderr is not one line:\n\(r.err)", line: line)
        XCTAssertTrue(r.err.hasPrefix("error: "), "\(what): \(r.err)", line: line)
        for m in mentions {
            XCTAssertTrue(r.err.contains(m), "\(what): error does not mention \(m): \(r.err)", line: line)
        }
        XCTAssertFalse(
            r.err.contains("DecodingError") || r.err.contains("NSError") || r.err.contains("Error Domain"),
            "\(what): raw error dump: \(r.err)", line: line)
    }

    // MARK: memory safety and crashes

    func testEmptyStopStringIsRejectedAndPrintsNoHeapBytes() throws {
        let c = try savedSession()
        let r = try run([
            "sample", "--checkpoint", c, "--prompt", "hi", "--max-tokens", "60", "--stop", "", "--temperature", "0",
        ])
        assertCleanError(r, mentions: ["--stop"], "empty stop string")
        XCTAssertFalse(r.outBytes.contains(0), "no NUL bytes on stdout")
    }

    func testNonFiniteLossesAreJSONEventsNotATrap() throws {
        let r = try run(
            ["train", "gpt", "--steps", "30", "--lr", "1e3", "--json", "--threads", "1"] + HardeningTests.tiny)
        XCTAssertFalse(r.signaled, "trapped: \(r.err)")
        let lines = r.out.split(separator: "\n")
        let events = jsonLines(r.out)
        XCTAssertEqual(events.count, lines.count, "every line is JSON")
        let skipped = events.filter { $0["type"] as? String == "skipped" }
        XCTAssertFalse(skipped.isEmpty, "skipped steps are events")
        XCTAssertTrue(events.contains { $0["type"] as? String == "rollback" }, "rollbacks are events")
        let nanStep = events.first { $0["type"] as? String == "step" && $0["loss"] is NSNull }
        XCTAssertEqual(
            (nanStep?["nonfinite"] as? [String: String])?["loss"].map { ["nan", "inf"].contains($0) }, true,
            "a non-finite loss is null with a nonfinite marker")
        let done = events.last { $0["type"] as? String == "done" }
        XCTAssertEqual(done?["skipped_steps"] as? Int, skipped.count)
    }

    func testDivergenceIsVisibleInTextMode() throws {
        let r = try run(["train", "gpt", "--steps", "30", "--lr", "1e3", "--threads", "1"] + HardeningTests.tiny)
        XCTAssertFalse(r.signaled)
        XCTAssertTrue(r.out.contains("step skipped"), r.out)
        XCTAssertTrue(r.out.contains("rolled back to step"), r.out)
        XCTAssertTrue(r.out.contains("steps skipped for a non-finite loss"), r.out)
    }

    func testSavesAfterANonFiniteStepSucceedAndResume() throws {
        let dir = try temporaryDirectory("nan-save") + "/S"
        let r = try run(
            [
                "train", "gpt", "--steps", "30", "--lr", "1e3", "--checkpoint-every", "10", "--out", dir, "--threads",
                "1",
            ]
                + HardeningTests.tiny)
        XCTAssertFalse(r.signaled)
        let metrics = try String(contentsOfFile: try currentSnapshot(dir) + "/metrics.jsonl", encoding: .utf8)
        XCTAssertTrue(metrics.contains("\"nan\"") || metrics.contains("\"inf\""), "non-finite losses are stored")
        XCTAssertTrue(FileManager.default.fileExists(atPath: try currentSnapshot(dir) + "/config.json"))
        let s = try run(["sample", "--checkpoint", dir, "--max-tokens", "5"])
        XCTAssertEqual(s.code, 0, s.err)
    }

    func testZeroKVHeadsIsAnErrorEverywhere() throws {
        let c = try savedSession()
        try editConfig(c) { $0["kvHeads"] = 0 }
        assertCleanError(try run(["sample", "--checkpoint", c, "--max-tokens", "5"]), mentions: ["kvHeads"], "sample")
        assertCleanError(try run(["chat", "--checkpoint", c], stdin: "hi\n"), mentions: ["kvHeads"], "chat")
        assertCleanError(try run(["train", "gpt", "--resume", c]), mentions: ["kvHeads"], "resume")
    }

    func testResumeWithACorpusShorterThanOneContext() throws {
        let dir = try temporaryDirectory("short")
        let corpus = dir + "/corpus.txt"
        try String(repeating: "the cat sat on the mat. ", count: 40).write(
            toFile: corpus, atomically: true, encoding: .utf8)
        let t = try run(
            [
                "train", "gpt", "--steps", "40", "--checkpoint-every", "5", "--corpus", corpus, "--out", dir + "/S",
                "--threads", "1",
            ] + HardeningTests.tiny.prefix(10))
        XCTAssertEqual(t.code, 0, t.err)
        try editConfig(dir + "/S") { $0["steps"] = 80 }
        try "the cat".write(toFile: corpus, atomically: true, encoding: .utf8)
        assertCleanError(
            try run(["train", "gpt", "--resume", dir + "/S"]), mentions: ["context"], "short corpus on resume")
    }

    func testCorpusShorterThanAContextSaysWhatItNeeds() throws {
        let dir = try temporaryDirectory("short2")
        let corpus = dir + "/c.txt"
        try String(repeating: "a", count: 129).write(toFile: corpus, atomically: true, encoding: .utf8)
        let r = try run(["train", "gpt", "--corpus", corpus, "--context", "128", "--steps", "2"])
        assertCleanError(r, mentions: ["needs at least 130"], "corpus of one context")
    }

    // MARK: unbounded allocation

    func testAHugeConfigIsRefusedBeforeAllocating() throws {
        let c = try savedSession()
        try editConfig(c) {
            $0["layers"] = 64
            $0["width"] = 4096
            $0["heads"] = 32
        }
        let start = Date()
        let r = try run(["sample", "--checkpoint", c, "--max-tokens", "5"], timeout: 60)
        assertCleanError(r, mentions: ["parameters"], "64 × 4096 config")
        XCTAssertLessThan(Date().timeIntervalSince(start), 10, "refused before building the model")
        let budget = try run(
            ["train", "gpt", "--layers", "64", "--width", "4096", "--heads", "32", "--steps", "1"], timeout: 60)
        assertCleanError(budget, mentions: ["GB"], "64 × 4096 from flags")
    }

    func testSelfDoublingBPEMergesAreRefused() throws {
        let c = try savedSession()
        try editConfig(c) { $0["tokenizer"] = "bpe" }
        var merges = [[97, 97]]
        for i in 0..<39 { merges.append([256 + i, 256 + i]) }
        try JSONSerialization.data(withJSONObject: ["type": "bpe", "merges": merges])
            .write(to: URL(fileURLWithPath: try currentSnapshot(c) + "/tokenizer.json"))
        let r = try run(["sample", "--checkpoint", c, "--max-tokens", "5"], timeout: 60)
        assertCleanError(r, mentions: ["tokenizer.json", "256 bytes"], "self-doubling merges")
    }

    func testCountsFromFlagsAndFilesAreBounded() throws {
        for docs in ["-1", "1000000000"] {
            assertCleanError(
                try run(["train", "gpt", "--documents", docs, "--steps", "1"]), mentions: ["documents"],
                "--documents \(docs)")
        }
        let cases: [([String], String)] = [
            (["bench", "gemm", "--sizes", "100000"], "100000"),
            (["bench", "packing", "--documents=-1"], "--documents"),
            (["bench", "packing", "--rows", "0"], "--rows"),
            (["bench", "packing", "--width", "0"], "--width"),
            (["bench", "attention", "--mask", "bogus"], "--mask"),
            (["bench", "attention", "--seq", "64,abc"], "--seq"),
            (["bench", "attention", "--width", "0"], "--width"),
            (["bench", "train-gpt", "--shapes", "huge"], "--shapes"),
            (["sample", "--max-tokens", "0"], "--max-tokens"),
            (["train", "gpt", "--steps", "-1"], "-1"),
            (["train", "gpt", "--lr", "-0.5"], "-0.5"),
        ]
        for (args, mention) in cases {
            assertCleanError(try run(args, timeout: 30), mentions: [mention], args.joined(separator: " "))
        }
        let c = try savedSession()
        try editConfig(c) { $0["corpusDocuments"] = -1 }
        assertCleanError(
            try run(["train", "gpt", "--resume", c]), mentions: ["corpus documents"], "corpusDocuments -1 in a file")
    }

    func testChatInputIsBounded() throws {
        let long = String(repeating: "a", count: 200_000)
        let r = try run(["chat"], stdin: long, timeout: 60)
        assertCleanError(r, mentions: ["longer than"], "newline-free stdin")
        // Many turns: history is cut to what fits the context, so each turn costs the same.
        let questions = (0..<600).map { "what is \($0 % 10) plus \(($0 / 10) % 10)?" }.joined(separator: "\n") + "\n"
        let start = Date()
        let many = try run(["chat"], stdin: questions, timeout: 180)
        XCTAssertEqual(many.code, 0, many.err)
        XCTAssertEqual(many.out.split(separator: "\n", omittingEmptySubsequences: false).count, 601)
        XCTAssertLessThan(Date().timeIntervalSince(start), 170)
    }

    // MARK: hangs and signals

    func testFIFOsAreRefusedWithoutBlocking() throws {
        let dir = try temporaryDirectory("fifo")
        XCTAssertEqual(mkfifo(dir + "/x.safetensors", 0o644), 0)
        assertCleanError(
            try run(["inspect", dir + "/x.safetensors"], timeout: 20), mentions: ["FIFO"], "FIFO safetensors")
        for file in ["model.safetensors", "config.json", "tokenizer.json"] {
            let c = try savedSession()
            let path = try currentSnapshot(c) + "/" + file
            try FileManager.default.removeItem(atPath: path)
            XCTAssertEqual(mkfifo(path, 0o644), 0)
            assertCleanError(
                try run(["sample", "--checkpoint", c, "--max-tokens", "3"], timeout: 20), mentions: ["FIFO"], file)
        }
    }

    func testNegativeEvalBatchesIsRejected() throws {
        let c = try savedSession()
        try editConfig(c) {
            $0["evalBatches"] = -1
            $0["steps"] = 80
        }
        assertCleanError(
            try run(["train", "gpt", "--resume", c], timeout: 30), mentions: ["evalBatches"], "evalBatches -1")
    }

    func testASecondSignalEndsTrainingAtOnce() throws {
        let p = Process()
        p.executableURL = orreryBinary
        p.arguments = [
            "train", "gpt", "--steps", "100000", "--layers", "4", "--width", "256", "--batch", "64", "--context", "128",
            "--documents", "300", "--threads", "1",
        ]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        Thread.sleep(forTimeInterval: 4)
        kill(p.processIdentifier, SIGINT)
        usleep(20_000)
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .uncaughtSignal, "the second SIGINT ends the process by the signal")
        XCTAssertEqual(p.terminationStatus, SIGINT)
    }

    // MARK: data loss

    func testAFullDiskDuringASaveKeepsThePreviousSession() throws {
        let c = try savedSession()
        let before = try currentSnapshot(c)
        // A 64 KiB file-size limit: the new run trains, then its save fails part-way through the weights.
        let cmd =
            "ulimit -f 64; exec '\(orreryBinary.path)' train gpt --steps 20 --force --out '\(c)' --threads 1 "
            + HardeningTests.tiny.joined(separator: " ")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", cmd]
        let e = Pipe()
        p.standardError = e
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let err = String(decoding: e.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 1, err)
        XCTAssertTrue(err.contains("cannot save the session") && err.contains("File too large"), err)
        XCTAssertEqual(try currentSnapshot(c), before, "CURRENT still names the previous snapshot")
        let items = try FileManager.default.contentsOfDirectory(atPath: c)
        XCTAssertFalse(items.contains { $0.hasPrefix(".partial") }, "the failed save's files are removed: \(items)")
        let s = try run(["sample", "--checkpoint", c, "--max-tokens", "5"])
        XCTAssertEqual(s.code, 0, "the previous session still loads: \(s.err)")
    }

    func testKillDashNineDuringSavesNeverBreaksTheSession() throws {
        let dir = try temporaryDirectory("kill9") + "/K"
        for attempt in 0..<5 {
            let p = Process()
            p.executableURL = orreryBinary
            let args =
                attempt == 0
                ? ["train", "gpt", "--steps", "100000", "--out", dir]
                : ["train", "gpt", "--resume", dir]
            p.arguments =
                args + ["--checkpoint-every", "1", "--threads", "1"]
                + (attempt == 0
                    ? ["--layers", "4", "--width", "256", "--batch", "2", "--context", "32", "--documents", "300"] : [])
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            Thread.sleep(forTimeInterval: 2.5 + 0.37 * Double(attempt))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            let s = try run(["sample", "--checkpoint", dir, "--max-tokens", "3"])
            XCTAssertEqual(s.code, 0, "after kill -9 #\(attempt): \(s.err)")
        }
    }

    func testOutIsCheckedBeforeTraining() throws {
        let dir = try temporaryDirectory("out")
        let file = dir + "/file"
        try "x".write(toFile: file, atomically: true, encoding: .utf8)
        let r = try run(["train", "gpt", "--steps", "5", "--out", file] + HardeningTests.tiny)
        assertCleanError(r, mentions: ["not a directory", file], "--out on a file")
        XCTAssertFalse(r.out.contains("step"), "refused before training")
        assertCleanError(
            try run(["train", "gpt", "--steps", "5", "--out", "/proc/orrery-nope"] + HardeningTests.tiny),
            mentions: ["cannot create"], "--out on an unwritable place")
        let c = try savedSession()
        assertCleanError(
            try run(["train", "gpt", "--steps", "5", "--out", c] + HardeningTests.tiny),
            mentions: ["--resume", "--force"], "--out onto a saved session")
    }

    // MARK: silent accepts and unclear errors

    func testNonFiniteWeightsAreRefused() throws {
        let c = try savedSession()
        let path = try currentSnapshot(c) + "/model.safetensors"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let n = Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16
        // A NaN in the first tensor.
        for (k, b) in [0x00, 0x00, 0xC0, 0x7F].enumerated() { bytes[8 + n + 4 + k] = UInt8(b) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        assertCleanError(try run(["sample", "--checkpoint", c, "--max-tokens", "5"]), mentions: ["NaN"], "NaN weights")
        assertCleanError(try run(["chat", "--checkpoint", c], stdin: "hi\n"), mentions: ["NaN"], "NaN weights in chat")
    }

    func testConfigValuesAreChecked() throws {
        let cases: [(String, Any, String)] = [
            ("valFraction", 2.0, "valFraction"), ("clip", -1.0, "clip"), ("warmup", -5, "warmup"),
            ("layers", "four", "\"layers\" should be an integer"), ("tokenizer", "bpe", "tokenizer"),
            ("evalEvery", -3, "evalEvery"), ("lr", 0, "learning rate"),
            ("layers", 2.5, "\"layers\" should be an integer, got 2.5"),
            ("model", "bogus", "should be one of gpt, lstm, gru"),
            ("seed", -1, "\"seed\" should be a non-negative integer"),
        ]
        for (key, value, mention) in cases {
            let c = try savedSession()
            try editConfig(c) { $0[key] = value }
            assertCleanError(
                try run(["sample", "--checkpoint", c, "--max-tokens", "3"]), mentions: [mention], "\(key) = \(value)")
        }
        let c = try savedSession()
        let cfgPath = try currentSnapshot(c) + "/config.json"
        var obj =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: cfgPath))) as? [String: Any]
            ?? [:]
        obj["step"] = 10_000
        try JSONSerialization.data(withJSONObject: obj).write(to: URL(fileURLWithPath: cfgPath))
        assertCleanError(try run(["sample", "--checkpoint", c]), mentions: ["past the run"], "step > steps")
        let t = try savedSession()
        try JSONSerialization.data(withJSONObject: ["type": "char", "chars": [-5, 97]])
            .write(to: URL(fileURLWithPath: try currentSnapshot(t) + "/tokenizer.json"))
        assertCleanError(try run(["sample", "--checkpoint", t]), mentions: ["-5"], "negative character code")
    }

    func testOutOfRangeNumbersInAConfigNameTheField() throws {
        let c = try savedSession()
        let path = try currentSnapshot(c) + "/config.json"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try text.replacingOccurrences(of: "\"lr\" : 0.003", with: "\"lr\" : 1e400").write(
            toFile: path, atomically: true, encoding: .utf8)
        assertCleanError(try run(["sample", "--checkpoint", c]), mentions: ["\"lr\" should be a number"], "lr 1e400")
    }

    func testADivergenceNearTheEndSavesTheLastGoodState() throws {
        let dir = try temporaryDirectory("late") + "/D"
        let r = try run(
            [
                "train", "gpt", "--steps", "16", "--lr", "1e3", "--checkpoint-every", "10", "--out", dir, "--threads",
                "1",
            ]
                + HardeningTests.tiny)
        XCTAssertFalse(r.signaled)
        XCTAssertTrue(r.out.contains("saving the last good state (step 10)"), r.out)
        let s = try run(["sample", "--checkpoint", dir, "--max-tokens", "5"])
        XCTAssertEqual(s.code, 0, "the saved session gives finite outputs: \(s.err)")
        // Saving every step while diverging: checkpoints skip unsound states, the run ends (no restore loop).
        let every = try temporaryDirectory("late2") + "/E"
        let r2 = try run(
            [
                "train", "gpt", "--steps", "16", "--lr", "1e3", "--checkpoint-every", "1", "--out", every,
                "--threads", "1",
            ] + HardeningTests.tiny, timeout: 60)
        XCTAssertFalse(r2.timedOut, "the run ends")
        XCTAssertTrue(r2.err.contains("diverged"), r2.err)
        XCTAssertEqual(try run(["sample", "--checkpoint", every, "--max-tokens", "5"]).code, 0, "the kept save works")
        assertCleanError(
            try run(["train", "gpt", "--resume", "/nonexistent/session"]), mentions: ["not a session directory"],
            "resume of nothing")
    }

    func testFlagsThatCannotApplyAreRefused() throws {
        let c = try savedSession()
        let cases: [([String], String)] = [
            (["train", "gpt", "--sample-every", "-1"], "--sample-every"),
            (["train", "gpt", "--attention-every", "-1"], "--attention-every"),
            (["train", "gpt", "--resume", c, "--layers", "4"], "--layers cannot change a resumed run"),
            (["train", "gpt", "--resume", c, "--corpus", "x.txt"], "--corpus cannot change a resumed run"),
            (["train", "lstm", "--resume", c], "is a gpt"),
            (["bench", "gemm", "--sizes", ""], "--sizes"),
            (["bench", "gemm", "--sizes", "64,"], "bad size"),
            (["--threads", "0", "version"], "--threads"),
            (["train", "spirals", "--lr", "1e12"], "--lr"),
            (["train", "gpt", "--out", ""], "empty"),
        ]
        for (args, mention) in cases {
            assertCleanError(try run(args, timeout: 30), mentions: [mention], args.joined(separator: " "))
        }
        let dir = try temporaryDirectory("afile")
        try "x".write(toFile: dir + "/afile", atomically: true, encoding: .utf8)
        assertCleanError(
            try run(["train", "gpt", "--out", dir + "/afile/sub"] + HardeningTests.tiny),
            mentions: ["afile is a regular file"], "--out under a file")
    }

    func testAClosedPipeEndsQuietlyAfterSaving() throws {
        let c = try savedSession()
        let dir = try temporaryDirectory("pipe") + "/P"
        let sh =
            "'\(orreryBinary.path)' sample --checkpoint '\(c)' --max-tokens 3000 2>\(dir).err | head -c 5 >/dev/null; "
            + "echo ${PIPESTATUS[0]}; '\(orreryBinary.path)' train gpt --steps 500 --out '\(dir)' --json "
            + HardeningTests.tiny.joined(separator: " ") + " | head -1 >/dev/null; echo ${PIPESTATUS[0]}"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", sh]
        let o = Pipe()
        p.standardOutput = o
        try p.run()
        let out = String(decoding: o.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(out.split(separator: "\n"), ["141", "141"], "status 141 as for SIGPIPE")
        XCTAssertEqual((try? String(contentsOfFile: dir + ".err", encoding: .utf8)) ?? "", "", "quiet")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/CURRENT"), "the run saved before it ended")
    }

    func testJSONRunsReportTheirFailureAsAnEvent() throws {
        let r = try run(
            ["train", "gpt", "--steps", "16", "--lr", "1e3", "--json", "--threads", "1"] + HardeningTests.tiny)
        XCTAssertEqual(r.code, 1)
        XCTAssertEqual(jsonLines(r.out).last?["type"] as? String, "error", r.out)
    }

    func testInspectEscapesControlCharactersFromTheFile() throws {
        let dir = try temporaryDirectory("esc")
        let header =
            #"{"__metadata__":{"note":"\u001b]0;pwned\u0007"},"\u001b[31mred":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        var bytes: [UInt8] = []
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes += $0 }
        bytes += Array(header.utf8) + [0, 0, 0, 0]
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/e.safetensors"))
        let r = try run(["inspect", dir + "/e.safetensors"])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertFalse(r.outBytes.contains(0x1B) || r.outBytes.contains(0x07), "no raw escape or bell bytes")
        XCTAssertTrue(r.out.contains("\\u{1b}[31mred"), r.out)
    }

    func testWriteErrorsOnStdoutAreReported() throws {
        let dir = try temporaryDirectory("full")
        let header = #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        var bytes: [UInt8] = []
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes += $0 }
        bytes += Array(header.utf8) + [0, 0, 0, 0]
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/w.safetensors"))
        let p = Process()
        p.executableURL = orreryBinary
        p.arguments = ["inspect", dir + "/w.safetensors", "--json"]
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/full")
        let e = Pipe()
        p.standardError = e
        try p.run()
        let err = String(decoding: e.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 1)
        XCTAssertTrue(err.hasPrefix("error: cannot write to standard output"), err)
        XCTAssertTrue(err.contains("No space left on device"), err)
    }

    func testArgumentErrorsAreOneLineNamingTheCommand() throws {
        assertCleanError(
            try run(["train", "gpt", "--bogus"]), mentions: ["--bogus", "(see 'orrery train gpt --help')"],
            "unknown flag")
        assertCleanError(try run(["train", "gpt", "--steps"]), mentions: ["--steps"], "missing value")
        assertCleanError(try run(["inspect"]), mentions: ["orrery inspect"], "missing argument")
        let missing = try run(["inspect", "/nonexistent/file.safetensors"])
        assertCleanError(missing, mentions: ["/nonexistent/file.safetensors"], "missing file")
        XCTAssertEqual(
            missing.err.components(separatedBy: "/nonexistent/file.safetensors").count, 2,
            "the path once: \(missing.err)")
    }
}
