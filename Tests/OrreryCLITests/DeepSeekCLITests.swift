import Foundation
import TestSupport
import XCTest

final class DeepSeekCLITests: XCTestCase {
    let tiny = [
        "--layers", "1", "--width", "32", "--heads", "2", "--context", "32", "--batch", "4", "--documents", "200",
    ]

    /// `train moe` reports expert loads per layer; `train mtp` saves a session that `sample --speculative`
    /// decodes self-speculatively with exactly greedy's text; MoE flags without the preset are refused.
    func testMoEEventsAndSpeculativeSampling() throws {
        let dir = try temporaryDirectory("cli-deepseek")
        let moe = try run(["train", "moe", "--steps", "3", "--json", "--experts", "4", "--top-k", "2"] + tiny)
        XCTAssertEqual(moe.code, 0, moe.err)
        let step = jsonLines(moe.out).first { $0["type"] as? String == "step" }
        XCTAssertEqual((step?["expert_load"] as? [[Double]])?.first?.count, 4)
        XCTAssertNotNil(step?["max_over_mean_load"])
        let mtp = try run(["train", "mtp", "--steps", "20", "--out", dir + "/mtp", "--json"] + tiny)
        XCTAssertEqual(mtp.code, 0, mtp.err)
        XCTAssertEqual(
            (jsonLines(mtp.out).first { $0["type"] as? String == "step" }?["mtp_losses"] as? [Double])?.count, 1)
        let s = try run(["sample", "--checkpoint", dir + "/mtp", "--speculative", "--max-tokens", "20", "--json"])
        XCTAssertEqual(s.code, 0, s.err)
        let done = try XCTUnwrap(jsonLines(s.out).last)
        XCTAssertEqual(done["identical"] as? Bool, true)
        XCTAssertEqual(done["tokens"] as? Int, 20)
        XCTAssertNotNil(done["acceptance"] as? Double)
        let plain = try run(["sample", "--speculative", "--max-tokens", "5"])
        XCTAssertNotEqual(plain.code, 0)
        XCTAssertTrue(plain.err.contains("multi-token prediction"), plain.err)
        let bad = try run(["train", "gpt", "--experts", "4", "--steps", "1"])
        XCTAssertNotEqual(bad.code, 0)
        XCTAssertEqual(bad.err.split(separator: "\n").count, 1, bad.err)
    }

    /// `bench mla-decode`: one JSON line per attention kind, the cache bytes each stores per token.
    func testMLADecodeBench() throws {
        let r = try run(["bench", "mla-decode", "--tokens", "4", "--runs", "1", "--layers", "2", "--json"])
        XCTAssertEqual(r.code, 0, r.err)
        let lines = jsonLines(r.out)
        XCTAssertEqual(lines.map { $0["impl"] as? String }, ["mha", "gqa", "mla"])
        XCTAssertEqual(lines.map { $0["kv_bytes_per_token"] as? Int }, [2 * 2 * 128 * 4, 2 * 2 * 32 * 4, 2 * 80 * 4])
    }
}

final class ScalingCLITests: XCTestCase {
    /// A micro sweep: a run event per (budget, width), an IsoFLOP minimum per budget, a fit, and a
    /// prediction that is then trained and measured; bad budgets are one-line errors.
    func testMicroSweepPredictsAndRuns() throws {
        let r = try run([
            "scaling", "--budgets", "2e8,6e8", "--widths", "16,32,48", "--predict", "1.5e9", "--json",
        ])
        XCTAssertEqual(r.code, 0, r.err)
        let lines = jsonLines(r.out)
        XCTAssertEqual(lines.filter { $0["type"] as? String == "run" }.count, 6)
        XCTAssertEqual(lines.filter { $0["type"] as? String == "minimum" }.count, 2)
        let fit = try XCTUnwrap(lines.first { $0["type"] as? String == "fit" })
        XCTAssertNotNil(fit["model_exponent"] as? Double)
        let p = try XCTUnwrap(lines.first { $0["type"] as? String == "prediction" })
        XCTAssertNotNil(p["measured_loss"] as? Double)
        XCTAssertNotNil(p["predicted_loss"] as? Double)
        let bad = try run(["scaling", "--budgets", "abc"])
        XCTAssertNotEqual(bad.code, 0)
        XCTAssertEqual(bad.err.split(separator: "\n").count, 1, bad.err)
    }

    /// `scaling --hyper`: a run per (budget, batch, lr) cell plus a multi-step run of each budget's best,
    /// an optimum per budget, and the B_opt / η_opt fit.
    func testHyperparameterSweep() throws {
        let r = try run([
            "scaling", "--hyper", "--budgets", "1e8,3e8", "--batches", "4,8", "--lrs", "2e-3,4e-3", "--width", "16",
            "--documents", "300", "--json",
        ])
        XCTAssertEqual(r.code, 0, r.err)
        let lines = jsonLines(r.out)
        let runs = lines.filter { $0["type"] as? String == "hyper_run" }
        XCTAssertEqual(runs.count, 2 * 4 + 2)
        XCTAssertEqual(runs.filter { $0["schedule"] as? String == "multistep" }.count, 2)
        let optima = lines.filter { $0["type"] as? String == "hyper_optimum" }
        XCTAssertEqual(optima.count, 2)
        XCTAssertTrue(optima.allSatisfy { $0["multistep_loss"] is Double })
        let fit = try XCTUnwrap(lines.first { $0["type"] as? String == "hyper_fit" })
        XCTAssertNotNil(fit["batch_exponent"] as? Double)
        XCTAssertNotNil(fit["lr_exponent"] as? Double)
        let bad = try run(["scaling", "--hyper", "--batches", "0"])
        XCTAssertNotEqual(bad.code, 0)
        XCTAssertEqual(bad.err.split(separator: "\n").count, 1, bad.err)
    }
}

/// `orrery deepseek`: the DeepSeek lab headless — the same session as the screen, a JSON summary, PNGs.
final class DeepSeekLabCLITests: XCTestCase {
    let tiny = [
        "--layers", "2", "--width", "64", "--context", "32", "--batch", "4", "--documents", "300", "--eval-every",
        "10", "--steps", "20",
    ]

    func testExperimentsSummariseAndExport() throws {
        let dir = try temporaryDirectory("cli-deepseek-lab")
        let moe = try run(["deepseek", "moe", "--balancing", "aux-loss", "--json", "--png", dir + "/moe"] + tiny)
        XCTAssertEqual(moe.code, 0, moe.err)
        let m = try XCTUnwrap(jsonLines(moe.out).last)
        XCTAssertEqual(m["balancing"] as? String, "aux-loss")
        XCTAssertGreaterThanOrEqual(m["max_over_mean"] as? Double ?? 0, 1)
        XCTAssertEqual((m["probe_experts"] as? [[[Int]]])?.count, 2)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/moe-load-layer0.png"))
        let fp8 = try run(["deepseek", "fp8", "--json", "--out", dir + "/fp8"] + tiny)
        XCTAssertEqual(fp8.code, 0, fp8.err)
        let f = try XCTUnwrap(jsonLines(fp8.out).last)
        XCTAssertNotNil(f["gap_percent"] as? Double)
        XCTAssertEqual((f["e4m3"] as? [[String: Any]])?.count, 3)
        XCTAssertEqual((f["val_loss"] as? [Double])?.count, 2)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/fp8/fp8"))
        let mtp = try run(["deepseek", "mtp", "--json"] + tiny)
        XCTAssertEqual(mtp.code, 0, mtp.err)
        let t = try XCTUnwrap(jsonLines(mtp.out).last)
        XCTAssertEqual(t["same_as_greedy"] as? Bool, true)
        XCTAssertEqual((t["decode"] as? [[String: Any]])?.map { $0["attention"] as? String }, ["mha", "gqa", "mla"])
        let bad = try run(["deepseek", "moe", "--width", "2"])
        XCTAssertNotEqual(bad.code, 0)
        XCTAssertEqual(bad.err.split(separator: "\n").count, 1, bad.err)
        XCTAssertTrue(bad.err.contains("width"), bad.err)
    }
}
