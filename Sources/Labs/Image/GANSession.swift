// The GAN lab's training session: a generator and a discriminator (or critic) on 2-D points or on
// images, trained with one of three objectives (GAN, WGAN with clipping, WGAN-GP), and the probes that
// make the game visible — the critic's value over the plane, its Wasserstein estimate against the
// exact W1 of the same sample sets, mode coverage, and how Lipschitz the critic really is.
import Compute
import Foundation
import Models
import NN

/// What the GAN learns to generate.
public enum GANData: String, Codable, CaseIterable, Sendable {
    case ring8, grid25
    case swissRoll = "swiss-roll"
    case twoMoons = "two-moons"
    case glyphs, shapes

    public var plane: PlaneDistribution? {
        switch self {
        case .ring8: return .ring8
        case .grid25: return .grid25
        case .swissRoll: return .swissRoll
        case .twoMoons: return .twoMoons
        case .glyphs, .shapes: return nil
        }
    }
    public var isImage: Bool { plane == nil }
}

public struct GANConfig: Codable, Equatable, Sendable {
    public var objective: GANObjective = .wganGP
    public var data: GANData = .ring8
    /// Noise dimension.
    public var latent = 8
    /// MLP width and hidden layers (2-D data); base channel count nf (images).
    public var width = 128, depth = 3
    /// Normalisation in the convolutional generator and discriminator (a WGAN-GP critic never uses
    /// batch norm: the penalty is per sample, so the critic gets none in its place).
    public var norm: GANNorm = .batch
    /// Image side (glyphs: 16 or 28; shapes: 32).
    public var imageSize = 16
    /// Images in the generated training set.
    public var datasetSize = 4096
    public var batch = 256
    /// Generator steps.
    public var steps = 2000
    /// Critic steps per generator step (5 for the Wasserstein objectives, 1 for GAN by default).
    public var criticSteps = 5
    public var lr: Float = 2e-4
    /// The generator's learning rate as a fraction of `lr` (two time-scale updates when below 1).
    public var generatorLRScale: Float = 1
    public var beta1: Float = 0.5, beta2: Float = 0.9
    /// WGAN weight-clipping bound and WGAN-GP penalty weight.
    public var clip: Float = 0.01, lambda: Float = 10
    public var seed: UInt64 = 1
    public init() {}

    /// Sensible defaults for an objective and a dataset (what the CLI and the TUI start from).
    public static func preset(_ objective: GANObjective, data: GANData) -> GANConfig {
        var c = GANConfig()
        c.objective = objective
        c.data = data
        c.criticSteps = objective == .gan ? 1 : 5
        if objective == .wgan { c.lr = 5e-5 }
        if objective == .gan { c.beta2 = 0.999 }
        if data.isImage {
            c.latent = 64
            c.width = 32
            c.batch = 64
            c.imageSize = data == .shapes ? 32 : 16
            c.steps = 1500
            c.criticSteps = objective == .gan ? 1 : 2
        } else {
            // Measured on the ring: a critic at 1.5e-3 and a generator at a quarter of it (two
            // time-scale updates) settle in ~1000 steps; equal rates oscillate.
            c.steps = 1000
            c.batch = 128
            c.lr = objective == .wgan ? 5e-4 : 1.5e-3
            c.generatorLRScale = objective == .gan ? 1 : 0.25
            if objective == .gan { c.lr = 1e-3 }
        }
        return c
    }

    public func validate() throws {
        func check(_ ok: Bool, _ what: String) throws { if !ok { throw SessionError.config(what) } }
        try check(latent >= 1 && latent <= 1024, "latent must be 1…1024, got \(latent)")
        try check(width >= 1 && width <= 1024, "width must be 1…1024, got \(width)")
        try check(depth >= 1 && depth <= 8, "depth must be 1…8, got \(depth)")
        try check(batch >= 2 && batch <= 4096, "batch must be 2…4096, got \(batch)")
        try check(steps >= 1 && steps <= 10_000_000, "steps must be 1…10000000, got \(steps)")
        try check(criticSteps >= 1 && criticSteps <= 100, "critic steps must be 1…100, got \(criticSteps)")
        try check(lr > 0 && lr <= 1, "learning rate must be in (0, 1], got \(lr)")
        try check(
            generatorLRScale > 0 && generatorLRScale <= 100,
            "generator lr scale must be in (0, 100], got \(generatorLRScale)")
        try check((0..<1).contains(beta1) && (0..<1).contains(beta2), "betas must be in [0, 1)")
        try check(clip > 0 && clip.isFinite, "clip must be positive, got \(clip)")
        try check(lambda >= 0 && lambda.isFinite, "lambda must be ≥ 0, got \(lambda)")
        if data.isImage {
            try check(
                data == .shapes ? imageSize == 32 : [16, 28].contains(imageSize),
                data == .shapes ? "shapes are 32×32" : "glyph images are 16 or 28 pixels, got \(imageSize)")
            try check(datasetSize >= batch && datasetSize <= 200_000, "dataset size must be batch…200000")
            try check(width <= 256, "image width (nf) must be 1…256, got \(width)")
        }
    }

    public var channels: Int { data == .shapes ? 3 : 1 }
    /// The critic's normalisation: none where a per-sample penalty would be distorted by batch norm.
    public var criticNorm: GANNorm { objective == .wganGP && norm == .batch ? .none : norm }
}

/// One probe of the 2-D game at a step.
public struct GANPlaneProbe: Sendable {
    public var step = 0
    /// Critic/discriminator value on an n × n grid over `bounds`, row 0 at the top.
    public var field: [[Float]] = []
    public var bounds: (x0: Float, x1: Float, y0: Float, y1: Float) = (-3, 3, -3, 3)
    public var real: [(x: Float, y: Float)] = []
    public var fake: [(x: Float, y: Float)] = []
    /// E[D(real)] − E[D(fake)] on the probe sets, and the exact W1 between the same sets.
    public var estimate = 0.0, exactW1 = 0.0
    public var modesHit = 0, highQuality = 0.0
    /// ‖∇ₓD‖ at interpolates between the probe sets.
    public var gradientNorms: [Float] = []
    public init() {}
}

public final class GANSession {
    public let config: GANConfig
    public let generator: any GANNetwork
    public let critic: any GANNetwork
    let optG: Adam, optD: Adam
    public let guardG: DivergenceGuard, guardD: DivergenceGuard
    public private(set) var step = 0
    public private(set) var lossD: [Float] = [], lossG: [Float] = []
    /// Mean gradient norm at the interpolates (WGAN-GP) per generator step.
    public private(set) var penaltyNorms: [Float] = []
    var rng: RNG
    let images: Tensor?
    /// Fixed noise: the probe samples and the grid that shows the generator improving.
    public let fixedNoise: Tensor
    let probeReal: Tensor?
    public private(set) var history: [(step: Int, estimate: Double, exact: Double, modes: Int, quality: Double)] = []

    public init(_ config: GANConfig) throws {
        try config.validate()
        self.config = config
        var r = RNG(seed: config.seed)
        var initRNG = r.split()
        if config.data.isImage {
            let shape = DCGANShape(size: config.imageSize, channels: config.channels)
            generator = DCGANGenerator(
                latent: config.latent, width: config.width, shape: shape, norm: config.norm, rng: &initRNG)
            critic = DCGANDiscriminator(width: config.width, shape: shape, norm: config.criticNorm, rng: &initRNG)
            images = GANSession.dataset(config)
        } else {
            generator = PlaneGenerator(
                latent: config.latent, width: config.width, depth: config.depth, rng: &initRNG)
            critic = PlaneCritic(width: config.width, depth: config.depth, rng: &initRNG)
            images = nil
        }
        var probeRNG = RNG(seed: config.seed &+ 77)
        fixedNoise = Tensor.randn([config.data.isImage ? 64 : 256, config.latent], rng: &probeRNG)
        probeReal = config.data.plane?.sample(256, rng: &probeRNG)
        optG = Adam(generator.parameters, lr: config.lr * config.generatorLRScale, betas: (config.beta1, config.beta2))
        optD = Adam(critic.parameters, lr: config.lr, betas: (config.beta1, config.beta2))
        guardG = DivergenceGuard(parameters: generator.parameters, optimizer: optG)
        guardD = DivergenceGuard(parameters: critic.parameters, optimizer: optD)
        guardG.remember(step: 0)
        guardD.remember(step: 0)
        rng = r
    }

    /// The training images in [−1, 1], [n, C, S, S].
    static func dataset(_ c: GANConfig) -> Tensor {
        switch c.data {
        case .shapes: return ShapeImages(count: c.datasetSize, seed: c.seed &+ 5).images * 2 - 1
        default:
            return GlyphImages(count: c.datasetSize, size: c.imageSize, classes: 10, seed: c.seed &+ 5).images * 2 - 1
        }
    }

    func realBatch(_ n: Int) -> Tensor {
        if let plane = config.data.plane { return plane.sample(n, rng: &rng) }
        let imgs = images!
        let ids = (0..<n).map { _ in rng.int(below: imgs.shape[0]) }
        return imgs.indexSelect(ids)
    }

    func noise(_ n: Int) -> Tensor { Tensor.randn([n, config.latent], rng: &rng) }

    /// One generator step after `criticSteps` critic steps. Returns (L_D, L_G); NaN: the step was skipped.
    @discardableResult
    public func trainStep() -> (d: Float, g: Float) {
        generator.train(true)
        critic.train(true)
        let B = config.batch
        var ld: Float = 0
        var finite = true
        var gpNorm: Float = 0
        for _ in 0..<config.criticSteps {
            let real = realBatch(B)
            let fake = noGrad { generator(noise(B)) }
            critic.zeroGrad()
            var loss = GANLoss.discriminator(config.objective, real: critic(real), fake: critic(fake))
            if config.objective == .wganGP {
                let x = GANLoss.interpolates(real: real, fake: fake, rng: &rng)
                let (gp, norms) = GANLoss.gradientPenalty(critic: { critic($0) }, at: x, lambda: config.lambda)
                loss = loss + gp
                gpNorm = norms.reduce(0, +) / Float(Swift.max(norms.count, 1))
            }
            ld = loss.item()
            if !ld.isFinite {
                finite = false
                break
            }
            loss.backward()
            optD.learningRate = config.lr * guardD.lrScale
            optD.step()
            if config.objective == .wgan { GANLoss.clip(critic.parameters, to: config.clip) }
        }
        var lg = Float.nan
        if finite {
            generator.zeroGrad()
            let fake = generator(noise(B))
            let loss = GANLoss.generator(config.objective, fake: critic(fake))
            lg = loss.item()
            if lg.isFinite {
                loss.backward()
                optG.learningRate = config.lr * config.generatorLRScale * guardG.lrScale
                optG.step()
            } else {
                finite = false
            }
        }
        let outcome = guardD.judge(finite: finite)
        _ = guardG.judge(finite: finite)
        switch outcome {
        case .stepped:
            step += 1
            if step % 100 == 0 {
                guardD.remember(step: step)
                guardG.remember(step: step)
            }
        case .skipped, .diverged: step += 1
        case .rolledBack(let to, _): step = to
        }
        lossD.append(ld)
        lossG.append(lg)
        penaltyNorms.append(gpNorm)
        return (ld, lg)
    }

    public var diverged: Bool { guardD.diverged }

    /// Samples from the generator in evaluation mode: images [n, C, S, S] in [−1, 1] or points [n, 2].
    public func sample(_ z: Tensor) -> Tensor {
        generator.train(false)
        defer { generator.train(true) }
        return noGrad { generator(z) }
    }

    /// The 2-D probe: critic field, estimate vs exact W1, coverage, gradient norms (2-D data only).
    public func probePlane(grid n: Int) -> GANPlaneProbe {
        var p = GANPlaneProbe()
        p.step = step
        guard let plane = config.data.plane, let real = probeReal else { return p }
        let fake = sample(fixedNoise)
        critic.train(false)
        defer { critic.train(true) }
        let (x0, x1, y0, y1): (Float, Float, Float, Float) = (-3, 3, -3, 3)
        p.bounds = (x0, x1, y0, y1)
        var grid: [Float] = []
        grid.reserveCapacity(n * n * 2)
        for r in 0..<n {
            for c in 0..<n {
                grid.append(x0 + (x1 - x0) * (Float(c) + 0.5) / Float(n))
                grid.append(y1 - (y1 - y0) * (Float(r) + 0.5) / Float(n))
            }
        }
        let values = noGrad { critic(Tensor(shape: [n * n, 2], data: grid)).toArray() }
        p.field = (0..<n).map { r in Array(values[(r * n)..<((r + 1) * n)]) }
        let ra = real.toArray()
        let fa = fake.toArray()
        p.real = (0..<(ra.count / 2)).map { (ra[2 * $0], ra[2 * $0 + 1]) }
        p.fake = (0..<(fa.count / 2)).map { (fa[2 * $0], fa[2 * $0 + 1]) }
        let dr = noGrad { critic(real).mean().item() }
        let df = noGrad { critic(fake).mean().item() }
        p.estimate = Double(dr - df)
        p.exactW1 = ExactWasserstein.w1(real, fake)
        (p.modesHit, p.highQuality) = plane.coverage(fake)
        var probeRNG = RNG(seed: UInt64(step) &+ 5)
        let x = GANLoss.interpolates(real: real, fake: fake, rng: &probeRNG)
        p.gradientNorms = GANLoss.gradientNorms(critic: { self.critic($0) }, at: x)
        history.append((step, p.estimate, p.exactW1, p.modesHit, p.highQuality))
        return p
    }

    /// Parameters of both networks.
    public var parameterCount: (generator: Int, critic: Int) { (generator.parameterCount, critic.parameterCount) }

    /// What the networks are, in words.
    public var describe: String {
        let c = config
        if c.data.isImage {
            return "DCGAN \(c.imageSize)×\(c.imageSize)×\(c.channels) nf \(c.width), G norm \(c.norm.rawValue), "
                + "D norm \(c.criticNorm.rawValue)"
        }
        return "MLP \(c.depth)×\(c.width), latent \(c.latent)"
    }

    /// Continues a loaded session's step count (its weights were restored in place).
    func resume(at step: Int) {
        self.step = step
        guardD.remember(step: step)
        guardG.remember(step: step)
    }
}
