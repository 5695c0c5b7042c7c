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
}
