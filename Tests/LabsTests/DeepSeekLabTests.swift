import Compute
import Foundation
import Labs
import Models
import XCTest

/// The DeepSeek lab's four experiments on tiny models: what each publishes for its views is there and
/// means what it says, and each saves.
final class DeepSeekLabTests: XCTestCase {
    func tiny(_ e: DeepSeekExperiment, steps: Int = 40) -> DeepSeekLabConfig {
        var c = DeepSeekLabConfig()
        c.experiment = e
        c.layers = 2
        c.width = 64
        c.batch = 8
        c.context = 64
        c.documents = 600
        c.steps = steps
        c.evalEvery = 10
        c.probeEvery = 20
        return c
    }

    func run(_ lab: DeepSeekLab) throws -> DeepSeekSnapshot {
        var snap = DeepSeekSnapshot()
        while !lab.isFinished {
            try lab.advance()
            lab.publish(into: &snap)
        }
        return snap
    }

    func saved(_ lab: DeepSeekLab) throws -> [String] {
        let dir = NSTemporaryDirectory() + "orrery-deepseek-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try lab.save(to: dir)
        return try FileManager.default.subpathsOfDirectory(atPath: dir)
    }

    func testMoEViewRecordsLoadRoutingAndBiases() throws {
        let lab = try DeepSeekLab(tiny(.moe))
        let s = try run(lab)
        XCTAssertEqual(s.step, 40)
        XCTAssertEqual(s.loadHistory.count, 2, "one load map per layer")
        XCTAssertEqual(s.loadHistory[0].count, 8, "eight routed experts")
        XCTAssertEqual(s.loadHistory[0][0].count, 40, "a column per step")
        // Relative loads average 1 over the experts in every column.
        for c in 0..<40 {
            let mean = (0..<8).map { s.loadHistory[1][$0][c] }.reduce(0, +) / 8
            XCTAssertEqual(mean, 1, accuracy: 1e-4)
        }
        XCTAssertEqual(s.maxOverMean.count, 40)
        XCTAssertTrue(s.maxOverMean.allSatisfy { $0.y >= 1 }, "max/mean is at least 1")
        XCTAssertTrue(s.entropy.allSatisfy { $0.y > 0 && $0.y <= 1.0001 })
        XCTAssertEqual(s.biases.count, 2)
        XCTAssertTrue(s.biases[0].contains { $0 != 0 }, "aux-free balancing moved the biases: \(s.biases[0])")
        XCTAssertEqual(s.probeExperts.count, 2)
        XCTAssertEqual(s.probeExperts[0].count, s.probeTokens.count)
        XCTAssertTrue(
            s.probeExperts[0].allSatisfy {
                $0.count == 2 && Set($0).count == 2 && $0.allSatisfy { (0..<8).contains($0) }
            })
        XCTAssertFalse(s.valLosses[0].isEmpty)
        XCTAssertTrue(try saved(lab).contains { $0.hasSuffix("model.safetensors") })
    }

    func testLoadHistoryHalvesWhenItFillsTheView() throws {
        var c = tiny(.moe, steps: DeepSeekLab.maxColumns * 2 + 10)
        c.layers = 1
        c.width = 32
        c.context = 16
        c.batch = 2
        c.evalEvery = 1000
        let s = try run(try DeepSeekLab(c))
        XCTAssertEqual(s.stepsPerColumn, 4)
        XCTAssertLessThan(s.loadHistory[0][0].count, DeepSeekLab.maxColumns)
        XCTAssertEqual(s.maxOverMean.count, c.steps, "the per-step curves keep every step")
    }

    func testFP8ViewTracksBothRunsAndTheGrid() throws {
        let lab = try DeepSeekLab(tiny(.fp8))
        let s = try run(lab)
        XCTAssertEqual(s.losses.count, 2)
        XCTAssertEqual(s.losses[0].count, 40)
        XCTAssertEqual(s.losses[1].count, 40)
        XCTAssertEqual(s.losses[0].first!.y, s.losses[1].first!.y, accuracy: 0.05, "same seed, same first batch")
        XCTAssertEqual(s.gap.count, 4, "a gap per evaluation")
        let last = s.gap.last!.y
        let expected = (s.valLosses[1].last!.y - s.valLosses[0].last!.y) / s.valLosses[0].last!.y * 100
        XCTAssertEqual(last, expected, accuracy: 1e-3)
        let h = try XCTUnwrap(s.histogram)
        XCTAssertEqual(h.outcomes.map(\.scaling), ["none", "tensor", "1×128"])
        for o in h.outcomes {
            XCTAssertEqual(o.bins.reduce(0, +), 1, accuracy: 1e-6)
            XCTAssertLessThan(o.relativeError, 0.1, "\(o)")
        }
        XCTAssertEqual(h.outcomes[2].saturated, 0, "tile scaling maps each tile's amax to 448")
        let files = try saved(lab)
        XCTAssertTrue(files.contains { $0.hasPrefix("fp32/") && $0.hasSuffix("model.safetensors") }, "\(files)")
        XCTAssertTrue(files.contains { $0.hasPrefix("fp8/") && $0.hasSuffix("model.safetensors") }, "\(files)")
    }

    /// Known magnitudes: unscaled, 1e-4 rounds to zero and 1000 saturates; one scale for the tensor
    /// keeps 1000 but sends 1e-4 and 0.01 to zero (the outlier set the scale); 1×128 tiles keep each
    /// row's values in range.
    func testFP8HistogramCountsWhatE4M3Loses() {
        var x = [Float](repeating: 0.5, count: 256)
        x[0] = 1e-4
        x[1] = 1000
        x[128] = 0.01
        let h = FP8Histogram(x, cols: 128, source: "synthetic")
        let none = h.outcomes[0]
        let tensor = h.outcomes[1]
        let tile = h.outcomes[2]
        XCTAssertEqual(none.underflow * 256, 1, accuracy: 1e-9)
        XCTAssertEqual(none.saturated * 256, 1, accuracy: 1e-9)
        XCTAssertEqual(tensor.saturated, 0)
        XCTAssertEqual(tensor.underflow * 256, 1, accuracy: 1e-9, "1e-4 · 448/1000 is below E4M3's smallest subnormal")
        XCTAssertEqual(tile.saturated, 0)
        XCTAssertEqual(tile.underflow * 256, 1, "1e-4 shares the row of 1000")
        XCTAssertLessThan(tile.relativeError, none.relativeError, "saturating 1000 at 448 costs the most")
    }

    func testMTPViewDecodesLikeGreedyAndComparesCaches() throws {
        let lab = try DeepSeekLab(tiny(.mtp))
        let s = try run(lab)
        XCTAssertEqual(s.mtpLosses.count, 40)
        XCTAssertEqual(s.acceptance.count, 3, "at start, step 20 and step 40")
        XCTAssertTrue(s.acceptance.allSatisfy { (0...1).contains($0.y) })
        XCTAssertTrue(s.matchesGreedy, "self-speculative decoding keeps greedy's text")
        XCTAssertFalse(s.speculative.isEmpty)
        XCTAssertEqual(s.speculativePrompt.count, 16)
        XCTAssertGreaterThanOrEqual(s.passRatio, 1)
        XCTAssertEqual(s.acceptanceByPosition.count, 2, "MTP depth 2: two draft positions")
        for (p1, p2) in zip(s.acceptanceByPosition[0], s.acceptanceByPosition[1]) {
            XCTAssertLessThanOrEqual(p2.y, p1.y, "a second draft counts only when the first was accepted")
        }
        let bytes = Dictionary(uniqueKeysWithValues: s.decode.map { ($0.name, $0.kvBytesPerToken) })
        // 2 layers × 64 wide: MHA keeps K and V (2·64 floats), GQA one head of 32 of each, MLA 64 + 16.
        XCTAssertEqual(bytes, ["mha": 2 * 2 * 64 * 4, "gqa": 2 * 2 * 32 * 4, "mla": 2 * (64 + 16) * 4])
        XCTAssertTrue(s.decode.allSatisfy { $0.tokensPerSecond > 0 })
    }

    func testScalingSweepFitsThenRunsItsPrediction() throws {
        var c = tiny(.scaling)
        c.sweep.budgets = [3e8, 1e9]
        c.sweep.widths = [16, 32]
        c.sweep.context = 16
        c.sweep.batch = 4
        c.sweep.corpusDocuments = 300
        c.predict = 3e9
        let lab = try DeepSeekLab(c)
        let s = try run(lab)
        XCTAssertEqual(s.runs.count, 4)
        XCTAssertEqual(Set(s.runs.map(\.budget)), [3e8, 1e9])
        let fit = try XCTUnwrap(s.fit)
        XCTAssertEqual(fit.minima.count, 2)
        let p = try XCTUnwrap(s.prediction)
        XCTAssertEqual(p.budget, 3e9)
        XCTAssertNotNil(p.measured, "the predicted run was trained and measured")
        XCTAssertTrue([16, 32].contains(p.width))
        XCTAssertEqual(s.step, s.totalSteps)
        XCTAssertNil(s.current)
        let dir = NSTemporaryDirectory() + "orrery-scaling-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try lab.save(to: dir)
        let folder = try SessionDirectory.current(dir)
        let json = try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: folder + "/scaling.json")))
        let o = try XCTUnwrap(json as? [String: Any])
        XCTAssertEqual((o["runs"] as? [Any])?.count, 4)
        XCTAssertNotNil((o["prediction"] as? [String: Any])?["measured_loss"])
    }

    func testConfigurationErrorsAreNamed() {
        var c = tiny(.moe)
        c.width = 2
        XCTAssertThrowsError(try DeepSeekLab(c)) { XCTAssertTrue("\($0)".contains("width"), "\($0)") }
        var s = tiny(.scaling)
        s.sweep.widths = [20]
        XCTAssertThrowsError(try DeepSeekLab(s)) { XCTAssertTrue("\($0)".contains("multiples of 16"), "\($0)") }
        s = tiny(.scaling)
        s.predict = .infinity
        XCTAssertThrowsError(try DeepSeekLab(s)) { XCTAssertTrue("\($0)".contains("predict"), "\($0)") }
    }
}
