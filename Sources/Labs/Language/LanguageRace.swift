// The race: a GPT, an LSTM and a GRU trained on the same corpus, batches and schedule, step for step,
// so their validation losses can be compared against steps and against the compute time each used —
// the seed's Transformer-versus-RNN question, answered live. The three sessions take turns on one
// thread (so they share the cores fairly and each one's time is its own).
import Foundation
import Models

public struct RaceEntry: Sendable {
    public var name = ""
    public var parameters = 0
    public var step = 0
    /// (step, validation loss) and (seconds of this model's own compute, validation loss).
    public var byStep: [(x: Double, y: Double)] = []
    public var bySeconds: [(x: Double, y: Double)] = []
    public var tokensPerSecond = 0.0
    public var seconds = 0.0
    public var lastLoss: Float = .nan
    public init() {}
}

public struct RaceSnapshot: Sendable {
    public var entries: [RaceEntry] = []
    public var steps = 0
    public init() {}
}

public final class LanguageRace: SteppedSession {
    public let sessions: [LanguageSession]
    var entries: [RaceEntry]
    public let steps: Int

    /// Configurations of the three contestants: each kind's preset shape, and the shared corpus, steps,
    /// context, batch and seed of `base`.
    public static func configs(_ base: LMConfig) -> [LMConfig] {
        LMConfig.ModelKind.allCases.map { kind in
            var c = LMConfig.preset(kind.rawValue) ?? LMConfig()
            c.corpus = base.corpus
            c.corpusDocuments = base.corpusDocuments
            c.steps = base.steps
            c.warmup = min(c.warmup, base.steps / 10)
            c.context = base.context
            c.batch = base.batch
            c.seed = base.seed
            c.evalEvery = base.evalEvery
            c.evalBatches = base.evalBatches
            c.checkpointEvery = base.checkpointEvery
            return c
        }
    }

    public init(base: LMConfig) throws {
        sessions = try LanguageRace.configs(base).map { try LanguageSession(config: $0) }
        steps = base.steps
        entries = sessions.map { s in
            var e = RaceEntry()
            e.name = "\(s.config.model.rawValue) \(s.config.layers)×\(s.config.width)"
            e.parameters = s.model.parameterCount
            return e
        }
    }

    public var step: Int { sessions.map(\.step).min() ?? 0 }
    public var isFinished: Bool { sessions.allSatisfy { $0.step >= steps } }

    /// One step of each contestant still running.
    public func advance() throws {
        for (i, s) in sessions.enumerated() where s.step < steps {
            let t0 = Date()
            let m = s.trainStep()
            if s.diverged { throw SessionError.diverged(step: s.step, rollbacks: s.rollbacks) }
            entries[i].seconds += Date().timeIntervalSince(t0)
            entries[i].step = s.step
            entries[i].tokensPerSecond = m.tokensPerSecond
            entries[i].lastLoss = m.loss
            if let v = m.valLoss {
                entries[i].byStep.append((Double(s.step), Double(v)))
                entries[i].bySeconds.append((entries[i].seconds, Double(v)))
            }
        }
    }

    public func handle(_ command: Never) {}

    public func publish(into snapshot: inout RaceSnapshot) {
        snapshot.entries = entries
        snapshot.steps = steps
    }

    /// Saves the three sessions side by side: DIR/gpt, DIR/lstm, DIR/gru.
    public func save(to directory: String) throws {
        for s in sessions {
            s.directory = directory + "/" + s.config.model.rawValue
            try s.save()
        }
    }
}

public typealias RaceRunner = SessionRunner<LanguageRace>

extension SessionRunner where Session == LanguageRace {
    public static func race(_ base: LMConfig) -> RaceRunner {
        var initial = RaceSnapshot()
        initial.steps = base.steps
        return RaceRunner(title: "The race", initial: initial) { try LanguageRace(base: base) }
    }
}
