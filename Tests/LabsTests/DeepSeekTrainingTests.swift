import Compute
import Foundation
import Labs
import Models
import XCTest

final class DeepSeekTrainingTests: XCTestCase {
    func moe(_ balancing: MoEBalancing, steps: Int) -> LMConfig {
        var c = LMConfig.tinyDeepSeek("moe", steps: steps)
        c.moe!.expertHidden = 56
        c.moe!.balancing = balancing
        return c
    }

    /// Three MoE GPTs on the same data and seed: with auxiliary-loss-free balancing the max/mean expert
    /// load after warm-up is lower than without balancing and no worse than with the auxiliary loss,
    /// at no worse validation loss.
    func testAuxFreeBalancingBalancesAtNoCostInLoss() throws {
        var load: [MoEBalancing: Float] = [:]
        var val: [MoEBalancing: Float] = [:]
        for b in MoEBalancing.allCases {
            let s = try LanguageSession(config: moe(b, steps: 160))
            var late: [Float] = []
            while s.step < s.config.steps {
                let m = s.trainStep()
                if s.step > 60, let l = m.expertLoad {
                    late.append(l.map { $0.max() ?? 0 }.reduce(0, +) / Float(l.count))
                }
            }
            load[b] = late.reduce(0, +) / Float(late.count)
            val[b] = s.evaluate()
        }
        let report = MoEBalancing.allCases.map {
            "\($0.rawValue): max/mean load \(String(format: "%.3f", load[$0]!)), val \(String(format: "%.4f", val[$0]!))"
        }.joined(separator: "; ")
        XCTAssertLessThan(load[.auxFree]!, load[.none]!, report)
        XCTAssertLessThanOrEqual(load[.auxFree]!, load[.auxLoss]! + 0.02, report)
        XCTAssertLessThanOrEqual(val[.auxFree]!, min(val[.none]!, val[.auxLoss]!) + 0.02, report)
        print("MoE balancing: " + report)
    }

    /// FP8-simulated training follows the FP32 run on the same seed (the loss falls just as far, within
    /// a few per cent), and a MoE GPT saves and loads with its router biases.
    func testFP8TrainingTracksFP32AndMoESavesItsBiases() throws {
        var losses: [Bool: Float] = [:]
        for fp8 in [false, true] {
            var c = moe(.auxFree, steps: 60)
            c.moe = nil
            c.fp8 = fp8
            let s = try LanguageSession(config: c)
            let before = s.evaluate()
            while s.step < s.config.steps { s.trainStep() }
            losses[fp8] = s.evaluate()
            XCTAssertLessThan(losses[fp8]!, before * 0.8)
        }
        let gap = (losses[true]! - losses[false]!) / losses[false]!
        XCTAssertLessThan(abs(gap), 0.05, "FP32 \(losses[false]!), FP8 \(losses[true]!)")

        let dir = NSTemporaryDirectory() + "orrery-moe-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let s = try LanguageSession(config: moe(.auxFree, steps: 10))
        while s.step < 10 { s.trainStep() }
        let biases = (s.model as! GPT).moeLayers.map { $0.bias.value.toArray() }
        XCTAssertTrue(biases.contains { $0.contains { $0 != 0 } }, "aux-free training moved the biases")
        try LanguageSessionDirectory.save(s, to: dir)
        let back = try LanguageSessionDirectory.resume(dir)
        XCTAssertEqual((back.model as! GPT).moeLayers.map { $0.bias.value.toArray() }, biases)
        XCTAssertEqual(back.evaluate(), s.evaluate(), accuracy: 1e-5)
    }
}
