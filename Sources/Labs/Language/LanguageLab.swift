// The language lab as a stepped session for a SessionRunner: training steps, and every few steps the
// attention probe and a sample, published as a LanguageSnapshot (plain arrays: tensors stay here).
import Compute
import Foundation
import Models

public struct LanguageSnapshot: Sendable {
    public var step = 0, totalSteps = 0
    public var model = "", parameters = 0
    public var modelKind: LMConfig.ModelKind = .gpt
    public var losses: [(x: Double, y: Double)] = []
    public var valLosses: [(x: Double, y: Double)] = []
    public var tokensPerSecond = 0.0, learningRate: Float = 0
    public var gradNorms: [(label: String, value: Double)] = []
    /// Attention probabilities of the probe sequence: [layer][head] → rows × cols (empty for RNNs).
    public var attention: [[[[Float]]]] = []
    public var probeTokens: [String] = []
    public var sample = ""
    public var skippedSteps = 0, rollbacks = 0
    /// Bytes held by tensors (Orrery's allocator) — the process's resident memory is larger.
    public var tensorBytes = 0
    /// The latest step profile (`p` in the lab), the machine limits it is measured against, and how
    /// many steps of a profile in progress are still to run (0: none running).
    public var profile: StepProfile?
    public var limits: MachineLimits?
    public var profileStepsLeft = 0
    /// Why a profile could not start (another thread is profiling), else nil.
    public var profileError: String?
    public var elapsed = 0.0
    public init() {}
}

public enum LanguageLabCommand: Sendable {
    case sample
    /// Profile the next `steps` training steps (where a step's time goes).
    case profile(steps: Int)
}

public final class LanguageLab: SteppedSession {
    public let session: LanguageSession
    /// Steps between attention probes and between samples.
    public var probeEvery = 10, sampleEvery = 100
    let started = Date()
    var last: StepMetrics?
    var probe: (tokens: [String], maps: [[[[Float]]]])?
    var sample = ""
    var newMetrics: [StepMetrics] = []
    var profileRequest = 0, profileTotal = 0, profileLeft = 0
    var profile: StepProfile?
    var limits: MachineLimits?
    var profileError: String?
    /// Test hook: trap on the session thread after this many steps (ORRERY_DEBUG_CRASH_AFTER_STEPS).
    let crashAfter = ProcessInfo.processInfo.environment["ORRERY_DEBUG_CRASH_AFTER_STEPS"].flatMap(Int.init)

    public init(_ session: LanguageSession) {
        self.session = session
        probe = session.attentionProbe()
    }

    public convenience init(config: LMConfig) throws { self.init(try LanguageSession(config: config)) }

    public var step: Int { session.step }
    public var isFinished: Bool { session.step >= session.config.steps }

    deinit { if profileLeft > 0 { _ = Profiler.stop(steps: 1) } }

    public func advance() throws {
        if profileRequest > 0 && profileLeft == 0 {
            if limits == nil { limits = Machine.limits }
            if Profiler.start() {
                profileTotal = profileRequest
                profileLeft = profileRequest
                profileError = nil
            } else {
                profileError = "another profile is running"
            }
            profileRequest = 0
        } else if profileLeft > 0 {
            Profiler.resume()
        }
        let m = session.trainStep()
        if profileLeft > 0 {
            profileLeft -= 1
            if profileLeft == 0 {
                profile = Profiler.stop(steps: profileTotal)
                // The peak measured again after the profiled steps; the best reading of the process
                // stands (a neighbour holding a core through one reading halves it).
                Machine.confirmPeak()
                limits = Machine.limits
            } else {
                Profiler.pause()  // the clock stops between steps: probes, samples and pauses are not a step
            }
        }
        if let n = crashAfter, session.step >= n {
            fatalError("debug crash on the session thread (ORRERY_DEBUG_CRASH_AFTER_STEPS)")
        }
        newMetrics.append(m)
        if session.diverged { throw SessionError.diverged(step: session.step, rollbacks: session.rollbacks) }
        if session.step % probeEvery == 0 { probe = session.attentionProbe() }
        if session.step % sampleEvery == 0 { sample = session.sampleText() }
    }

    public func handle(_ command: LanguageLabCommand) {
        switch command {
        case .sample: sample = session.sampleText()
        case .profile(let steps): profileRequest = Swift.max(1, steps)
        }
    }

    public func publish(into s: inout LanguageSnapshot) {
        let c = session.config
        s.totalSteps = c.steps
        s.model = "\(c.model.rawValue) \(c.layers)×\(c.width)"
        s.modelKind = c.model
        s.parameters = session.model.parameterCount
        s.step = session.step
        for m in newMetrics {
            s.losses.append((Double(m.step), Double(m.loss)))
            if s.losses.count > 4000 { s.losses = stride(from: 0, to: s.losses.count, by: 2).map { s.losses[$0] } }
            if let v = m.valLoss { s.valLosses.append((Double(m.step), Double(v))) }
            s.tokensPerSecond = m.tokensPerSecond
            s.learningRate = m.lr
            if !m.layerGradNorms.isEmpty {
                s.gradNorms = m.layerGradNorms.sorted { $0.key < $1.key }.map {
                    (label: $0.key, value: Double($0.value))
                }
            }
        }
        newMetrics.removeAll()
        if let p = probe {
            s.attention = p.maps
            s.probeTokens = p.tokens
        }
        s.sample = sample
        s.skippedSteps = session.skippedSteps
        s.rollbacks = session.rollbacks
        s.tensorBytes = MemoryStats.liveBytes
        s.profile = profile
        s.limits = limits
        s.profileStepsLeft = profileLeft > 0 ? profileLeft : profileRequest
        s.profileError = profileError
        s.elapsed = Date().timeIntervalSince(started)
    }

    /// Saves the newest sound state: after non-finite steps, the last good one.
    public func save(to directory: String) throws {
        if !session.isSound() { session.restoreLastGood() }
        guard session.isSound() else { throw SessionError.diverged(step: session.step, rollbacks: session.rollbacks) }
        session.directory = directory
        try session.save()
    }
}

public typealias LanguageRunner = SessionRunner<LanguageLab>

extension SessionRunner where Session == LanguageLab {
    /// A runner that builds and trains a language session for `config`.
    public static func language(_ config: LMConfig) -> LanguageRunner {
        var initial = LanguageSnapshot()
        initial.totalSteps = config.steps
        initial.model = "\(config.model.rawValue) \(config.layers)×\(config.width)"
        initial.modelKind = config.model
        return LanguageRunner(title: "Language lab (\(config.model.rawValue))", initial: initial) {
            try LanguageLab(config: config)
        }
    }
}
