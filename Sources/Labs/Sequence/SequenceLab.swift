// The sequence lab as a runnable session: trains one or more online action detectors (OadTR and the
// GRU by default, side by side on the same stream, same budget) and plays the held-out stream through
// each one frame at a time with its cached state — what the sequence screen scrolls. Every
// `evalEvery` steps (and at the end) each detector is scored on the whole held-out stream.
import Compute
import Foundation
import Models
import NN

public struct SequenceLabConfig: Codable, Equatable, Sendable, ImageLabConfig {
    public var oad = OADConfig()
    /// The detectors trained side by side (the first is shown first).
    public var models: [OADModelKind] = [.oadtr, .gru]
    public var evalEvery = 250
    public init() {}

    public func validate() throws {
        try oad.validate()
        if models.isEmpty || models.count > 3 || Set(models).count != models.count {
            throw SessionError.config("models must be 1…3 distinct detectors (oadtr, gru, lstm)")
        }
        if !(1...1_000_000).contains(evalEvery) { throw SessionError.config("eval-every must be 1…1000000") }
    }
}

/// One detector's part of a snapshot.
public struct DetectorView: Sendable {
    public var kind: OADModelKind = .oadtr
    public var describe = ""
    public var parameters = 0
    public var step = 0
    public var losses: [(x: Double, y: Double)] = []
    /// (step, held-out mAP) at each evaluation.
    public var evals: [(step: Double, mAP: Double)] = []
    public var lastEval: OADEvaluation?
    /// Class probabilities of the last `window` frames played, oldest first.
    public var recent: [[Float]] = []
    public init() {}
}

public struct SequenceSnapshot: Sendable {
    public var step = 0, totalSteps = 0
    public var config = SequenceLabConfig()
    public var detectors: [DetectorView] = []
    /// The newest frame played ("now") in the held-out stream, and its true labels of the last
    /// `window` frames, oldest first.
    public var now = -1
    public var recentLabels: [Int] = []
    /// The true classes of the ℓ frames after now (the held-out stream is known; shown against the
    /// anticipation).
    public var futureLabels: [Int] = []
    /// OadTR at now: attention of its task token over the history (oldest first) and the anticipated
    /// frames' probabilities [ℓ][classes].
    public var attention: [Float] = []
    public var anticipated: [[Float]] = []
    public init() {}
}

public enum SequenceCommand: Sendable {
    /// Play `frames` more frames of the held-out stream.
    case play(frames: Int)
    /// Play from the start of the held-out stream again (the detectors' streaming state reset).
    case rewind
    /// Score every detector on the held-out stream now.
    case evaluate
}

public final class SequenceLab: SteppedSession {
    public let config: SequenceLabConfig
    public let data: OADData
    public let trainers: [OADTrainer]
    public static let window = 240
    var evals: [[(step: Double, mAP: Double)]]
    var lastEvals: [OADEvaluation?]
    // Streaming playback.
    var oadStream: OadTRStream?
    var rnnStreams: [Int: OnlineRNNStream] = [:]
    var now = -1
    var recentLabels: [Int] = []
    var recent: [[[Float]]]
    var attention: [Float] = []
    var anticipated: [[Float]] = []

    public init(_ config: SequenceLabConfig) throws {
        try config.validate()
        self.config = config
        let data = OADData(config.oad)
        self.data = data
        trainers = try config.models.map { try OADTrainer($0, config: config.oad, data: data) }
        evals = Array(repeating: [], count: trainers.count)
        lastEvals = Array(repeating: nil, count: trainers.count)
        recent = Array(repeating: [], count: trainers.count)
        rewind()
    }

    public var step: Int { trainers.map(\.step).min() ?? 0 }
    public var isFinished: Bool { trainers.allSatisfy(\.isFinished) }
    public func trainer(_ kind: OADModelKind) -> OADTrainer? { trainers.first { $0.kind == kind } }

    public func advance() throws {
        for t in trainers where !t.isFinished {
            t.trainStep()
            if t.divergence.diverged {
                throw SessionError.diverged(step: t.step, rollbacks: t.divergence.rollbacks)
            }
        }
        if step % config.evalEvery == 0 || isFinished { evaluate() }
    }

    /// Scores every detector on the whole held-out stream.
    public func evaluate() {
        for (i, t) in trainers.enumerated() {
            let e = t.evaluate()
            lastEvals[i] = e
            if evals[i].last?.step != Double(t.step) { evals[i].append((Double(t.step), e.mAP)) }
        }
    }

    /// Evaluations so far (per detector, in `trainers` order).
    public var latestEvaluations: [OADEvaluation?] { lastEvals }

    func rewind() {
        oadStream = trainer(.oadtr).flatMap { $0.oadtr }.map { OadTRStream($0) }
        rnnStreams = [:]
        for (i, t) in trainers.enumerated() { if let r = t.rnn { rnnStreams[i] = OnlineRNNStream(r) } }
        now = -1
        recentLabels = []
        recent = Array(repeating: [], count: trainers.count)
        attention = []
        anticipated = []
    }

    /// Plays `n` frames through every detector, one frame at a time with cached state.
    public func play(_ n: Int) {
        let test = data.test
        let F = test.config.features
        for k in 0..<n {
            if now + 1 >= test.frames { rewind() }
            now += 1
            let frame = Array(test.features[(now * F)..<((now + 1) * F)])
            let last = k == n - 1
            for (i, t) in trainers.enumerated() {
                t.module.train(false)
                let p: [Float]
                if t.kind == .oadtr, let s = oadStream {
                    let o = s.push(frame, attention: last)
                    p = o.probabilities
                    if last {
                        attention = o.attention
                        anticipated = o.anticipated
                    }
                } else {
                    p = rnnStreams[i]!.push(frame)
                }
                t.module.train(true)
                recent[i].append(p)
                if recent[i].count > SequenceLab.window { recent[i].removeFirst(recent[i].count - SequenceLab.window) }
            }
            recentLabels.append(test.labels[now])
            if recentLabels.count > SequenceLab.window {
                recentLabels.removeFirst(recentLabels.count - SequenceLab.window)
            }
        }
    }

    public func handle(_ command: SequenceCommand) {
        switch command {
        case .play(let n): play(Swift.max(0, Swift.min(n, 10_000)))
        case .rewind: rewind()
        case .evaluate: evaluate()
        }
    }

    public func publish(into s: inout SequenceSnapshot) {
        s.step = step
        s.totalSteps = config.oad.steps
        s.config = config
        if s.detectors.count != trainers.count { s.detectors = trainers.map { _ in DetectorView() } }
        for (i, t) in trainers.enumerated() {
            var d = s.detectors[i]
            d.kind = t.kind
            d.describe = t.describe
            d.parameters = t.parameterCount
            d.step = t.step
            if d.losses.count > t.losses.count { d.losses = [] }
            for k in d.losses.count..<t.losses.count { d.losses.append((Double(k + 1), Double(t.losses[k]))) }
            d.evals = evals[i]
            d.lastEval = lastEvals[i]
            d.recent = recent[i]
            s.detectors[i] = d
        }
        s.now = now
        s.recentLabels = recentLabels
        let ell = config.oad.oadtr.anticipation
        s.futureLabels = now >= 0 ? data.test.future(after: now, count: ell) : []
        s.attention = attention
        s.anticipated = anticipated
    }

    public func save(to directory: String) throws { try SequenceLab.save(self, to: directory) }

    func resume(at step: Int) { for t in trainers { t.resume(at: step) } }
}

public typealias SequenceRunner = SessionRunner<SequenceLab>

extension SessionRunner where Session == SequenceLab {
    public static func sequence(_ config: SequenceLabConfig) -> SequenceRunner {
        var initial = SequenceSnapshot()
        initial.totalSteps = config.oad.steps
        initial.config = config
        return SequenceRunner(title: "Sequence lab", initial: initial) { try SequenceLab(config) }
    }

    /// A saved (or shipped) session, shown as it was.
    public static func sequence(
        loading files: @escaping @Sendable () throws -> SequenceLab, config: SequenceLabConfig, savedIn: String?,
        shipped: Bool = false
    ) -> SequenceRunner {
        var initial = SequenceSnapshot()
        initial.totalSteps = config.oad.steps
        initial.config = config
        return SequenceRunner(
            title: "Sequence lab", initial: initial, savedIn: savedIn, loadedIsSaved: shipped, make: files)
    }
}

extension SequenceLab {
    public static let format = "orrery-sequence-session-1"

    static func networks(_ lab: SequenceLab) -> [(prefix: String, module: Module)] {
        lab.trainers.map { ("\($0.kind.rawValue).", $0.module) }
    }

    public static func save(_ lab: SequenceLab, to directory: String) throws {
        var metrics: [String: Double] = [:]
        for (t, e) in zip(lab.trainers, lab.lastEvals) {
            if let e { metrics["\(t.kind.rawValue)_map"] = e.mAP }
        }
        try ImageCheckpoint.save(
            format: format, lab: "sequence", step: lab.step, config: lab.config, networks: networks(lab),
            metrics: metrics, to: directory)
    }

    public static func load(from directory: String) throws -> SequenceLab {
        try load(ImageCheckpoint.directory(directory))
    }

    /// Loads a saved session (weights, configuration and step; optimizers start afresh) and scores it.
    public static func load(_ files: SnapshotFiles) throws -> SequenceLab {
        let (manifest, weights) = try ImageCheckpoint.open(
            SequenceLabConfig.self, format: format, lab: "sequence", files: files)
        let lab = try SequenceLab(manifest.config)
        try ImageCheckpoint.restore(networks(lab), from: weights, label: files.label)
        lab.resume(at: manifest.step)
        lab.rewind()
        return lab
    }
}
