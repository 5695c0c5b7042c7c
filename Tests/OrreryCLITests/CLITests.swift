// Drives the real `orrery` binary the way a script would.
import Foundation
import XCTest

final class CLITests: XCTestCase {
    func testVersionAndHelp() throws {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: orreryBinary.path), "binary at \(orreryBinary.path)")
        let v = try run(["version", "--json"])
        XCTAssertEqual(v.code, 0)
        let obj = jsonLines(v.out).first
        XCTAssertEqual(obj?["version"] as? String, "0.1.0")
        XCTAssertNotNil(obj?["gemm_kernel"])
        let h = try run(["--help"])
        XCTAssertEqual(h.code, 0)
        for sub in ["train", "inspect", "bench", "version"] { XCTAssertTrue(h.out.contains(sub), "help lists \(sub)") }
    }

    func testTrainSpiralsJSONContract() throws {
        let r = try run(["train", "spirals", "--steps", "400", "--json", "--threads", "1"])
        XCTAssertEqual(r.code, 0, r.err)
        let lines = jsonLines(r.out)
        XCTAssertTrue(lines.allSatisfy { $0["type"] is String }, "every line has a type")
        let steps = lines.filter { $0["type"] as? String == "step" }.compactMap { $0["loss"] as? Double }
        XCTAssertGreaterThan(steps.count, 2)
        XCTAssertLessThan(steps.last!, steps.first! * 0.5, "loss falls")
        let done = lines.last!
        XCTAssertEqual(done["type"] as? String, "done")
        XCTAssertGreaterThan(done["accuracy"] as? Double ?? 0, 0.8)
    }

    func testInspectAndBadInput() throws {
        let dir = NSTemporaryDirectory() + "orrery-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A valid file, made byte by byte.
        let header = #"{"w":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]}}"#
        var bytes: [UInt8] = []
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes += $0 }
        bytes += Array(header.utf8) + [UInt8](repeating: 0, count: 8)
        let good = dir + "/good.safetensors"
        _ = FileManager.default.createFile(atPath: good, contents: Data(bytes))
        let r = try run(["inspect", good, "--json"])
        XCTAssertEqual(r.code, 0, r.err)
        let obj = jsonLines(r.out).first!
        let tensors = obj["tensors"] as! [[String: Any]]
        XCTAssertEqual(tensors.first?["name"] as? String, "w")
        XCTAssertEqual(tensors.first?["shape"] as? [Int], [2, 1])
        XCTAssertEqual(tensors.first?["bytes"] as? Int, 8)
        let text = try run(["inspect", good])
        XCTAssertTrue(text.out.contains("F32") && text.out.contains("[2, 1]"))
        // A truncated file: one error line naming the problem and the file, non-zero exit, no trace.
        let bad = dir + "/bad.safetensors"
        _ = FileManager.default.createFile(atPath: bad, contents: Data(bytes.dropLast(3)))
        let b = try run(["inspect", bad])
        XCTAssertNotEqual(b.code, 0)
        let errLines = b.err.split(separator: "\n")
        XCTAssertEqual(errLines.count, 1, b.err)
        XCTAssertTrue(
            b.err.hasPrefix("error: ") && b.err.contains("bad.safetensors") && b.err.contains("past the"), b.err)
        let missing = try run(["inspect", dir + "/none.safetensors"])
        XCTAssertNotEqual(missing.code, 0)
        XCTAssertTrue(missing.err.hasPrefix("error: ") && missing.err.contains("No such file"), missing.err)
        let badArg = try run(["train", "spirals", "--steps", "0"])
        XCTAssertNotEqual(badArg.code, 0)
        XCTAssertTrue(badArg.err.contains("--steps"), badArg.err)
    }

    func testChatAnswersFromTheShippedModel() throws {
        let r = try run(["chat"], stdin: "what is 3 plus 4?\nwhere is Ana?\n")
        XCTAssertEqual(r.code, 0, r.err)
        let lines = r.out.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 2, r.out)
        XCTAssertTrue(lines[0].contains("7"), lines[0])
        XCTAssertEqual(lines[1], "Ana is in the kitchen.")
        let bad = try run(["chat", "--checkpoint", "/nonexistent/dir"], stdin: "hi\n")
        XCTAssertNotEqual(bad.code, 0)
        XCTAssertTrue(bad.err.hasPrefix("error: not a session directory"), bad.err)
    }

    func testTheRaceTrainsThreeModelsOnTheSameData() throws {
        let r = try run([
            "train", "race", "--steps", "20", "--eval-every", "10", "--documents", "200", "--context", "16",
            "--batch", "4", "--json",
        ])
        XCTAssertEqual(r.code, 0, r.err)
        let events = jsonLines(r.out)
        XCTAssertEqual(
            events.filter { $0["type"] as? String == "eval" }.count, 3 * 2, "three models, two evaluations each")
        let results = events.last?["results"] as? [[String: Any]] ?? []
        XCTAssertEqual(
            results.compactMap { ($0["model"] as? String)?.split(separator: " ").first.map(String.init) },
            ["gpt", "lstm", "gru"])
        for res in results {
            XCTAssertEqual(res["step"] as? Int, 20)
            XCTAssertLessThan(res["val_loss"] as? Double ?? 99, 6, "\(res)")
        }
    }

    func testACopiedBinaryChatsFromAnEmptyDirectory() throws {
        // The shipped model is compiled into the binary: no assets/ folder needs to be next to it.
        let dir = try temporaryDirectory("installed")
        try FileManager.default.createDirectory(atPath: dir + "/bin", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/empty", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: orreryBinary.path, toPath: dir + "/bin/orrery")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: dir + "/bin/orrery")
        p.arguments = ["chat"]
        p.currentDirectoryURL = URL(fileURLWithPath: dir + "/empty")
        var env = ProcessInfo.processInfo.environment
        env["ORRERY_ASSETS"] = nil
        p.environment = env
        let i = Pipe()
        let o = Pipe()
        let e = Pipe()
        p.standardInput = i
        p.standardOutput = o
        p.standardError = e
        try p.run()
        i.fileHandleForWriting.write(Data("what is 3 plus 4?\n".utf8))
        try i.fileHandleForWriting.close()
        let out = String(decoding: o.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let err = String(decoding: e.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, err)
        XCTAssertEqual(out, "3 plus 4 is 7.\n")
    }

    func testTrainSampleAndResumeThroughTheCLI() throws {
        let dir = NSTemporaryDirectory() + "orrery-cli-lm-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let common = [
            "--documents", "200", "--layers", "1", "--width", "32", "--context", "32", "--batch", "4", "--eval-every",
            "5",
        ]
        let t = try run(
            [
                "train", "gpt", "--steps", "10", "--out", dir, "--json", "--checkpoint-every", "5",
                "--attention-every", "10", "--sample-every", "10",
            ] + common)
        XCTAssertEqual(t.code, 0, t.err)
        let events = jsonLines(t.out)
        let attn = events.filter { $0["type"] as? String == "attention" }
        XCTAssertEqual(attn.count, 1 * 4, "one layer × four heads (default heads)")
        XCTAssertEqual((attn.first?["probs"] as? [[Double]])?.count, (attn.first?["tokens"] as? [String])?.count)
        XCTAssertEqual(events.filter { $0["type"] as? String == "sample" }.count, 1)
        XCTAssertEqual(events.filter { $0["type"] as? String == "step" }.count, 10)
        XCTAssertTrue(events.contains { $0["type"] as? String == "eval" })
        XCTAssertEqual(events.last?["type"] as? String, "done")
        let snapshot = try currentSnapshot(dir)
        XCTAssertTrue(snapshot.hasSuffix("/step-00000010"), snapshot)
        for f in ["config.json", "tokenizer.json", "model.safetensors", "optimizer.safetensors", "metrics.jsonl"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: snapshot + "/" + f), f)
        }
        let s = try run([
            "sample", "--checkpoint", dir, "--prompt", "Once", "--max-tokens", "20", "--json", "--seed", "3",
        ])
        XCTAssertEqual(s.code, 0, s.err)
        XCTAssertEqual(jsonLines(s.out).last?["tokens"] as? Int, 20)
        let again = try run(["train", "gpt", "--resume", dir, "--json"])
        XCTAssertEqual(again.code, 0, again.err)
        XCTAssertEqual(jsonLines(again.out).first?["step"] as? Int, 10, "resumes at the saved step")
        let ins = try run(["inspect", try currentSnapshot(dir) + "/model.safetensors", "--json"])
        XCTAssertEqual(ins.code, 0, ins.err)
        let empty = dir + "/empty.txt"
        _ = FileManager.default.createFile(atPath: empty, contents: Data())
        let e = try run(["train", "gpt", "--corpus", empty])
        XCTAssertNotEqual(e.code, 0)
        XCTAssertTrue(e.err.hasPrefix("error: corpus is empty"), e.err)
    }

    func testBenchGEMMJSONContract() throws {
        let r = try run(["bench", "gemm", "--sizes", "64,33x17x9", "--runs", "3", "--json", "--threads", "2"])
        XCTAssertEqual(r.code, 0, r.err)
        let lines = jsonLines(r.out)
        XCTAssertEqual(lines.count, 2)
        for l in lines {
            XCTAssertEqual(l["bench"] as? String, "gemm")
            XCTAssertEqual(l["impl"] as? String, "orrery")
            XCTAssertEqual(l["threads"] as? Int, 2)
            XCTAssertEqual(l["runs"] as? Int, 3)
            for k in ["median_ms", "min_ms", "max_ms", "gflops"] { XCTAssertGreaterThan(l[k] as? Double ?? 0, 0, k) }
        }
        XCTAssertEqual(lines.map { $0["case"] as? String }, ["64x64x64", "33x17x9"])
    }

    /// `bench attention --bound` adds the tile products' own rows: their MFU, and the share of flash's
    /// time the rest takes (a shape check, not a timing test).
    func testBenchAttentionBoundJSON() throws {
        let r = try run([
            "bench", "attention", "--seq", "64", "--mask", "causal", "--runs", "1", "--naive-max", "0", "--bound",
            "--json", "--threads", "2",
        ])
        XCTAssertEqual(r.code, 0, r.err)
        let lines = jsonLines(r.out)
        XCTAssertEqual(
            lines.map { "\($0["impl"] as? String ?? "?") \($0["case"] as? String ?? "?")" },
            [
                "flash n=64,causal,fwd", "flash n=64,causal,fwd+bwd", "flash-products n=64,causal,fwd",
                "flash-products n=64,causal,fwd+bwd",
            ])
        let products = lines[3]
        XCTAssertGreaterThan(products["mfu"] as? Double ?? 0, 0)
        XCTAssertLessThan(products["rest_fraction"] as? Double ?? 1, 1)
    }

    /// The machine-limits benchmark keeps the JSON contract (a shape check, not a timing test).
    func testBenchPeakJSONContract() throws {
        let r = try run(["bench", "peak", "--json", "--threads", "2"])
        XCTAssertEqual(r.code, 0, r.err)
        let lines = jsonLines(r.out)
        XCTAssertEqual(lines.map { $0["case"] as? String }, ["fma", "read", "triad"])
        XCTAssertGreaterThan(lines.first?["gflops"] as? Double ?? 0, 0)
        XCTAssertNotNil(lines.first?["unit"] as? String)
        for l in lines.dropFirst() { XCTAssertGreaterThan(l["gb_per_s"] as? Double ?? 0, 0) }
    }
}
