// Stage 2 of "compress first, then generate": the language lab's GPT as a prior over a trained VQ
// model's code-index sequences. An image becomes h·w tokens (raster order) after a start token; the
// prior learns p(c_i | c_<i); a sample is h·w tokens drawn one by one, decoded by the VQ decoder.
// The prior's session directory holds the VQ model too ("vq." tensors), so it samples on its own.
import Compute
import Foundation
import Models
import NN

public struct VQPriorConfig: ImageLabConfig {
    /// The VQ model the prior is trained on (its configuration; its weights are saved alongside).
    public var vq = VQConfig()
    public var layers = 2, width = 64, heads = 4
    public var batch = 32, steps = 1000
    public var lr: Float = 3e-3
    public var seed: UInt64 = 1
    public init() {}

    public func validate() throws {
        try vq.validate()
        func check(_ ok: Bool, _ what: String) throws { if !ok { throw SessionError.config(what) } }
        try check(layers >= 1 && layers <= 12, "layers must be 1…12, got \(layers)")
        try check(
            heads >= 1 && width % heads == 0 && width / heads % 2 == 0, "width must split into heads of even size")
        try check(width >= 8 && width <= 1024, "width must be 8…1024, got \(width)")
        try check(batch >= 1 && batch <= 1024, "batch must be 1…1024, got \(batch)")
        try check(steps >= 1 && steps <= 10_000_000, "steps must be 1…10000000, got \(steps)")
        try check(lr > 0 && lr <= 1, "learning rate must be in (0, 1], got \(lr)")
    }

    /// Tokens per image plus the start token.
    public var sequenceLength: Int { vq.model.gridSize * vq.model.gridSize + 1 }
    public var gpt: GPTConfig {
        GPTConfig(
            vocabSize: vq.codes + 1, contextLength: sequenceLength, layers: layers, heads: heads, width: width)
    }
}

public final class VQPriorSession {
    public let config: VQPriorConfig
    public let vq: VQAutoencoder
    public let prior: GPT
    let opt: Adam
    public let guardPrior: DivergenceGuard
    /// Code sequences of the training images (without the start token), encoded when first needed.
    lazy var sequences: [[Int]] = vq.indices(VQSession.dataset(config.vq))
    public private(set) var step = 0
    public private(set) var losses: [Float] = []
    var rng: RNG

    /// A prior for a trained VQ model (its weights are copied into this session; nil when a saved
    /// session's weights are restored next).
    public init(_ config: VQPriorConfig, vq trained: VQAutoencoder?) throws {
        try config.validate()
        self.config = config
        var initRNG = RNG(seed: config.vq.seed)
        vq = VQAutoencoder(config.vq.model, rng: &initRNG)
        if let trained { try vq.load(stateDict: trained.stateDict()) }
        vq.train(false)
        prior = GPT(config.gpt, seed: config.seed)
        opt = Adam.adamW(prior.namedParameters(), lr: config.lr, betas: (0.9, 0.95), weightDecay: 0.01)
        guardPrior = DivergenceGuard(parameters: prior.parameters, optimizer: opt)
        guardPrior.remember(step: 0)
        rng = RNG(seed: config.seed &+ 3)
    }

    public var startToken: Int { config.vq.codes }

    @discardableResult
    public func trainStep() -> Float {
        let T = config.sequenceLength - 1
        var tokens: [Int] = []
        var targets: [Int] = []
        for _ in 0..<config.batch {
            let s = sequences[rng.int(below: sequences.count)]
            tokens.append(startToken)
            tokens.append(contentsOf: s.prefix(T - 1))
            targets.append(contentsOf: s)
        }
        prior.zeroGrad()
        let loss = prior.loss(tokens, targets: targets, batch: config.batch)
        let value = loss.item()
        switch guardPrior.judge(finite: value.isFinite) {
        case .stepped:
            loss.backward()
            Autograd.clipGradNorm(prior.parameters, maxNorm: 1)
            let warm = Swift.min(1, Float(step + 1) / 50)
            opt.learningRate = config.lr * warm * guardPrior.lrScale
            opt.step()
            step += 1
            if step % 100 == 0 { guardPrior.remember(step: step) }
        case .skipped, .diverged: step += 1
        case .rolledBack(let to, _): step = to
        }
        losses.append(value)
        return value
    }

    /// `n` code sequences sampled from the prior (temperature, optional top-k), seeded.
    public func sampleCodes(_ n: Int, temperature: Float = 1, topK: Int = 0, seed: UInt64) -> [[Int]] {
        var o = SamplingOptions()
        o.temperature = temperature
        o.topK = topK
        o.seed = seed
        var sampler = Sampler(o)
        let L = config.sequenceLength - 1
        return noGrad {
            (0..<n).map { _ in
                let dec = prior.makeDecoder()
                var logits = dec.feed([startToken])
                var out: [Int] = []
                for _ in 0..<L {
                    let row = logits.reshape([-1]).slice(0, logits.count - config.gpt.vocabSize, logits.count)
                    let c = sampler.pick(row, history: [], allowed: 0..<config.vq.codes)
                    out.append(c)
                    if out.count < L { logits = dec.feed([c]) }
                }
                return out
            }
        }
    }

    /// Images [n, C, S, S] in [−1, 1] sampled from the prior and decoded.
    public func sample(_ n: Int, temperature: Float = 1, topK: Int = 0, seed: UInt64) -> Tensor {
        vq.decode(indices: sampleCodes(n, temperature: temperature, topK: topK, seed: seed))
    }

    /// Mean negative log-likelihood (nats per code) of the first `n` training sequences.
    public func evalLoss(_ n: Int = 64) -> Float {
        let k = Swift.min(n, sequences.count)
        var tokens: [Int] = []
        var targets: [Int] = []
        for s in sequences.prefix(k) {
            tokens.append(startToken)
            tokens.append(contentsOf: s.dropLast())
            targets.append(contentsOf: s)
        }
        return noGrad { prior.loss(tokens, targets: targets, batch: k).item() }
    }

    public var diverged: Bool { guardPrior.diverged }

    func resume(at step: Int) {
        self.step = step
        guardPrior.remember(step: step)
    }

    var networks: [(prefix: String, module: Module)] { [("vq.", vq), ("prior.", prior)] }

    public var describe: String {
        "GPT \(config.layers)×\(config.width) prior over \(config.sequenceLength - 1) codes of K \(config.vq.codes)"
    }
}

public struct VQPriorSnapshot: Sendable {
    public var step = 0, totalSteps = 0
    public var model = ""
    public var losses: [(x: Double, y: Double)] = []
    public var samples = SampleGrid.empty
    public var sampleCodes: [[Int]] = []
    public init() {}
}

public enum VQPriorCommand: Sendable { case resample }

public final class VQPriorLab: SteppedSession {
    public let session: VQPriorSession
    public var sampleEvery = 100
    var samples = SampleGrid.empty
    var codes: [[Int]] = []
    var sampleSeed: UInt64 = 1

    public init(session: VQPriorSession) {
        self.session = session
        drawSamples()
    }

    func drawSamples() {
        codes = session.sampleCodes(16, seed: sampleSeed)
        samples = SampleGrid(tensor: session.vq.decode(indices: codes))
    }

    public var step: Int { session.step }
    public var isFinished: Bool { session.step >= session.config.steps }

    public func advance() throws {
        session.trainStep()
        if session.diverged {
            throw SessionError.diverged(step: session.step, rollbacks: session.guardPrior.rollbacks)
        }
        if session.step % sampleEvery == 0 || isFinished { drawSamples() }
    }

    public func handle(_ command: VQPriorCommand) {
        sampleSeed &+= 1
        drawSamples()
    }

    public func publish(into s: inout VQPriorSnapshot) {
        s.step = session.step
        s.totalSteps = session.config.steps
        s.model = session.describe
        if s.losses.count > session.losses.count { s.losses = [] }
        for i in s.losses.count..<session.losses.count { s.losses.append((Double(i + 1), Double(session.losses[i]))) }
        s.samples = samples
        s.sampleCodes = codes
    }

    public func save(to directory: String) throws { try VQPriorLab.save(session, to: directory) }
}

extension VQPriorLab {
    public static let format = "orrery-vq-prior-session-1"

    public static func save(_ s: VQPriorSession, to directory: String) throws {
        try ImageCheckpoint.save(
            format: format, lab: "vq-prior", step: s.step, config: s.config, networks: s.networks,
            metrics: ["loss": Double(s.losses.last ?? .nan)], to: directory)
    }

    public static func loadSession(_ files: SnapshotFiles) throws -> VQPriorSession {
        let (manifest, weights) = try ImageCheckpoint.open(
            VQPriorConfig.self, format: format, lab: "vq-prior", files: files)
        let s = try VQPriorSession(manifest.config, vq: nil)
        try ImageCheckpoint.restore(s.networks, from: weights, label: files.label)
        s.resume(at: manifest.step)
        return s
    }

    public static func load(from directory: String) throws -> VQPriorSession {
        try loadSession(ImageCheckpoint.directory(directory))
    }
}
