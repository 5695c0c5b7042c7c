// Training and evaluation of one online action detector (OadTR, or the GRU/LSTM it replaced) on the
// synthetic action stream. The budget is the field's usual one — the same training data: every step,
// each detector learns from the labels of `batch` training frames. OadTR gets `batch` windows (each
// the T frames up to a labelled frame, plus the ℓ frames after it for anticipation); a recurrent
// detector gets `batch / T` contiguous chunks of T frames, every frame labelled, its state carried
// from chunk to chunk. OadTR pays for its window with compute (T + 1 tokens per labelled frame against
// one recurrent step): the training times are reported beside the scores. The recurrent width is
// chosen so the parameter count matches OadTR's.
import Compute
import Foundation
import Models
import NN

public enum OADModelKind: String, Codable, CaseIterable, Sendable {
    case oadtr, gru, lstm
    public var title: String {
        switch self {
        case .oadtr: return "OadTR"
        case .gru: return "GRU"
        case .lstm: return "LSTM"
        }
    }
}

/// The OadTR paper's ablations (each one switch away from the full model).
public enum OADAblation: String, Codable, CaseIterable, Sendable {
    case none
    case noTaskToken = "no-task-token"
    case noPosition = "no-position"
    case noDecoder = "no-decoder"
    case shortHistory = "short-history"

    public func apply(_ c: OadTRConfig) -> OadTRConfig {
        var c = c
        switch self {
        case .none: break
        case .noTaskToken: c.taskToken = false
        case .noPosition: c.positionEncoding = false
        case .noDecoder: c.decoder = false
        case .shortHistory: c.history = Swift.max(1, c.history / 4)
        }
        return c
    }
}

public struct OADConfig: Codable, Equatable, Sendable {
    public var stream = ActionStreamConfig()
    /// Frames of the training and the held-out stream.
    public var trainFrames = 40_000, testFrames = 8_000
    /// Seed of the streams (the same for every model compared).
    public var dataSeed: UInt64 = 1
    public var oadtr = OadTRConfig()
    /// Training steps (optimizer updates).
    public var steps = 1500
    /// Labelled training frames per step: OadTR windows, or recurrent chunks × T.
    public var batch = 512
    public var lr: Float = 1e-3
    public var weightDecay: Float = 0.01
    /// Seed of the weights and the batches.
    public var seed: UInt64 = 1
    public init() {}

    public func validate() throws {
        func check(_ ok: Bool, _ what: String) throws { if !ok { throw SessionError.config(what) } }
        do {
            try stream.validate()
            try oadtr.validate()
        } catch { throw SessionError.config("\(error)") }
        try check(
            oadtr.features == stream.features,
            "OadTR reads \(oadtr.features) features, the stream has \(stream.features)")
        try check(oadtr.classes == ActionStream.classes, "OadTR must have \(ActionStream.classes) classes")
        try check(
            trainFrames >= 2 * oadtr.history && trainFrames <= 1_000_000,
            "train frames must be \(2 * oadtr.history)…1000000 (twice the history at least), got \(trainFrames)")
        let minTest = Swift.max(16, 2 * (oadtr.history + oadtr.anticipation))
        try check(
            testFrames >= minTest && testFrames <= 100_000,
            "test frames must be \(minTest)…100000 (twice history + anticipation at least), got \(testFrames)")
        try check(steps >= 1 && steps <= 10_000_000, "steps must be 1…10000000, got \(steps)")
        try check(batch >= 1 && batch <= 4096, "batch must be 1…4096, got \(batch)")
        try check(batch >= oadtr.history, "batch (labelled frames per step) must be ≥ history \(oadtr.history)")
        try check(trainFrames >= 2 * batch, "train frames must be at least twice the batch")
        try check(lr > 0 && lr <= 1, "learning rate must be in (0, 1], got \(lr)")
        try check(weightDecay >= 0 && weightDecay <= 1, "weight decay must be 0…1")
    }

    /// The recurrent detector of `kind` with OadTR's parameter count.
    public func rnnConfig(_ kind: OnlineRNNConfig.Kind) -> OnlineRNNConfig {
        var c = OnlineRNNConfig()
        c.kind = kind
        c.features = stream.features
        c.classes = ActionStream.classes
        c.hidden = OnlineRNNConfig.hidden(
            matching: OadTR(oadtr, seed: 0).parameterCount, kind: kind, features: c.features, classes: c.classes)
        return c
    }
}

/// The held-out scores of a detector.
public struct OADEvaluation: Sendable, Equatable {
    public var mAP = 0.0
    /// AP per class (index 0, background, nil).
    public var perClass: [Double?] = []
    public var accuracy = 0.0
    /// Mean frames from an action's start to a confident detection, and the fraction never detected.
    public var latency = 0.0, missed = 0.0
    /// Accuracy of the anticipated class at +1…+ℓ (OadTR with a decoder only).
    public var anticipation: [Double] = []
    public init() {}

    public static func measure(probabilities: [[Float]], anticipated: [[Int]], stream: ActionStream) -> OADEvaluation {
        var e = OADEvaluation()
        (e.mAP, e.perClass) = DetectionMetrics.meanAveragePrecision(probabilities: probabilities, labels: stream.labels)
        e.accuracy = DetectionMetrics.accuracy(probabilities: probabilities, labels: stream.labels)
        (e.latency, e.missed) = DetectionMetrics.latency(probabilities: probabilities, segments: stream.segments)
        e.anticipation = DetectionMetrics.anticipationAccuracy(anticipated: anticipated, labels: stream.labels)
        return e
    }
}

/// The streams of a configuration. Training never sees the same frame twice: each epoch's stream is
/// a fresh one (a detector reads `trainFrames` frames of it, then moves to the next epoch's), as a
/// camera keeps producing new footage — a fixed stream read 40 times over was memorised (its noise
/// included) and held-out mAP fell as training went on. The held-out stream is built once and
/// shared by every detector compared.
public final class OADData: @unchecked Sendable {
    public let config: OADConfig
    public let test: ActionStream
    public init(_ c: OADConfig) {
        config = c
        test = ActionStream(c.stream, frames: c.testFrames, seed: c.dataSeed &* 1_000_003 &+ 23)
    }

    /// The training stream of `epoch`.
    public func train(epoch: Int) -> ActionStream {
        ActionStream(
            config.stream, frames: config.trainFrames,
            seed: config.dataSeed &* 1_000_003 &+ 11 &+ UInt64(epoch) &* 7919)
    }
}

public final class OADTrainer {
    public let kind: OADModelKind
    public let config: OADConfig
    public let data: OADData
    public let oadtr: OadTR?
    public let rnn: OnlineRNN?
    public let optimizer: Adam
    public let divergence: DivergenceGuard
    let schedule: WarmupCosine
    public private(set) var step = 0
    /// Training loss per step (OadTR: current + λ·anticipation), and OadTR's two parts.
    public private(set) var losses: [Float] = []
    public private(set) var currentLosses: [Float] = [], futureLosses: [Float] = []
    var rng: RNG
    var rnnState: RecurrentState?
    var cursor = 0
    /// The training stream being read, its epoch, and the frames read from it.
    /// The current epoch's stream (built at the first training step: scoring alone never needs it).
    public var train: ActionStream {
        if let s = trainStream { return s }
        let s = data.train(epoch: epoch)
        trainStream = s
        return s
    }
    var trainStream: ActionStream?
    public private(set) var epoch = 0
    var framesRead = 0
    /// Time spent in training steps (the budget comparison reports it).
    public private(set) var trainSeconds = 0.0

    public init(_ kind: OADModelKind, config: OADConfig, data: OADData? = nil) throws {
        try config.validate()
        self.kind = kind
        self.config = config
        self.data = data ?? OADData(config)
        let module: Module
        switch kind {
        case .oadtr:
            let m = OadTR(config.oadtr, seed: config.seed)
            oadtr = m
            rnn = nil
            module = m
        case .gru, .lstm:
            let m = OnlineRNN(config.rnnConfig(kind == .gru ? .gru : .lstm), seed: config.seed)
            rnn = m
            oadtr = nil
            module = m
        }
        optimizer = Adam.adamW(
            module.namedParameters(), lr: config.lr, betas: (0.9, 0.999), weightDecay: config.weightDecay)
        divergence = DivergenceGuard(parameters: module.parameters, optimizer: optimizer)
        divergence.remember(step: 0)
        schedule = WarmupCosine(
            peak: config.lr, warmup: Swift.min(100, config.steps / 10), total: config.steps, minLR: config.lr / 10)
        rng = RNG(seed: config.seed &+ 9)
    }

    /// Moves to the next epoch's stream once this one's frames have all been read.
    func nextEpochIfRead() {
        guard framesRead >= train.frames else { return }
        epoch += 1
        trainStream = nil
        framesRead = 0
        cursor = 0
        rnnState = nil
    }

    public var module: Module { (oadtr as Module?) ?? rnn! }
    public var parameterCount: Int { module.parameterCount }
    public var isFinished: Bool { step >= config.steps }

    /// What the detector is, in words.
    public var describe: String {
        if let m = oadtr {
            let c = m.config
            var s = "OadTR \(c.encoderLayers)+\(c.decoder ? c.decoderLayers : 0) layers × \(c.width), T \(c.history)"
            if c.decoder { s += ", ℓ \(c.anticipation)" }
            if !c.taskToken { s += ", no task token" }
            if !c.positionEncoding { s += ", no positions" }
            return s + ", \(parameterCount) params"
        }
        return "\(kind.title) \(rnn!.config.hidden) hidden, \(parameterCount) params"
    }

    /// One optimizer step; returns the loss (NaN: the step was skipped).
    @discardableResult
    public func trainStep() -> Float {
        let started = Date()
        defer { trainSeconds += Date().timeIntervalSince(started) }
        module.train(true)
        module.zeroGrad()
        let loss: Tensor
        var parts: (Float, Float) = (.nan, .nan)
        nextEpochIfRead()
        if let m = oadtr {
            let c = m.config
            let B = config.batch
            var w: [Float] = []
            w.reserveCapacity(B * c.history * c.features)
            var current: [Int] = []
            var future: [Int] = []
            for _ in 0..<B {
                let t = rng.int(below: train.frames)
                w += train.window(endingAt: t, length: c.history)
                current.append(train.labels[t])
                future += train.future(after: t, count: c.anticipation)
            }
            framesRead += B  // one epoch: as many labelled windows as the stream has frames
            let (l, lc, lf) = m.loss(
                Tensor(shape: [B, c.history, c.features], data: w), current: current, future: future)
            loss = l
            parts = (lc, lf)
        } else {
            let m = rnn!
            let L = config.oadtr.history
            let B = Swift.max(1, config.batch / L)
            let F = config.stream.features
            let section = train.frames / B
            if cursor + L > section {
                framesRead = train.frames
                nextEpochIfRead()
            }
            if rnnState == nil { rnnState = m.zeroState(batch: B) }
            var x = [Float](repeating: 0, count: B * L * F)
            var y: [Int] = []
            y.reserveCapacity(B * L)
            for b in 0..<B {
                let start = b * section + cursor
                for t in 0..<L {
                    let src = (start + t) * F
                    for f in 0..<F { x[(b * L + t) * F + f] = train.features[src + f] }
                    y.append(train.labels[start + t])
                }
            }
            let (logits, s) = m(Tensor(shape: [B, L, F], data: x), state: rnnState!)
            rnnState = RecurrentState(h: s.h.detach(), c: s.c?.detach())
            cursor += L
            framesRead += B * L
            loss = logits.crossEntropy(y)
        }
        let value = loss.item()
        let finite = value.isFinite
        if finite {
            loss.backward()
            optimizer.learningRate = schedule.lr(at: step) * divergence.lrScale
            optimizer.step()
        }
        switch divergence.judge(finite: finite) {
        case .stepped:
            step += 1
            if step % 100 == 0 { divergence.remember(step: step) }
        case .skipped, .diverged: step += 1
        case .rolledBack(let to, _):
            step = to
            rnnState = nil
        }
        losses.append(value)
        currentLosses.append(parts.0)
        futureLosses.append(parts.1)
        return value
    }

    /// Scores on the held-out stream (batched inference).
    public func evaluate() -> OADEvaluation {
        module.train(false)
        defer { module.train(true) }
        if let m = oadtr {
            let (p, a) = m.predict(data.test)
            return OADEvaluation.measure(probabilities: p, anticipated: a, stream: data.test)
        }
        return OADEvaluation.measure(probabilities: rnn!.predict(data.test), anticipated: [], stream: data.test)
    }

    /// Continues a loaded detector's step count (weights restored in place).
    func resume(at step: Int) {
        self.step = step
        divergence.remember(step: step)
    }
}
