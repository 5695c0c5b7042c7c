// The DeepSeek lab as a runnable session: one of four experiments on small GPTs, each published as
// plain arrays for the DeepSeek screen.
//   moe      a DeepSeekMoE GPT under a chosen balancing mode: each layer's expert load over the steps,
//            max/mean load, routing entropy, the selection biases, where each probe token is routed;
//   fp8      the same GPT, seed and batches in FP32 and in simulated FP8, step for step: both loss
//            curves, the relative gap, and a layer's activations against the E4M3 grid;
//   mtp      a GPT with a multi-token-prediction module: its losses, and every `probeEvery` steps a
//            self-speculative decode against plain greedy (acceptance, passes, speed-up); beside it
//            the KV cache and decode speed of MHA, GQA and MLA at the same width;
//   scaling  the scaling sweep run by run, the IsoFLOP minima and fits, then the predicted larger run.
import Compute
import Foundation
import Models
import NN

public enum DeepSeekExperiment: String, Codable, CaseIterable, Sendable {
    case moe, fp8, mtp, scaling
    public var title: String {
        switch self {
        case .moe: return "MoE balancing"
        case .fp8: return "FP8 vs FP32"
        case .mtp: return "MTP and KV caches"
        case .scaling: return "scaling laws"
        }
    }
}

public struct DeepSeekLabConfig: Codable, Equatable, Sendable {
    public var experiment: DeepSeekExperiment = .moe
    public var balancing: MoEBalancing = .auxFree
    public var steps = 600
    public var seed: UInt64 = 1
    public var corpus: CorpusSource = .stories
    /// Language-model shape (width also sets the MoE experts and the decode comparison).
    public var layers = 4, width = 128, batch = 32, context = 128
    /// Documents generated for a built-in corpus.
    public var documents = 4000
    public var evalEvery = 50
    /// MTP: steps between speculative-decoding probes, and the MTP depth D trained.
    public var probeEvery = 100
    public var mtpDepth = 2
    public var sweep = DeepSeekLabConfig.defaultSweep
    /// Scaling: the larger budget predicted and then run (nil: none).
    public var predict: Double? = 3e12
    public init() {}

    /// Budgets 1e11…1e12 FLOPs, widths 16…64: a few minutes here, and wide enough that each budget's
    /// IsoFLOP curve has its minimum inside the widths.
    public static var defaultSweep: ScalingSweepConfig {
        var c = ScalingSweepConfig()
        c.budgets = [1e11, 3e11, 1e12]
        c.widths = [16, 32, 48, 64]
        return c
    }

    public func validate() throws {
        func check(_ ok: Bool, _ what: String) throws { if !ok { throw SessionError.config(what) } }
        try check((1...1_000_000).contains(steps), "steps must be 1…1000000")
        try check((1...100_000).contains(evalEvery), "eval-every must be 1…100000")
        try check((1...100_000).contains(probeEvery), "probe-every must be 1…100000")
        try check((1...4).contains(mtpDepth), "MTP depth must be 1…4")
        if experiment == .scaling {
            try sweep.validate()
            if let p = predict { try check(p.isFinite && p >= 1e6 && p <= 1e15, "predict must be 1e6…1e15 FLOPs") }
        } else {
            for c in languageConfigs() { try LanguageSession.validate(c) }
        }
    }

    /// The language-lab configurations trained (fp8: the FP32 baseline first).
    public func languageConfigs() -> [LMConfig] {
        func make(_ preset: String) -> LMConfig {
            var c = LMConfig()
            c.layers = layers
            c.width = width
            c.heads = max(1, width / 32)
            c.batch = batch
            c.context = context
            if preset == "moe" {
                var m = MoEConfig()
                m.expertHidden = max(
                    1, GPTConfig(vocabSize: 1, contextLength: 1, layers: 1, heads: c.heads, width: width).mlpHidden / 3)
                m.biasUpdate = 0.01
                m.balancing = balancing
                c.moe = m
            }
            if preset == "fp8" { c.fp8 = true }
            if preset == "mtp" {
                c.mtpDepth = mtpDepth
                c.mtpWeight = 0.3
            }
            c.corpus = corpus
            c.corpusDocuments = documents
            c.steps = steps
            c.warmup = min(c.warmup, max(1, steps / 10))
            c.seed = seed
            c.evalEvery = evalEvery
            c.checkpointEvery = 0
            return c
        }
        switch experiment {
        case .moe: return [make("moe")]
        case .fp8: return [make("gpt"), make("fp8")]
        case .mtp: return [make("mtp")]
        case .scaling: return []
        }
    }
}

/// The prediction of the scaling experiment, and (once run) what the run measured.
public struct ScalingPrediction: Sendable {
    public var budget: Double, predictedM: Double, predictedLoss: Double
    public var width: Int, m: Double
    public var measured: Double?
}

public struct DeepSeekSnapshot: Sendable {
    public var config = DeepSeekLabConfig()
    public var step = 0, totalSteps = 0
    /// One entry per model trained (fp8: FP32, then FP8).
    public var models: [String] = []
    public var parameters: [Int] = []
    public var losses: [[(x: Double, y: Double)]] = []
    public var valLosses: [[(x: Double, y: Double)]] = []
    public var tokensPerSecond: [Double] = []
    // MoE
    /// [layer][expert][column]: mean relative load (1 = balanced) over `stepsPerColumn` steps per column.
    public var loadHistory: [[[Float]]] = []
    public var stepsPerColumn = 1
    /// Max/mean load and load entropy (fraction of log E), averaged over layers, per step.
    public var maxOverMean: [(x: Double, y: Double)] = []
    public var entropy: [(x: Double, y: Double)] = []
    /// [layer][expert] selection biases.
    public var biases: [[Float]] = []
    public var probeTokens: [String] = []
    /// [layer][token][k]: the experts each probe token was sent to, best first.
    public var probeExperts: [[[Int]]] = []
    // FP8
    /// (step, 100 · (FP8 − FP32) / FP32) of the validation losses.
    public var gap: [(x: Double, y: Double)] = []
    public var histogram: FP8Histogram?
    // MTP
    public var mtpLosses: [(x: Double, y: Double)] = []
    /// (step, accepted drafts / drafts), (step, greedy seconds / speculative seconds), passes likewise.
    public var acceptance: [(x: Double, y: Double)] = []
    public var speedup: [(x: Double, y: Double)] = []
    /// [depth][probe]: (step, teacher-forced acceptance at draft position depth + 1) — see
    /// `GPT.mtpAgreement`.
    public var acceptanceByPosition: [[(x: Double, y: Double)]] = []
    public var passRatio = 0.0
    /// The last speculative decode, token by token, and whether it equals plain greedy.
    public var speculative: [(text: String, drafted: Bool)] = []
    /// The prompt of that decode, token by token.
    public var speculativePrompt: [String] = []
    public var matchesGreedy = true
    public var decode: [DecodeCase] = []
    // Scaling
    public var runs: [ScalingRun] = []
    public var current: (width: Int, budget: Double, step: Int, steps: Int)?
    public var fit: ScalingFit?
    public var prediction: ScalingPrediction?
    public init() {}
}

public enum DeepSeekCommand: Sendable {
    /// MTP: run the speculative-decoding probe now.
    case probe
}

public final class DeepSeekLab: SteppedSession {
    public let config: DeepSeekLabConfig
    /// The language sessions trained (scaling: the run in progress).
    public private(set) var sessions: [LanguageSession] = []
    var pending: [[StepMetrics]] = []
    var stepCount = 0
    let started = Date()
    // MoE
    var loadColumns: [[[Float]]] = []
    var binSum: [[Float]] = []
    var binSteps = 0, stepsPerColumn = 1
    var maxOverMean: [(x: Double, y: Double)] = []
    var entropy: [(x: Double, y: Double)] = []
    var probeTokens: [String] = []
    var probeExperts: [[[Int]]] = []
    public static let maxColumns = 240
    // FP8
    var gap: [(x: Double, y: Double)] = []
    var histogram: FP8Histogram?
    // MTP
    var acceptance: [(x: Double, y: Double)] = []
    var speedup: [(x: Double, y: Double)] = []
    var acceptanceByPosition: [[(x: Double, y: Double)]] = []
    var passRatio = 0.0
    var speculative: [(text: String, drafted: Bool)] = []
    var speculativePrompt: [String] = []
    var matchesGreedy = true
    var decode: [DecodeCase] = []
    // Scaling
    var queue: [(width: Int, budget: Double)] = []
    var runs: [ScalingRun] = []
    var runStart = Date()
    var currentRun: (width: Int, budget: Double, m: Double, steps: Int)?
    var fit: ScalingFit?
    var prediction: ScalingPrediction?
    var plannedSteps = 0

    public init(_ config: DeepSeekLabConfig) throws {
        try config.validate()
        self.config = config
        switch config.experiment {
        case .scaling:
            for b in config.sweep.budgets { for w in config.sweep.widths { queue.append((w, b)) } }
            plannedSteps = queue.map { config.sweep.run(width: $0.width, budget: $0.budget).steps }.reduce(0, +)
            if let p = config.predict,
                let mid = config.sweep.widths.sorted().dropFirst(config.sweep.widths.count / 2).first
            {
                plannedSteps += config.sweep.run(width: mid, budget: p).steps
            }
        default:
            sessions = try config.languageConfigs().map { try LanguageSession(config: $0) }
            pending = sessions.map { _ in [] }
        }
        if config.experiment == .moe { routingProbe() }
        if config.experiment == .fp8 { histogram = activationHistogram() }
        if config.experiment == .mtp {
            decode = DecodeComparison.measure(
                layers: config.layers, width: config.width, heads: max(1, config.width / 32), kvHeads: 1,
                tokens: 128, runs: 3)
            speculativeProbe()
        }
    }

    public var step: Int { stepCount }
    public var isFinished: Bool {
        switch config.experiment {
        case .scaling:
            return queue.isEmpty && currentRun == nil
                && (config.predict == nil || prediction?.measured != nil
                    || (fit != nil && prediction == nil))
        default: return stepCount >= config.steps
        }
    }
    public var totalSteps: Int { config.experiment == .scaling ? max(plannedSteps, stepCount) : config.steps }

    public func advance() throws {
        switch config.experiment {
        case .scaling: try advanceSweep()
        default:
            for (i, s) in sessions.enumerated() {
                let m = s.trainStep()
                pending[i].append(m)
                if s.diverged { throw SessionError.diverged(step: s.step, rollbacks: s.rollbacks) }
                if i == 0, let load = m.expertLoad { recordLoad(load, step: s.step) }
            }
            stepCount += 1
            if config.experiment == .fp8, let a = pending[0].last?.valLoss, let b = pending[1].last?.valLoss, a > 0 {
                gap.append((Double(stepCount), Double((b - a) / a) * 100))
            }
            if config.experiment == .moe, stepCount % 10 == 0 || isFinished { routingProbe() }
            if config.experiment == .fp8, stepCount % 50 == 0 || isFinished { histogram = activationHistogram() }
            if config.experiment == .mtp, stepCount % config.probeEvery == 0 || isFinished { speculativeProbe() }
        }
    }

    public func handle(_ command: DeepSeekCommand) {
        switch command {
        case .probe: if config.experiment == .mtp { speculativeProbe() }
        }
    }

    // MARK: MoE

    func recordLoad(_ load: [[Float]], step: Int) {
        // Only the main blocks (MTP modules' MoE layers would come after them).
        let layers = Array(load.prefix(config.layers))
        if binSum.isEmpty {
            binSum = layers.map { $0.map { _ in 0 } }
            loadColumns = layers.map { $0.map { _ in [] } }
        }
        for (l, row) in layers.enumerated() { for (e, v) in row.enumerated() { binSum[l][e] += v } }
        binSteps += 1
        maxOverMean.append((Double(step), Double(layers.map { $0.max() ?? 0 }.reduce(0, +)) / Double(layers.count)))
        entropy.append((Double(step), Double(layers.map(DeepSeekLab.entropy).reduce(0, +)) / Double(layers.count)))
        if binSteps == stepsPerColumn {
            for l in binSum.indices {
                for e in binSum[l].indices {
                    loadColumns[l][e].append(binSum[l][e] / Float(binSteps))
                    binSum[l][e] = 0
                }
            }
            binSteps = 0
            if loadColumns[0][0].count >= DeepSeekLab.maxColumns {
                // Halve the history: pairs of columns become one, twice the steps each from now on.
                loadColumns = loadColumns.map { layer in
                    layer.map { c in stride(from: 0, to: c.count - 1, by: 2).map { (c[$0] + c[$0 + 1]) / 2 } }
                }
                stepsPerColumn *= 2
            }
        }
    }

    /// Entropy of relative loads (mean 1) as a fraction of log E.
    static func entropy(_ load: [Float]) -> Float {
        let total = load.reduce(0, +)
        guard total > 0, load.count > 1 else { return 0 }
        var h: Float = 0
        for v in load where v > 0 {
            let p = v / total
            h -= p * Foundation.log(p)
        }
        return h / Foundation.log(Float(load.count))
    }

    /// Routes the probe (the first validation tokens) with the model in evaluation mode.
    func routingProbe() {
        guard let s = sessions.first, let g = s.model as? GPT else { return }
        let ids = Array(s.valTokens.prefix(min(24, g.config.contextLength)))
        guard !ids.isEmpty else { return }
        let was = g.isTraining
        g.train(false)
        noGrad { _ = g.hidden(ids, batch: 1) }
        g.train(was)
        probeTokens = ids.map { s.tokenizer.decodeString([$0]).replacingOccurrences(of: "\n", with: "⏎") }
        probeExperts = g.blocks.compactMap(\.moe).map { m in
            let K = m.config.topK
            let chosen = m.lastRouting.experts
            return (0..<ids.count).map { t in Array(chosen[(t * K)..<min(chosen.count, (t + 1) * K)]) }
        }
    }

    // MARK: FP8

    /// The input of the last block's attention projection in the FP8 model on a few validation rows.
    func activationHistogram() -> FP8Histogram? {
        guard let s = sessions.last, let g = s.model as? GPT else { return nil }
        let T = min(g.config.contextLength, 128)
        let rows = min(4, s.valTokens.count / T)
        guard rows > 0 else { return nil }
        let ids = Array(s.valTokens.prefix(rows * T))
        let layer = g.blocks.count - 1
        let was = g.isTraining
        g.train(false)
        defer { g.train(was) }
        let values: [Float] = noGrad {
            var x = g.embed(ids).reshape([rows, T, g.config.width])
            for b in g.blocks.prefix(layer) { x = b(x, rope: g.rope, positions: Array(0..<T), cuSeqlens: nil) }
            return g.blocks[layer].attnNorm(x).toArray()
        }
        return FP8Histogram(values, cols: g.config.width, source: "L\(layer) attention input")
    }

    // MARK: MTP

    /// Plain greedy and self-speculative decoding of the same prompt; acceptance and speed-up.
    func speculativeProbe() {
        guard let s = sessions.first, let g = s.model as? GPT, !g.mtp.isEmpty else { return }
        let prompt = Array(s.valTokens.prefix(16))
        guard !prompt.isEmpty else { return }
        let n = min(96, g.config.contextLength - prompt.count)
        guard n > 1 else { return }
        let was = g.isTraining
        g.train(false)
        let (plain, spec) = noGrad {
            (
                SpeculativeDecoding.greedy(g, prompt: prompt, maxTokens: n),
                SpeculativeDecoding.selfSpeculative(g, prompt: prompt, maxTokens: n)
            )
        }
        let byPosition = g.mtpAgreement(prompt + plain.tokens, from: prompt.count - 1)
        g.train(was)
        for (k, r) in byPosition.enumerated() {
            if acceptanceByPosition.count <= k { acceptanceByPosition.append([]) }
            acceptanceByPosition[k].append((Double(stepCount), r))
        }
        acceptance.append((Double(stepCount), spec.acceptanceRate))
        speedup.append((Double(stepCount), plain.seconds / max(spec.seconds, 1e-9)))
        passRatio = Double(plain.passes) / Double(max(1, spec.passes))
        matchesGreedy = plain.tokens == spec.tokens
        speculativePrompt = prompt.map { s.tokenizer.decodeString([$0]) }
        speculative = zip(spec.tokens, spec.fromDraft + Array(repeating: false, count: spec.tokens.count)).map {
            (s.tokenizer.decodeString([$0.0]), $0.1)
        }
    }

    // MARK: Scaling

    func advanceSweep() throws {
        let c = config.sweep
        if sessions.isEmpty {
            guard let next = queue.first else {
                // Nothing queued: fit (once) and queue the predicted run.
                if fit == nil { fitAndPredict() }
                return
            }
            queue.removeFirst()
            let (lm, m, steps) = c.run(width: next.width, budget: next.budget)
            sessions = [try LanguageSession(config: lm)]
            currentRun = (next.width, next.budget, m, steps)
            runStart = Date()
        }
        guard let s = sessions.first, let run = currentRun else { return }
        s.trainStep()
        stepCount += 1
        if s.diverged { throw SessionError.diverged(step: s.step, rollbacks: s.rollbacks) }
        guard s.step >= run.steps else { return }
        let r = ScalingRun(
            budget: run.budget, width: run.width, m: run.m, tokens: Double(run.steps * c.batch * c.context),
            steps: run.steps, valLoss: Double(s.evaluate()), seconds: Date().timeIntervalSince(runStart))
        sessions = []
        currentRun = nil
        if var p = prediction, p.budget == r.budget, p.width == r.width, p.measured == nil {
            p.measured = r.valLoss
            prediction = p
            return
        }
        runs.append(r)
        if queue.isEmpty { fitAndPredict() }
    }

    func fitAndPredict() {
        let f = ScalingFit(runs)
        fit = f
        guard let budget = config.predict, let guess = f.predict(budget) else { return }
        let width = ScalingSweep.width(config.sweep, nearest: guess.m)
        let (_, m, steps) = config.sweep.run(width: width, budget: budget)
        prediction = ScalingPrediction(
            budget: budget, predictedM: guess.m, predictedLoss: guess.loss, width: width, m: m, measured: nil)
        queue.append((width, budget))
        plannedSteps = stepCount + steps
    }

    // MARK: publishing and saving

    public func publish(into s: inout DeepSeekSnapshot) {
        s.config = config
        s.step = stepCount
        s.totalSteps = totalSteps
        if config.experiment != .scaling {
            if s.models.isEmpty {
                s.models = sessions.map { x in
                    let c = x.config
                    var d = "gpt \(c.layers)×\(c.width)"
                    if let m = c.moe {
                        d += " moe \(m.routedExperts)+\(m.sharedExperts) top-\(m.topK) \(m.balancing.rawValue)"
                    }
                    if c.fp8 == true { d += " fp8" } else if config.experiment == .fp8 { d += " fp32" }
                    if let k = c.mtpDepth, k > 0 { d += " mtp \(k)" }
                    return d
                }
                s.parameters = sessions.map(\.model.parameterCount)
                s.losses = sessions.map { _ in [] }
                s.valLosses = sessions.map { _ in [] }
                s.tokensPerSecond = sessions.map { _ in 0 }
            }
            for i in pending.indices {
                for m in pending[i] {
                    s.losses[i].append((Double(m.step), Double(m.loss)))
                    if s.losses[i].count > 4000 {
                        s.losses[i] = stride(from: 0, to: s.losses[i].count, by: 2).map { s.losses[i][$0] }
                    }
                    if let v = m.valLoss { s.valLosses[i].append((Double(m.step), Double(v))) }
                    s.tokensPerSecond[i] = m.tokensPerSecond
                    if i == 0, let mtp = m.mtpLosses?.first { s.mtpLosses.append((Double(m.step), Double(mtp))) }
                }
                pending[i].removeAll()
            }
        }
        s.loadHistory = loadColumns
        s.stepsPerColumn = stepsPerColumn
        s.maxOverMean = maxOverMean
        s.entropy = entropy
        s.biases =
            sessions.first.flatMap { ($0.model as? GPT)?.blocks.compactMap(\.moe).map { $0.bias.value.toArray() } }
            ?? s.biases
        s.probeTokens = probeTokens
        s.probeExperts = probeExperts
        s.gap = gap
        s.histogram = histogram
        s.acceptance = acceptance
        s.speedup = speedup
        s.acceptanceByPosition = acceptanceByPosition
        s.passRatio = passRatio
        s.speculative = speculative
        s.speculativePrompt = speculativePrompt
        s.matchesGreedy = matchesGreedy
        s.decode = decode
        s.runs = runs
        if let r = currentRun, let x = sessions.first {
            s.current = (r.width, r.budget, x.step, r.steps)
        } else {
            s.current = nil
        }
        s.fit = fit
        s.prediction = prediction
    }

    public static let format = "orrery-deepseek-session-1"

    /// moe, mtp: the language session (it opens in the language lab); fp8: both sessions, in fp32/ and
    /// fp8/; scaling: the runs, minima, fits and prediction as scaling.json.
    public func save(to directory: String) throws {
        switch config.experiment {
        case .scaling:
            var o: [String: Any] = [
                "format": DeepSeekLab.format,
                "runs": runs.map {
                    [
                        "budget": $0.budget, "width": $0.width, "m": $0.m, "tokens": $0.tokens, "steps": $0.steps,
                        "val_loss": $0.valLoss, "seconds": $0.seconds,
                    ] as [String: Any]
                },
            ]
            if let f = fit {
                o["minima"] = f.minima.map { ["budget": $0.c, "m": $0.m, "loss": $0.loss] }
                if let m = f.model {
                    o["model_fit"] = ["coefficient": m.coefficient, "exponent": m.exponent, "r2": m.r2]
                }
                if let d = f.data {
                    o["data_fit"] = ["coefficient": d.coefficient, "exponent": d.exponent, "r2": d.r2]
                }
                if let l = f.loss {
                    o["loss_fit"] = [
                        "floor": l.floor, "coefficient": l.coefficient, "exponent": l.exponent, "r2": l.r2,
                    ]
                }
            }
            if let p = prediction {
                var q: [String: Any] = [
                    "budget": p.budget, "predicted_m": p.predictedM, "predicted_loss": p.predictedLoss,
                    "width": p.width,
                    "m": p.m,
                ]
                if let v = p.measured { q["measured_loss"] = v }
                o["prediction"] = q
            }
            let bytes = try JSONSerialization.data(withJSONObject: o, options: [.prettyPrinted, .sortedKeys])
            try SessionDirectory.commit([("scaling.json", [UInt8](bytes))], step: stepCount, to: directory)
        case .fp8:
            for (name, s) in zip(["fp32", "fp8"], sessions) {
                try LanguageSessionDirectory.save(try DeepSeekLab.sound(s), to: directory + "/" + name)
            }
        case .moe, .mtp:
            for s in sessions { try LanguageSessionDirectory.save(try DeepSeekLab.sound(s), to: directory) }
        }
    }

    static func sound(_ s: LanguageSession) throws -> LanguageSession {
        if !s.isSound() { s.restoreLastGood() }
        guard s.isSound() else { throw SessionError.diverged(step: s.step, rollbacks: s.rollbacks) }
        return s
    }
}

public typealias DeepSeekRunner = SessionRunner<DeepSeekLab>

extension SessionRunner where Session == DeepSeekLab {
    public static func deepSeek(_ config: DeepSeekLabConfig) -> DeepSeekRunner {
        var initial = DeepSeekSnapshot()
        initial.config = config
        initial.totalSteps = config.steps
        return DeepSeekRunner(title: "DeepSeek lab (\(config.experiment.title))", initial: initial) {
            try DeepSeekLab(config)
        }
    }
}
