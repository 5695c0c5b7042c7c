// DeepSeek LLM's hyperparameter scaling (DeepSeek-AI 2024, §3.1) in miniature: at each compute budget
// C a grid of batch sizes B and peak learning rates η trains the same small GPT for C / (M·B·T) steps;
// the near-optimal cells (validation loss within `nearOptimal` of the budget's best) give the budget's
// B_opt and η_opt (geometric means), and power laws against C give B_opt = B·C^β and η_opt = η·C^α
// (DeepSeek LLM: β ≈ 0.3271, α ≈ −0.1250). The best cell of each budget is then trained again with
// the multi-step schedule to compare it with cosine.
import Foundation
import Models

public struct HyperSweepConfig: Codable, Equatable, Sendable {
    public var budgets: [Double] = [3e10, 1e11, 3e11]
    public var batches: [Int] = [4, 8, 16, 32, 64]
    public var lrs: [Float] = [1e-3, 2e-3, 4e-3, 8e-3]
    public var width = 32, layers = 2, context = 64
    public var corpus: CorpusSource = .stories
    public var corpusDocuments = 4000
    public var seed: UInt64 = 1
    /// Cells within this fraction of a budget's lowest loss count as near-optimal.
    /// 5 %: about the spread between seeds at these sizes (DeepSeek LLM used 0.25 % at scale).
    public var nearOptimal = 0.05
    public init() {}

    public func validate() throws {
        func check(_ ok: Bool, _ what: String) throws { if !ok { throw SessionError.config(what) } }
        try check(!budgets.isEmpty && budgets.count <= 12, "1…12 budgets")
        try check(budgets.allSatisfy { $0 >= 1e6 && $0 <= 1e15 && $0.isFinite }, "budgets must be 1e6…1e15 FLOPs")
        try check(
            !batches.isEmpty && batches.count <= 12 && batches.allSatisfy { (1...512).contains($0) },
            "1…12 batch sizes of 1…512")
        try check(
            !lrs.isEmpty && lrs.count <= 12 && lrs.allSatisfy { $0 > 0 && $0 <= 1 && $0.isFinite },
            "1…12 learning rates in (0, 1]")
        try check(width >= 16 && width <= 1024 && width % 16 == 0, "width must be a multiple of 16, 16…1024")
        try check((1...16).contains(layers), "layers must be 1…16")
        try check((8...1024).contains(context), "context must be 8…1024")
        try check((1...200_000).contains(corpusDocuments), "documents must be 1…200000")
        try check(nearOptimal > 0 && nearOptimal < 1, "near-optimal tolerance must be in (0, 1)")
    }

    public var flopsPerToken: Double { ScalingLaws.flopsPerToken(layers: layers, width: width, context: context) }

    /// The language-lab configuration of one cell.
    public func run(budget: Double, batch: Int, lr: Float, schedule: LRScheduleKind = .cosine) -> LMConfig {
        var c = ScalingSweep.tinyRun(
            layers: layers, width: width, context: context, batch: batch, lr: lr, budget: budget, corpus: corpus,
            documents: corpusDocuments, seed: seed)
        c.schedule = schedule
        return c
    }
}

public struct HyperRun: Codable, Equatable, Sendable {
    public var budget: Double, batch: Int, lr: Float, steps: Int
    public var schedule: LRScheduleKind
    public var valLoss: Double, seconds: Double
}

public struct HyperFit: Sendable {
    public struct Optimum: Sendable {
        public var budget: Double
        /// The single best cell.
        public var best: HyperRun
        /// Geometric means over the near-optimal cells, and how many there were.
        public var batch: Double, lr: Double
        public var nearOptimal: Int
    }
    public var optima: [Optimum] = []
    /// B_opt = coefficient · C^exponent; η_opt likewise.
    public var batch: (coefficient: Double, exponent: Double, r2: Double)?
    public var lr: (coefficient: Double, exponent: Double, r2: Double)?

    public init(_ runs: [HyperRun], nearOptimal: Double) {
        for c in Set(runs.map(\.budget)).sorted() {
            let cells = runs.filter { $0.budget == c && $0.schedule == .cosine && $0.valLoss.isFinite }
            guard let best = cells.min(by: { $0.valLoss < $1.valLoss }) else { continue }
            let near = cells.filter { $0.valLoss <= best.valLoss * (1 + nearOptimal) }
            let b = exp(near.map { log(Double($0.batch)) }.reduce(0, +) / Double(near.count))
            let l = exp(near.map { log(Double($0.lr)) }.reduce(0, +) / Double(near.count))
            optima.append(Optimum(budget: c, best: best, batch: b, lr: l, nearOptimal: near.count))
        }
        guard optima.count >= 2 else { return }
        batch = ScalingLaws.powerLaw(x: optima.map(\.budget), y: optima.map(\.batch))
        lr = ScalingLaws.powerLaw(x: optima.map(\.budget), y: optima.map(\.lr))
    }
}

public enum HyperparameterSweep {
    /// Trains one cell and measures its validation loss.
    public static func train(_ config: LMConfig, budget: Double, stop: () -> Bool = { false }) throws -> HyperRun {
        let start = Date()
        let s = try LanguageSession(config: config)
        while s.step < config.steps {
            s.trainStep()
            if stop() { throw SessionError.config("interrupted") }
        }
        let val = Double(s.evaluate())
        return HyperRun(
            budget: budget, batch: config.batch, lr: config.lr, steps: config.steps,
            schedule: config.schedule ?? .cosine,
            valLoss: val, seconds: Date().timeIntervalSince(start))
    }
}
