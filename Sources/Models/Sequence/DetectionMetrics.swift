// How online action detection is scored (as in the OadTR and TRN papers on THUMOS'14): per-frame
// average precision of each action class over the whole held-out stream, averaged over the action
// classes (background excluded) — mAP; plus frame accuracy, detection latency and anticipation
// accuracy.
//
// Average precision is the area under the precision-recall curve taken as a step function over the
// distinct score thresholds, AP = Σ_n (R_n − R_{n−1}) P_n (scikit-learn's average_precision_score):
// frames with equal scores enter together, so ties neither help nor hurt by their order. A class with
// no positive frame has no AP and is left out of the mean (its AP is nil).
import Foundation

public enum DetectionMetrics {
    /// AP of `scores` against `positives` (nil when there is no positive).
    public static func averagePrecision(scores: [Float], positives: [Bool]) -> Double? {
        precondition(scores.count == positives.count, "AP: \(scores.count) scores for \(positives.count) labels")
        let total = positives.filter { $0 }.count
        guard total > 0 else { return nil }
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        var ap = 0.0
        var tp = 0
        var seen = 0
        var lastRecall = 0.0
        var i = 0
        while i < order.count {
            // One threshold: every frame with this score.
            let s = scores[order[i]]
            var j = i
            while j < order.count && scores[order[j]] == s {
                if positives[order[j]] { tp += 1 }
                seen += 1
                j += 1
            }
            let recall = Double(tp) / Double(total)
            let precision = Double(tp) / Double(seen)
            ap += (recall - lastRecall) * precision
            lastRecall = recall
            i = j
        }
        return ap
    }

    /// Per-class AP of classes 1..<K (index 0, background, is nil) and their mean over classes that
    /// have positives (NaN when no class has any: there is nothing to score).
    public static func meanAveragePrecision(probabilities: [[Float]], labels: [Int]) -> (
        mAP: Double, perClass: [Double?]
    ) {
        precondition(probabilities.count == labels.count, "mAP: \(probabilities.count) frames, \(labels.count) labels")
        let K = probabilities.first?.count ?? 0
        var per: [Double?] = [nil]
        for c in 1..<Swift.max(1, K) {
            per.append(averagePrecision(scores: probabilities.map { $0[c] }, positives: labels.map { $0 == c }))
        }
        let present = per.compactMap { $0 }
        return (present.isEmpty ? .nan : present.reduce(0, +) / Double(present.count), per)
    }

    /// Fraction of frames whose most probable class is the label.
    public static func accuracy(probabilities: [[Float]], labels: [Int]) -> Double {
        guard !labels.isEmpty else { return 0 }
        var right = 0
        for (p, y) in zip(probabilities, labels) where argmax(p) == y { right += 1 }
        return Double(right) / Double(labels.count)
    }

    /// Detection latency: for each action segment, frames from its first frame to the first frame of
    /// it where the action is the most probable class with probability ≥ `confidence`. Returns the
    /// mean over detected segments and the fraction never detected inside the segment.
    public static func latency(probabilities: [[Float]], segments: [ActionSegment], confidence: Float = 0.5) -> (
        meanFrames: Double, missed: Double
    ) {
        var total = 0
        var detected = 0
        for s in segments {
            for i in s.start..<Swift.min(s.end, probabilities.count) {
                let p = probabilities[i]
                if argmax(p) == s.action && p[s.action] >= confidence {
                    total += i - s.start
                    detected += 1
                    break
                }
            }
        }
        guard !segments.isEmpty else { return (0, 0) }
        return (
            detected > 0 ? Double(total) / Double(detected) : .nan, 1 - Double(detected) / Double(segments.count)
        )
    }

    /// Accuracy of the anticipated class at +1…+ℓ: `anticipated[t][k − 1]` is the class predicted at
    /// frame t for frame t + k (frames past the end are not counted).
    public static func anticipationAccuracy(anticipated: [[Int]], labels: [Int]) -> [Double] {
        guard let l = anticipated.first?.count else { return [] }
        return (1...Swift.max(1, l)).prefix(l).map { k in
            var right = 0
            var n = 0
            for t in anticipated.indices where t + k < labels.count {
                n += 1
                if anticipated[t][k - 1] == labels[t + k] { right += 1 }
            }
            return n > 0 ? Double(right) / Double(n) : 0
        }
    }
}
