// The GAN lab as a runnable session: trains a GANSession step by step and publishes what the image
// screen shows — losses, the 2-D probe (critic field, estimate against exact W1, coverage, gradient
// norms) or the fixed-noise sample grid and its timeline.
import Compute
import Foundation
import Models
import NN

public struct GANSnapshot: Sendable {
    public var step = 0, totalSteps = 0
    public var config = GANConfig()
    public var model = ""
    public var lossD: [(x: Double, y: Double)] = []
    public var lossG: [(x: Double, y: Double)] = []
    /// The newest 2-D probe (2-D data only).
    public var plane: GANPlaneProbe?
    /// (step, critic estimate, exact W1, modes hit) at each probe.
    public var w1: [(step: Double, estimate: Double, exact: Double, modes: Int)] = []
    /// The fixed-noise samples (images only).
    public var samples = SampleGrid.empty
    /// The first few fixed-noise samples at earlier steps: the generator improving.
    public var timeline: [(step: Int, grid: SampleGrid)] = []
    public init() {}
}

public enum GANCommand: Sendable { case restart }

extension GANConfig: ImageLabConfig {}

public final class GANLab: SteppedSession {
    public private(set) var session: GANSession
    public var probeEvery = 25
    public var gridSize = 40
    var probe: GANPlaneProbe?
    var samples = SampleGrid.empty
    var timeline: [(step: Int, grid: SampleGrid)] = []

    public init(_ config: GANConfig) throws {
        session = try GANSession(config)
        refresh()
    }

    init(session: GANSession) {
        self.session = session
        refresh()
    }

    public var step: Int { session.step }
    public var isFinished: Bool { session.step >= session.config.steps }

    public func advance() throws {
        session.trainStep()
        if session.diverged {
            throw SessionError.diverged(step: session.step, rollbacks: session.guardD.rollbacks)
        }
        if session.step % probeEvery == 0 || isFinished { refresh() }
    }

    func refresh() {
        if session.config.data.isImage {
            samples = SampleGrid(tensor: session.sample(session.fixedNoise))
            let total = session.config.steps
            // Up to 12 timeline entries, spaced evenly over the run.
            let every = Swift.max(probeEvery, (total / 12 + probeEvery - 1) / probeEvery * probeEvery)
            if session.step % every == 0 || isFinished, timeline.last?.step != session.step {
                timeline.append((session.step, samples.prefix(8)))
                if timeline.count > 13 { timeline.remove(at: 1) }
            }
        } else {
            probe = session.probePlane(grid: gridSize)
        }
    }

    public func handle(_ command: GANCommand) {
        switch command {
        case .restart:
            if let s = try? GANSession(session.config) {
                session = s
                timeline = []
                refresh()
            }
        }
    }

    public func publish(into s: inout GANSnapshot) {
        s.step = session.step
        s.totalSteps = session.config.steps
        s.config = session.config
        s.model = session.describe
        if s.lossD.count > session.lossD.count {
            s.lossD = []
            s.lossG = []
        }
        for i in s.lossD.count..<session.lossD.count {
            s.lossD.append((Double(i + 1), Double(session.lossD[i])))
            s.lossG.append((Double(i + 1), Double(session.lossG[i])))
        }
        s.plane = probe
        s.w1 = session.history.map { (Double($0.step), $0.estimate, $0.exact, $0.modes) }
        s.samples = samples
        s.timeline = timeline
    }

    public func save(to directory: String) throws {
        try GANLab.save(session, to: directory)
    }
}

public typealias GANRunner = SessionRunner<GANLab>

extension SessionRunner where Session == GANLab {
    public static func gan(_ config: GANConfig) -> GANRunner {
        var initial = GANSnapshot()
        initial.totalSteps = config.steps
        initial.config = config
        return GANRunner(title: "GAN lab", initial: initial) { try GANLab(config) }
    }

    /// A saved (or shipped) session, shown as it was and trainable further.
    public static func gan(loading files: @escaping @Sendable () throws -> GANLab, config: GANConfig, savedIn: String?)
        -> GANRunner
    {
        var initial = GANSnapshot()
        initial.totalSteps = config.steps
        initial.config = config
        return GANRunner(title: "GAN lab", initial: initial, savedIn: savedIn, make: files)
    }
}

extension GANLab {
    public static let format = "orrery-gan-session-1"

    public static func save(_ s: GANSession, to directory: String) throws {
        var metrics: [String: Double] = [:]
        if let last = s.history.last {
            metrics["critic_estimate"] = last.estimate
            metrics["exact_w1"] = last.exact
            metrics["modes_hit"] = Double(last.modes)
        }
        try ImageCheckpoint.save(
            format: format, lab: "gan", step: s.step, config: s.config,
            networks: [("generator.", s.generator), ("critic.", s.critic)], metrics: metrics, to: directory)
    }

    /// Loads a saved session (weights, configuration and step; the optimizers start afresh).
    public static func load(from directory: String) throws -> GANLab {
        try load(ImageCheckpoint.directory(directory))
    }

    public static func load(_ files: SnapshotFiles) throws -> GANLab {
        let (manifest, weights) = try ImageCheckpoint.open(GANConfig.self, format: format, lab: "gan", files: files)
        let s = try GANSession(manifest.config)
        try ImageCheckpoint.restore(
            [("generator.", s.generator), ("critic.", s.critic)], from: weights, label: files.label)
        s.resume(at: manifest.step)
        return GANLab(session: s)
    }
}
