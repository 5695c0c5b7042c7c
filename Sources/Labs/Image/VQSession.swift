// The VQ lab's training session: a VQ-VAE (reconstruction + codebook/commitment loss) or a VQGAN (L1
// reconstruction, plus a patch discriminator from `discStart` on, weighted adaptively), and the
// codebook's health — usage histogram, perplexity, dead codes, restarts.
//
// VQGAN's adaptive weight (Esser et al. 2021, eq. 7), measured at the decoder's last layer L:
//   λ = ‖∇_L L_rec‖ / (‖∇_L L_GAN‖ + δ),  δ = 1e-4, clamped to [0, 10⁴], no gradient through it.
// Perceptual (LPIPS) loss is out of scope here: it needs a pretrained VGG, which a CPU-only,
// download-free tool does not have. The discriminator alone sharpens edges at this scale.
import Compute
import Foundation
import Models
import NN

public enum VQMode: String, Codable, CaseIterable, Sendable { case vqvae, vqgan }
public enum VQData: String, Codable, CaseIterable, Sendable { case glyphs, shapes }

public struct VQConfig: ImageLabConfig {
    public var mode: VQMode = .vqvae
    public var data: VQData = .shapes
    public var width = 64, codes = 64, codeDim = 16, resBlocks = 1
    public var beta: Float = 0.25
    /// EMA codebook updates (else the codebook loss trains it).
    public var ema = true
    /// Dead-code restart, and after how many idle steps a code counts as dead.
    public var restart = true
    public var deadAfter = 50
    public var batch = 32, steps = 1500, datasetSize = 4096
    public var lr: Float = 1e-3
    /// VQGAN: the step the discriminator loss starts at, its weight, the discriminator's width.
    public var discStart = 500
    public var discWeight: Float = 0.5
    public var discWidth = 32
    public var seed: UInt64 = 1
    public init() {}

    public static func preset(_ mode: VQMode, data: VQData) -> VQConfig {
        var c = VQConfig()
        c.mode = mode
        c.data = data
        if data == .glyphs {
            c.width = 32
            c.codes = 32
            c.codeDim = 8
        }
        return c
    }

    public var imageSize: Int { data == .shapes ? 32 : 16 }
    public var channels: Int { data == .shapes ? 3 : 1 }

    public var model: VQModelConfig {
        var m = VQModelConfig()
        m.channels = channels
        m.size = imageSize
        m.width = width
        m.codes = codes
        m.codeDim = codeDim
        m.resBlocks = resBlocks
        m.beta = beta
        m.ema = ema
        return m
    }

    public func validate() throws {
        func check(_ ok: Bool, _ what: String) throws { if !ok { throw SessionError.config(what) } }
        try check(width >= 2 && width <= 512 && width % 2 == 0, "width must be even, 2…512, got \(width)")
        try check(codes >= 2 && codes <= 4096, "codes must be 2…4096, got \(codes)")
        try check(codeDim >= 1 && codeDim <= 256, "code dimension must be 1…256, got \(codeDim)")
        try check(resBlocks >= 0 && resBlocks <= 8, "residual blocks must be 0…8, got \(resBlocks)")
        try check(beta >= 0 && beta <= 10, "beta must be 0…10, got \(beta)")
        try check(deadAfter >= 1 && deadAfter <= 100_000, "dead-after must be 1…100000, got \(deadAfter)")
        try check(batch >= 1 && batch <= 1024, "batch must be 1…1024, got \(batch)")
        try check(steps >= 1 && steps <= 10_000_000, "steps must be 1…10000000, got \(steps)")
        try check(datasetSize >= batch && datasetSize <= 100_000, "dataset size must be batch…100000")
        try check(lr > 0 && lr <= 1, "learning rate must be in (0, 1], got \(lr)")
        try check(discStart >= 0, "disc start must be ≥ 0")
        try check(discWeight >= 0 && discWeight <= 100, "disc weight must be 0…100")
        try check(discWidth >= 1 && discWidth <= 256, "disc width must be 1…256")
    }
}

public final class VQSession {
    public let config: VQConfig
    public let model: VQAutoencoder
    public let discriminator: PatchDiscriminator?
    let opt: Adam
    let optD: Adam?
    public let guardAE: DivergenceGuard
    public private(set) var step = 0
    public private(set) var recLoss: [Float] = [], perplexity: [Double] = [], deadFraction: [Double] = []
    public private(set) var ganLoss: [Float] = [], adaptiveWeight: [Float] = []
    let images: Tensor
    /// Fixed images the probe reconstructs.
    public let probeImages: Tensor
    var rng: RNG

    public init(_ config: VQConfig) throws {
        try config.validate()
        self.config = config
        var r = RNG(seed: config.seed)
        var initRNG = r.split()
        model = VQAutoencoder(config.model, rng: &initRNG)
        discriminator =
            config.mode == .vqgan
            ? PatchDiscriminator(channels: config.channels, width: config.discWidth, rng: &initRNG) : nil
        images = VQSession.dataset(config)
        probeImages = VQSession.dataset(config, count: 8, seed: config.seed &+ 99)
        opt = Adam(model.parameters, lr: config.lr, betas: (0.9, 0.99))
        optD = discriminator.map { Adam($0.parameters, lr: config.lr, betas: (0.5, 0.9)) }
        guardAE = DivergenceGuard(parameters: model.parameters, optimizer: opt)
        guardAE.remember(step: 0)
        rng = r
    }

    static func dataset(_ c: VQConfig, count: Int? = nil, seed: UInt64? = nil) -> Tensor {
        let n = count ?? c.datasetSize
        let s = seed ?? (c.seed &+ 5)
        switch c.data {
        case .shapes: return ShapeImages(count: n, seed: s).images * 2 - 1
        case .glyphs: return GlyphImages(count: n, size: 16, classes: 10, seed: s).images * 2 - 1
        }
    }

    /// The training images in [−1, 1].
    public var trainingImages: Tensor { images }

    /// One step; returns the reconstruction loss (NaN: skipped).
    @discardableResult
    public func trainStep() -> Float {
        model.train(true)
        let ids = (0..<config.batch).map { _ in rng.int(below: images.shape[0]) }
        let x = images.indexSelect(ids)
        model.zeroGrad()
        let z = model.encode(x)
        let q = model.quantizer(z, restartAfter: config.restart ? config.deadAfter : nil, rng: &rng)
        let xr = model.decode(q.quantized)
        let rec = config.mode == .vqgan ? (xr - x).abs().mean() : (xr - x).square().mean()
        var loss = rec + q.loss
        var gl: Float = 0
        var lambda: Float = 0
        if let d = discriminator, step >= config.discStart {
            let g = -d(xr).mean()
            let last = model.lastLayerWeight
            if let gRec = Autograd.grad(of: rec, wrt: last), let gGan = Autograd.grad(of: g, wrt: last) {
                let nr = Kernels.sumSquares(gRec).squareRoot()
                let ng = Kernels.sumSquares(gGan).squareRoot()
                lambda = Swift.min(Swift.max(nr / (ng + 1e-4), 0), 1e4)
            }
            loss = loss + g * (config.discWeight * lambda)
            gl = g.item()
        }
        let value = rec.item()
        let finite = value.isFinite && loss.item().isFinite
        switch guardAE.judge(finite: finite) {
        case .stepped:
            loss.backward()
            opt.learningRate = config.lr * guardAE.lrScale
            opt.step()
            if let d = discriminator, let optD, step >= config.discStart {
                d.zeroGrad()
                let real = d(x)
                let fake = d(xr.detach())
                // Hinge loss.
                let ld = (1 - real).relu().mean() + (1 + fake).relu().mean()
                if ld.item().isFinite {
                    ld.backward()
                    optD.step()
                }
            }
            step += 1
            if step % 100 == 0 { guardAE.remember(step: step) }
        case .skipped, .diverged: step += 1
        case .rolledBack(let to, _): step = to
        }
        recLoss.append(value)
        perplexity.append(q.perplexity)
        deadFraction.append(model.quantizer.deadFraction(after: config.deadAfter))
        ganLoss.append(gl)
        adaptiveWeight.append(lambda)
        return value
    }

    public var diverged: Bool { guardAE.diverged }

    /// Originals, reconstructions and code maps of the probe images.
    public func probe() -> (originals: SampleGrid, reconstructions: SampleGrid, codes: [[Int]]) {
        model.train(false)
        defer { model.train(true) }
        let codes = model.indices(probeImages)
        let recon = model.decode(indices: codes)
        return (SampleGrid(tensor: probeImages), SampleGrid(tensor: recon), codes)
    }

    /// Codebook usage over `n` training images: fraction of codes used, perplexity of the code
    /// distribution (exp entropy), per-code counts.
    public func usage(over n: Int = 512) -> (used: Double, perplexity: Double, counts: [Int]) {
        let k = Swift.min(n, images.shape[0])
        let rows = model.indices(images.slice(0, 0, k))
        var counts = [Int](repeating: 0, count: config.codes)
        for r in rows { for c in r { counts[c] += 1 } }
        let total = Double(counts.reduce(0, +))
        var h = 0.0
        for c in counts where c > 0 {
            let p = Double(c) / total
            h -= p * Foundation.log(p)
        }
        return (Double(counts.filter { $0 > 0 }.count) / Double(config.codes), Foundation.exp(h), counts)
    }

    public var describe: String {
        let c = config
        return "\(c.mode == .vqgan ? "VQGAN" : "VQ-VAE") \(c.imageSize)×\(c.imageSize) width \(c.width), "
            + "K \(c.codes) × D \(c.codeDim)\(c.ema ? " EMA" : "")\(c.restart ? ", restart" : "")"
    }

    func resume(at step: Int) {
        self.step = step
        guardAE.remember(step: step)
    }

    var networks: [(prefix: String, module: Module)] {
        var n: [(prefix: String, module: Module)] = [("vq.", model)]
        if let d = discriminator { n.append(("disc.", d)) }
        return n
    }
}

public struct VQSnapshot: Sendable {
    public var step = 0, totalSteps = 0
    public var config = VQConfig()
    public var model = ""
    public var recLoss: [(x: Double, y: Double)] = []
    public var perplexity: [(x: Double, y: Double)] = []
    public var deadFraction: [(x: Double, y: Double)] = []
    /// Moving-average share of each code (the usage histogram).
    public var usage: [Double] = []
    public var restarts = 0
    public var adaptiveWeight: Float = 0
    public var originals = SampleGrid.empty, reconstructions = SampleGrid.empty
    /// Code index maps of the probe images (grid × grid each).
    public var codeMaps: [[Int]] = []
    public init() {}
}

public enum VQCommand: Sendable { case restart }

public final class VQLab: SteppedSession {
    public private(set) var session: VQSession
    public var probeEvery = 25
    var probed: (originals: SampleGrid, reconstructions: SampleGrid, codes: [[Int]])?

    public init(_ config: VQConfig) throws {
        session = try VQSession(config)
        probed = session.probe()
    }

    init(session: VQSession) {
        self.session = session
        probed = session.probe()
    }

    public var step: Int { session.step }
    public var isFinished: Bool { session.step >= session.config.steps }

    public func advance() throws {
        session.trainStep()
        if session.diverged {
            throw SessionError.diverged(step: session.step, rollbacks: session.guardAE.rollbacks)
        }
        if session.step % probeEvery == 0 || isFinished { probed = session.probe() }
    }

    public func handle(_ command: VQCommand) {
        if case .restart = command, let s = try? VQSession(session.config) {
            session = s
            probed = s.probe()
        }
    }

    public func publish(into s: inout VQSnapshot) {
        s.step = session.step
        s.totalSteps = session.config.steps
        s.config = session.config
        s.model = session.describe
        if s.recLoss.count > session.recLoss.count {
            s.recLoss = []
            s.perplexity = []
            s.deadFraction = []
        }
        for i in s.recLoss.count..<session.recLoss.count {
            s.recLoss.append((Double(i + 1), Double(session.recLoss[i])))
            s.perplexity.append((Double(i + 1), session.perplexity[i]))
            s.deadFraction.append((Double(i + 1), session.deadFraction[i]))
        }
        s.usage = session.model.quantizer.usage
        s.restarts = session.model.quantizer.restarts
        s.adaptiveWeight = session.adaptiveWeight.last ?? 0
        if let p = probed {
            s.originals = p.originals
            s.reconstructions = p.reconstructions
            s.codeMaps = p.codes
        }
    }

    public func save(to directory: String) throws { try VQLab.save(session, to: directory) }
}

public typealias VQRunner = SessionRunner<VQLab>

extension SessionRunner where Session == VQLab {
    public static func vq(_ config: VQConfig) -> VQRunner {
        var initial = VQSnapshot()
        initial.totalSteps = config.steps
        initial.config = config
        return VQRunner(title: "VQ lab", initial: initial) { try VQLab(config) }
    }
}

extension VQLab {
    public static let format = "orrery-vq-session-1"

    public static func save(_ s: VQSession, to directory: String) throws {
        let u = s.usage()
        try ImageCheckpoint.save(
            format: format, lab: "vq", step: s.step, config: s.config, networks: s.networks,
            metrics: [
                "rec_loss": Double(s.recLoss.last ?? .nan), "codes_used": u.used, "perplexity": u.perplexity,
                "restarts": Double(s.model.quantizer.restarts),
            ], to: directory)
    }

    public static func load(from directory: String) throws -> VQLab {
        VQLab(session: try loadSession(ImageCheckpoint.directory(directory)))
    }

    public static func loadSession(_ files: SnapshotFiles) throws -> VQSession {
        let (manifest, weights) = try ImageCheckpoint.open(VQConfig.self, format: format, lab: "vq", files: files)
        let s = try VQSession(manifest.config)
        try ImageCheckpoint.restore(s.networks, from: weights, label: files.label)
        s.resume(at: manifest.step)
        return s
    }
}
