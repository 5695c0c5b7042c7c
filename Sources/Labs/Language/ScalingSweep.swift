// A scaling study in minutes: tiny GPTs of several widths trained at several compute budgets
// C = M·D (M: non-embedding FLOPs per token, DeepSeek LLM's definition; D: training tokens), each
// run's validation loss, the IsoFLOP minimum of every budget, power laws for the optimal model and
// data scale and for the minimal loss, and a prediction for a larger budget that can then be run.
import Foundation
import Models

public struct ScalingSweepConfig: Codable, Equatable, Sendable {
    public var budgets: [Double] = [3e10, 1e11, 3e11]
    public var widths: [Int] = [32, 48, 64, 96]
    public var layers = 2
    public var context = 64
    public var batch = 16
    public var lr: Float = 3e-3
    public var corpusDocuments = 4000
    /// The corpus every run trains on ("stories", "dialogue" or a text file).
    public var corpus: CorpusSource = .stories
    public var seed: UInt64 = 1
    public init() {}

    public func validate() throws {
        func check(_ ok: Bool, _ what: String) throws { if !ok { throw SessionError.config(what) } }
        try check(!budgets.isEmpty && budgets.count <= 12, "1…12 budgets")
        try check(budgets.allSatisfy { $0 >= 1e6 && $0 <= 1e15 && $0.isFinite }, "budgets must be 1e6…1e15 FLOPs")
        try check(widths.count >= 1 && widths.count <= 12, "1…12 widths")
        try check(
            widths.allSatisfy { $0 >= 16 && $0 <= 1024 && $0 % 16 == 0 }, "widths must be multiples of 16, 16…1024")
        try check((1...16).contains(layers), "layers must be 1…16")
        try check((8...1024).contains(context), "context must be 8…1024")
        try check((1...512).contains(batch), "batch must be 1…512")
        try check((1...200_000).contains(corpusDocuments), "documents must be 1…200000")
    }

    /// The language-lab configuration of one run.
    func run(width: Int, budget: Double) -> (LMConfig, m: Double, steps: Int) {
        let c = ScalingSweep.tinyRun(
            layers: layers, width: width, context: context, batch: batch, lr: lr, budget: budget, corpus: corpus,
            documents: corpusDocuments, seed: seed)
        return (c, ScalingLaws.flopsPerToken(layers: layers, width: width, context: context), c.steps)
    }
}

public struct ScalingRun: Codable, Equatable, Sendable {
    public var budget: Double, width: Int, m: Double, tokens: Double, steps: Int
    public var valLoss: Double, seconds: Double
}

public struct ScalingFit: Sendable {
    /// (budget, M at the IsoFLOP minimum, loss there).
    public var minima: [(c: Double, m: Double, loss: Double)] = []
    /// M_opt = coefficient · C^exponent, D_opt likewise, and the minimal loss L_opt = coefficient · C^exponent.
    public var model: (coefficient: Double, exponent: Double, r2: Double)?
    public var data: (coefficient: Double, exponent: Double, r2: Double)?
    /// L_opt = floor + coefficient · C^exponent (a power law above an irreducible loss).
    public var loss: (floor: Double, coefficient: Double, exponent: Double, r2: Double)?

    public init(_ runs: [ScalingRun]) {
        for c in Set(runs.map(\.budget)).sorted() {
            let r = runs.filter { $0.budget == c }.map { (m: $0.m, loss: $0.valLoss) }
            if let best = ScalingLaws.isoFLOPMinimum(r) { minima.append((c, best.m, best.loss)) }
        }
        guard minima.count >= 2 else { return }
        if let f = ScalingLaws.optimalAllocation(minima.map { ($0.c, $0.m) }) {
            model = f.model
            data = f.data
        }
        loss = ScalingLaws.saturatingPowerLaw(x: minima.map(\.c), y: minima.map(\.loss))
    }

    /// The predicted optimal M and loss at budget `c`.
    public func predict(_ c: Double) -> (m: Double, loss: Double)? {
        guard let model, let loss else { return nil }
        return (model.coefficient * pow(c, model.exponent), loss.floor + loss.coefficient * pow(c, loss.exponent))
    }
}

public enum ScalingSweep {
    /// A small GPT trained on `budget` FLOPs: C / (M · B · T) steps, warm-up a tenth of them, cosine to
    /// lr / 10, no checkpoints, validation only at the end (the scaling and hyperparameter sweeps' run).
    static func tinyRun(
        layers: Int, width: Int, context: Int, batch: Int, lr: Float, budget: Double, corpus: CorpusSource,
        documents: Int, seed: UInt64
    ) -> LMConfig {
        var c = LMConfig()
        c.layers = layers
        c.width = width
        c.heads = max(1, width / 16)
        c.context = context
        c.batch = batch
        c.corpus = corpus
        c.corpusDocuments = documents
        c.lr = lr
        c.minLR = lr / 10
        c.seed = seed
        c.evalEvery = 0
        c.evalBatches = 16
        c.checkpointEvery = 0
        let m = ScalingLaws.flopsPerToken(layers: layers, width: width, context: context)
        c.steps = max(1, Int((budget / m / Double(batch * context)).rounded()))
        c.warmup = max(1, c.steps / 10)
        return c
    }

    /// The sweep's width whose M is nearest `m` (in log scale): the width a prediction runs.
    public static func width(_ config: ScalingSweepConfig, nearest m: Double) -> Int {
        func distance(_ w: Int) -> Double {
            abs(log(ScalingLaws.flopsPerToken(layers: config.layers, width: w, context: config.context) / m))
        }
        return config.widths.min { distance($0) < distance($1) }!
    }

    /// Trains one run and measures its validation loss.
    public static func train(_ config: ScalingSweepConfig, width: Int, budget: Double, stop: () -> Bool = { false })
        throws -> ScalingRun
    {
        let (c, m, steps) = config.run(width: width, budget: budget)
        let start = Date()
        let s = try LanguageSession(config: c)
        while s.step < steps {
            s.trainStep()
            if stop() { throw SessionError.config("interrupted") }
        }
        let val = Double(s.evaluate())
        return ScalingRun(
            budget: budget, width: width, m: m, tokens: Double(steps * c.batch * c.context), steps: steps,
            valLoss: val, seconds: Date().timeIntervalSince(start))
    }
}
