import Compute
import Models
import NN
import TestSupport
import XCTest

final class ActionStreamTests: XCTestCase {
    /// Every frame inside a generated segment carries its action, every other frame is background,
    /// segments are in order, inside the stream and separated by at least the minimum gap; false
    /// starts lie in background; the same seed gives the same stream and another seed another.
    func testLabelsMatchTheGeneratorsSegments() {
        let c = ActionStreamConfig()
        let s = ActionStream(c, frames: 3000, seed: 5)
        XCTAssertGreaterThan(s.segments.count, 30)
        var expected = [Int](repeating: 0, count: s.frames)
        var lastEnd = 0
        for seg in s.segments {
            XCTAssertGreaterThanOrEqual(seg.start - lastEnd, c.minGap)
            XCTAssert((c.minLength...c.maxLength).contains(seg.length))
            XCTAssert((1...ActionStream.actions).contains(seg.action))
            XCTAssertLessThanOrEqual(seg.end, s.frames)
            for t in seg.start..<seg.end { expected[t] = seg.action }
            lastEnd = seg.end
        }
        XCTAssertEqual(s.labels, expected)
        XCTAssertFalse(s.falseStartSegments.isEmpty)
        for f in s.falseStartSegments {
            for t in f.start..<(f.start + f.length) {
                XCTAssertEqual(s.labels[t], 0, "false start at \(t) is background")
            }
        }
        // Every action occurs.
        XCTAssertEqual(Set(s.segments.map(\.action)), Set(1...6))
        let again = ActionStream(c, frames: 3000, seed: 5)
        XCTAssertEqual(again.features, s.features)
        XCTAssertEqual(again.segments, s.segments)
        XCTAssertNotEqual(ActionStream(c, frames: 3000, seed: 6).segments, s.segments)
    }

    /// Twins share their first phase pattern and differ in the others; the first 35 % of an action is
    /// phase 0 alone, so the twins' starts are drawn from the same distribution.
    func testTwinsShareTheirStartOnly() {
        let P = ActionStream.patterns(ActionStreamConfig())
        for a in stride(from: 1, through: 5, by: 2) {
            XCTAssertEqual(P[a][0], P[ActionStream.twin(of: a)][0])
            XCTAssertNotEqual(P[a][1], P[a + 1][1])
            XCTAssertNotEqual(P[a][2], P[a + 1][2])
            XCTAssertNotEqual(P[a][0], P[a == 5 ? 1 : a + 2][0])
        }
        XCTAssert(ActionStream.phaseWeights(0.2) == (1, 0, 0))
        XCTAssert(ActionStream.phaseWeights(0.6) == (0, 1, 0))
        XCTAssert(ActionStream.phaseWeights(0.95) == (0, 0, 1))
        let w = ActionStream.phaseWeights(0.4)
        XCTAssertEqual(w.0 + w.1 + w.2, 1, accuracy: 1e-6)
    }

    /// Windows before the stream began are zero frames; futures past its end are ignored (−100).
    func testWindowsAndFuturesAtTheEdges() {
        let s = ActionStream(ActionStreamConfig(), frames: 100, seed: 1)
        let F = s.config.features
        let w = s.window(endingAt: 2, length: 5)
        XCTAssertEqual(Array(w[0..<(2 * F)]), [Float](repeating: 0, count: 2 * F))
        XCTAssertEqual(Array(w[(2 * F)..<(5 * F)]), Array(s.features[0..<(3 * F)]))
        XCTAssertEqual(s.future(after: 97, count: 4), [s.labels[98], s.labels[99], -100, -100])
    }
}

final class DetectionMetricsTests: XCTestCase {
    /// A hand-made example with a tie and a class without positives. Class 1's positives are frames 0,
    /// 2 and 4; sorted by score: 0.9 (positive) → recall 1/3 at precision 1; the tie at 0.8 (one
    /// negative, one positive) enters as one threshold → recall 2/3 at precision 2/3; 0.3 (negative)
    /// adds no recall; 0.1 (positive) → recall 1 at precision 3/5. AP = 1/3 + (1/3)(2/3) + (1/3)(3/5)
    /// = 34/45. Class 2 has no positive frame: no AP, and it is left out of the mean.
    func testMeanAveragePrecisionByHand() {
        let labels = [1, 0, 1, 0, 1, 0]
        let p1: [Float] = [0.9, 0.8, 0.8, 0.3, 0.1, 0.05]
        let p2: [Float] = [0.05, 0.1, 0.1, 0.2, 0.2, 0.3]
        let probs = (0..<6).map { [1 - p1[$0] - p2[$0], p1[$0], p2[$0]] }
        let ap1 = DetectionMetrics.averagePrecision(scores: p1, positives: labels.map { $0 == 1 })
        XCTAssertEqual(ap1!, 34.0 / 45.0, accuracy: 1e-12)
        // The tie's order does not matter: swap the tied frames' order in the input.
        let swapped = DetectionMetrics.averagePrecision(
            scores: [0.9, 0.8, 0.8, 0.3, 0.1, 0.05], positives: [true, true, false, false, true, false])
        XCTAssertEqual(swapped!, 34.0 / 45.0, accuracy: 1e-12)
        XCTAssertNil(DetectionMetrics.averagePrecision(scores: p2, positives: labels.map { $0 == 2 }))
        let (mAP, per) = DetectionMetrics.meanAveragePrecision(probabilities: probs, labels: labels)
        XCTAssertEqual(per.count, 3)
        XCTAssertNil(per[0])
        XCTAssertNil(per[2])
        XCTAssertEqual(mAP, 34.0 / 45.0, accuracy: 1e-12)
        // A perfect ranking has AP 1; all scores tied gives the positive rate.
        XCTAssertEqual(DetectionMetrics.averagePrecision(scores: [3, 2, 1], positives: [true, false, false])!, 1)
        XCTAssertEqual(
            DetectionMetrics.averagePrecision(scores: [1, 1, 1, 1], positives: [true, false, false, false])!, 0.25)
    }

    func testAccuracyLatencyAndAnticipation() {
        let labels = [0, 2, 2, 2, 0]
        let probs: [[Float]] = [[0.9, 0, 0.1], [0.6, 0, 0.4], [0.4, 0, 0.6], [0.2, 0, 0.8], [0.7, 0, 0.3]]
        XCTAssertEqual(DetectionMetrics.accuracy(probabilities: probs, labels: labels), 0.8, accuracy: 1e-12)
        let seg = [ActionSegment(start: 1, length: 3, action: 2)]
        let l = DetectionMetrics.latency(probabilities: probs, segments: seg)
        XCTAssertEqual(l.meanFrames, 1)
        XCTAssertEqual(l.missed, 0)
        let never = DetectionMetrics.latency(probabilities: probs, segments: seg, confidence: 0.9)
        XCTAssertEqual(never.missed, 1)
        // Predicted at t for t+1 and t+2.
        let ant = [[2, 2], [2, 0], [0, 0], [0, 0], [0, 0]]
        XCTAssertEqual(DetectionMetrics.anticipationAccuracy(anticipated: ant, labels: labels), [3.0 / 4.0, 2.0 / 3.0])
    }
}

final class OnlineDetectorTests: XCTestCase {
    func smallOadTR(_ edit: (inout OadTRConfig) -> Void = { _ in }) -> OadTR {
        var c = OadTRConfig()
        c.features = 16
        c.width = 16
        c.heads = 2
        c.history = 6
        c.anticipation = 3
        edit(&c)
        return OadTR(c, seed: 3)
    }

    func stream(features: Int, frames: Int) -> ActionStream {
        var c = ActionStreamConfig()
        c.features = features
        return ActionStream(c, frames: frames, seed: 2)
    }

    /// Streaming inference, one frame at a time with the cached window of embeddings, gives what
    /// batched inference over every window gives — with and without a task token and a decoder.
    func testOadTRStreamingEqualsBatched() {
        let s = stream(features: 16, frames: 40)
        for edit in [{ (_: inout OadTRConfig) in }, { $0.taskToken = false }, { $0.decoder = false }] {
            let m = smallOadTR(edit)
            let (batched, anticipated) = m.predict(s, chunk: 7)
            let live = OadTRStream(m)
            for t in 0..<s.frames {
                let o = live.push(Array(s.features[(t * 16)..<((t + 1) * 16)]), attention: t % 9 == 0)
                for k in 0..<7 { XCTAssertEqual(o.probabilities[k], batched[t][k], accuracy: 2e-5, "frame \(t)") }
                if m.config.decoder {
                    XCTAssertEqual(o.anticipated.map { argmax($0) }, anticipated[t], "frame \(t)")
                }
                if t % 9 == 0 {
                    XCTAssertEqual(o.attention.count, 6)
                    // Over the frames only: the task token also attends to itself, so its row sums below 1.
                    let sum = o.attention.reduce(0, +)
                    if m.config.taskToken {
                        XCTAssert(sum > 0 && sum < 1)
                    } else {
                        XCTAssertEqual(sum, 1, accuracy: 1e-5)
                    }
                }
            }
        }
    }

    func testRecurrentStreamingEqualsBatched() {
        let s = stream(features: 12, frames: 50)
        for kind in OnlineRNNConfig.Kind.allCases {
            var c = OnlineRNNConfig()
            c.kind = kind
            c.features = 12
            c.hidden = 10
            let m = OnlineRNN(c, seed: 4)
            let batched = m.predict(s)
            let live = OnlineRNNStream(m)
            for t in 0..<s.frames {
                let p = live.push(Array(s.features[(t * 12)..<((t + 1) * 12)]))
                for k in 0..<7 { XCTAssertEqual(p[k], batched[t][k], accuracy: 2e-5, "\(kind) frame \(t)") }
            }
        }
    }

    /// The recurrent width is chosen so the parameter count matches OadTR's within 2 %.
    func testBaselinesMatchOadTRsParameterCount() {
        let target = OadTR(OadTRConfig(), seed: 1).parameterCount
        for kind in OnlineRNNConfig.Kind.allCases {
            var c = OnlineRNNConfig()
            c.kind = kind
            c.hidden = OnlineRNNConfig.hidden(matching: target, kind: kind, features: 64, classes: 7)
            let n = OnlineRNN(c, seed: 1).parameterCount
            XCTAssertEqual(n, c.parameterCount)
            XCTAssertLessThan(abs(Double(n - target)) / Double(target), 0.02, "\(kind): \(n) vs \(target)")
        }
    }
}
