// The diffusion lab's training session: a UNet learns to predict the noise (or v) of images noised
// to a random timestep, in pixel space (glyphs, shapes). Sampling and step-through go through
// Models/Diffusion/DenoisingRun with this session's UNet as the model.
import CAssets
import Compute
import Foundation
import Models
import NN

public enum DiffusionData: String, Codable, CaseIterable, Sendable { case glyphs, shapes }

public struct DiffusionConfig: ImageLabConfig {
    public var data: DiffusionData = .glyphs
    public var schedule: BetaSchedule = .cosine
    public var prediction: PredictionType = .epsilon
    /// Diffusion timesteps T.
    public var timesteps = 1000
    public var base = 32
    public var batch = 32, steps = 3000, datasetSize = 4096
    public var lr: Float = 1e-3
    public var seed: UInt64 = 1
    public init() {}

    public var imageSize: Int { data == .shapes ? 32 : 16 }
    public var channels: Int { data == .shapes ? 3 : 1 }

    public var unet: UNetConfig {
        var u = UNetConfig()
        u.channels = channels
        u.size = imageSize
        u.base = base
        u.groups = Swift.min(8, base)
        u.timeDim = 4 * base
        return u
    }

    public func validate() throws {
        func check(_ ok: Bool, _ what: String) throws { if !ok { throw SessionError.config(what) } }
        try check(timesteps >= 2 && timesteps <= 10_000, "timesteps must be 2…10000, got \(timesteps)")
        try check(base >= 8 && base <= 256 && base % 8 == 0, "base width must be a multiple of 8 in 8…256, got \(base)")
        try check(batch >= 1 && batch <= 1024, "batch must be 1…1024, got \(batch)")
        try check(steps >= 1 && steps <= 10_000_000, "steps must be 1…10000000, got \(steps)")
        try check(datasetSize >= 1 && datasetSize <= 100_000, "dataset size must be 1…100000")
        try check(lr > 0 && lr <= 1, "learning rate must be in (0, 1], got \(lr)")
    }
}

public final class DiffusionSession {
    public let config: DiffusionConfig
    public let model: UNet
    public let schedule: NoiseSchedule
    let opt: Adam
    public let guardModel: DivergenceGuard
    public private(set) var step = 0
    public private(set) var losses: [Float] = []
    let images: Tensor
    var rng: RNG

    public init(_ config: DiffusionConfig) throws {
        try config.validate()
        self.config = config
        var initRNG = RNG(seed: config.seed)
        model = UNet(config.unet, rng: &initRNG)
        schedule = NoiseSchedule(config.schedule, steps: config.timesteps)
        opt = Adam(model.parameters, lr: config.lr)
        guardModel = DivergenceGuard(parameters: model.parameters, optimizer: opt)
        guardModel.remember(step: 0)
        switch config.data {
        case .glyphs:
            images =
                GlyphImages(count: config.datasetSize, size: 16, classes: 10, seed: config.seed &+ 5).images * 2 - 1
        case .shapes: images = ShapeImages(count: config.datasetSize, seed: config.seed &+ 5).images * 2 - 1
        }
        rng = RNG(seed: config.seed &+ 11)
    }

    /// One step (warm-up over the first 100 steps); returns the loss (NaN: skipped).
    @discardableResult
    public func trainStep() -> Float {
        let ids = (0..<config.batch).map { _ in rng.int(below: images.shape[0]) }
        let (xt, t, target) = schedule.trainingBatch(images.indexSelect(ids), type: config.prediction, rng: &rng)
        model.zeroGrad()
        let loss = model(xt, t: t).mseLoss(target)
        let value = loss.item()
        switch guardModel.judge(finite: value.isFinite) {
        case .stepped:
            loss.backward()
            Autograd.clipGradNorm(model.parameters, maxNorm: 1)
            opt.learningRate = config.lr * Swift.min(1, Float(step + 1) / 100) * guardModel.lrScale
            opt.step()
            step += 1
            if step % 100 == 0 { guardModel.remember(step: step) }
        case .skipped, .diverged: step += 1
        case .rolledBack(let to, _): step = to
        }
        losses.append(value)
        return value
    }

    public var diverged: Bool { guardModel.diverged }

    /// A step-through run of `count` images from this model.
    public func run(count: Int, settings: DenoiseSettings, seed: UInt64) -> DenoisingRun {
        let c = config
        return DenoisingRun(
            schedule: schedule, prediction: c.prediction, shape: [count, c.channels, c.imageSize, c.imageSize],
            settings: settings, seed: seed
        ) { [model] x, t, _ in
            noGrad { model(x, t: [Int](repeating: t, count: x.shape[0])) }
        }
    }

    public var describe: String {
        "UNet base \(config.base) on \(config.data.rawValue) \(config.imageSize)×\(config.imageSize), "
            + "\(config.schedule.rawValue) schedule, T \(config.timesteps), \(config.prediction.rawValue)-prediction"
    }

    func resume(at step: Int) {
        self.step = step
        guardModel.remember(step: step)
    }
}

public enum DiffusionCheckpoint {
    public static let format = "orrery-diffusion-session-1"

    public static func save(_ s: DiffusionSession, to directory: String) throws {
        try ImageCheckpoint.save(
            format: format, lab: "diffusion", step: s.step, config: s.config, networks: [("unet.", s.model)],
            metrics: [
                "loss": Double(s.losses.suffix(50).reduce(0, +) / Float(Swift.max(1, Swift.min(50, s.losses.count))))
            ],
            to: directory)
    }

    public static func load(from directory: String) throws -> DiffusionSession {
        try load(ImageCheckpoint.directory(directory))
    }

    /// The model in `checkpoint`, or $ORRERY_ASSETS/models/ddpm-glyphs, or the pixel DDPM on glyphs
    /// shipped in the binary.
    public static func shippedOr(_ checkpoint: String?) throws -> DiffusionSession {
        if let dir = checkpoint ?? ShippedImageModels.assetOverride("ddpm-glyphs") { return try load(from: dir) }
        return try load(
            ShippedImageModels.embedded(
                "the shipped glyph DDPM", config: (orrery_ddpm_config_json_ptr(), orrery_ddpm_config_json_size),
                model: (orrery_ddpm_model_safetensors_ptr(), orrery_ddpm_model_safetensors_size)))
    }

    public static func load(_ files: SnapshotFiles) throws -> DiffusionSession {
        let (manifest, weights) = try ImageCheckpoint.open(
            DiffusionConfig.self, format: format, lab: "diffusion", files: files)
        let s = try DiffusionSession(manifest.config)
        try ImageCheckpoint.restore([("unet.", s.model)], from: weights, label: files.label)
        s.resume(at: manifest.step)
        return s
    }
}

public struct DiffusionSnapshot: Sendable {
    public var step = 0, totalSteps = 0
    public var model = ""
    public var losses: [(x: Double, y: Double)] = []
    public init() {}
}

public enum DiffusionCommand: Sendable { case none }

/// The training session as a runnable lab (the headless trainer and, later, the diffusion screen).
public final class DiffusionLab: SteppedSession {
    public let session: DiffusionSession
    public init(session: DiffusionSession) { self.session = session }
    public var step: Int { session.step }
    public var isFinished: Bool { session.step >= session.config.steps }
    public func advance() throws {
        session.trainStep()
        if session.diverged {
            throw SessionError.diverged(step: session.step, rollbacks: session.guardModel.rollbacks)
        }
    }
    public func handle(_ command: DiffusionCommand) {}
    public func publish(into s: inout DiffusionSnapshot) {
        s.step = session.step
        s.totalSteps = session.config.steps
        s.model = session.describe
        if s.losses.count > session.losses.count { s.losses = [] }
        for i in s.losses.count..<session.losses.count { s.losses.append((Double(i + 1), Double(session.losses[i]))) }
    }
    public func save(to directory: String) throws { try DiffusionCheckpoint.save(session, to: directory) }
}
