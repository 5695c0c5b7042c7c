import Compute
import Foundation
import Labs
import Models
import TestSupport
import XCTest

final class SequenceLabTests: XCTestCase {
    /// A test-sized configuration: narrow OadTR, short streams.
    func small(_ models: [OADModelKind] = [.oadtr, .gru, .lstm], steps: Int = 60) -> SequenceLabConfig {
        var c = SequenceLabConfig()
        c.models = models
        c.oad.stream.features = 24
        c.oad.oadtr.features = 24
        c.oad.oadtr.width = 32
        c.oad.oadtr.heads = 2
        c.oad.oadtr.history = 16
        c.oad.oadtr.anticipation = 4
        c.oad.trainFrames = 4000
        c.oad.testFrames = 600
        c.oad.batch = 128
        c.oad.steps = steps
        c.oad.lr = 3e-3
        c.evalEvery = steps
        return c
    }

    /// Every detector's loss falls within a test-sized budget (mean of the last 10 steps against the
    /// first 10), and training lifts held-out mAP above the untrained detector's.
    func testLossesFallAndMAPRises() throws {
        let lab = try SequenceLab(small())
        lab.evaluate()
        let before = lab.latestEvaluations.map { $0!.mAP }
        while !lab.isFinished { try lab.advance() }
        for (i, t) in lab.trainers.enumerated() {
            let first = t.losses.prefix(10).reduce(0, +) / 10
            let last = t.losses.suffix(10).reduce(0, +) / 10
            XCTAssertLessThan(last, first - 0.2, "\(t.kind): \(first) → \(last)")
            let after = lab.latestEvaluations[i]!.mAP
            XCTAssertGreaterThan(after, before[i] + 0.05, "\(t.kind) mAP \(before[i]) → \(after)")
        }
        // OadTR's anticipation is scored at +1…+ℓ.
        XCTAssertEqual(lab.latestEvaluations[0]!.anticipation.count, 4)
    }

    /// The recurrent baselines are as large as OadTR (within 2 %): the comparison is at equal size.
    func testBaselinesHaveOadTRsSize() throws {
        let lab = try SequenceLab(small(steps: 1))
        let sizes = lab.trainers.map(\.parameterCount)
        for s in sizes.dropFirst() { XCTAssertLessThan(abs(Double(s - sizes[0])) / Double(sizes[0]), 0.02, "\(sizes)") }
    }

    /// Playing frames through the lab gives the same probabilities as batched inference over the
    /// held-out stream, for every detector; the snapshot carries the window, attention and anticipation.
    func testPlaybackIsStreamingInference() throws {
        let lab = try SequenceLab(small(steps: 5))
        while !lab.isFinished { try lab.advance() }
        lab.play(40)
        var snap = SequenceSnapshot()
        lab.publish(into: &snap)
        XCTAssertEqual(snap.now, 39)
        XCTAssertEqual(snap.recentLabels, Array(lab.data.test.labels[0..<40]))
        XCTAssertEqual(snap.attention.count, 16)
        XCTAssertEqual(snap.anticipated.count, 4)
        XCTAssertEqual(snap.futureLabels, Array(lab.data.test.labels[40..<44]))
        let oad = lab.trainer(.oadtr)!.oadtr!.predict(lab.data.test).probabilities
        let gru = lab.trainer(.gru)!.rnn!.predict(lab.data.test)
        for t in 0..<40 {
            for k in 0..<7 {
                XCTAssertEqual(snap.detectors[0].recent[t][k], oad[t][k], accuracy: 2e-5)
                XCTAssertEqual(snap.detectors[1].recent[t][k], gru[t][k], accuracy: 2e-5, "frame \(t)")
            }
        }
        lab.handle(.rewind)
        lab.publish(into: &snap)
        XCTAssertEqual(snap.now, -1)
        XCTAssertTrue(snap.recentLabels.isEmpty)
    }

    /// A saved session loads with the same weights (same held-out scores) and step; a directory of
    /// another lab or with a tampered shape is refused with the problem named.
    func testSaveAndLoad() throws {
        let dir = try temporaryDirectory("sequence-save")
        let lab = try SequenceLab(small([.oadtr, .gru], steps: 8))
        while !lab.isFinished { try lab.advance() }
        try lab.save(to: dir + "/s")
        let back = try SequenceLab.load(from: dir + "/s")
        XCTAssertEqual(back.step, 8)
        back.evaluate()
        XCTAssertEqual(back.latestEvaluations[0]!.mAP, lab.latestEvaluations[0]!.mAP, accuracy: 1e-9)
        XCTAssertEqual(back.latestEvaluations[1]!.mAP, lab.latestEvaluations[1]!.mAP, accuracy: 1e-9)
        XCTAssertThrowsError(try GANLab.load(from: dir + "/s")) { e in
            XCTAssertTrue("\(e)".contains("format") || "\(e)".contains("sequence"), "\(e)")
        }
    }

    func testConfigurationErrorsAreNamed() {
        var c = small()
        c.models = []
        XCTAssertThrowsError(try SequenceLab(c)) { XCTAssertTrue("\($0)".contains("models")) }
        c = small()
        c.oad.oadtr.heads = 5
        XCTAssertThrowsError(try SequenceLab(c)) { XCTAssertTrue("\($0)".contains("heads")) }
        c = small()
        c.oad.oadtr.features = 10
        XCTAssertThrowsError(try SequenceLab(c)) { XCTAssertTrue("\($0)".contains("features")) }
    }
}
