// The diffusion lab's training session: a UNet learns to predict the noise (or v) of images noised
// to a random timestep, in pixel space (glyphs, shapes) or — latent diffusion (Rombach et al. 2022) —
// in the latent space of the image lab's VQ autoencoder, optionally conditioned on the shapes'
// captions through a jointly trained text encoder and cross-attention, with condition dropout for
// classifier-free guidance. Sampling and step-through go through Models/Diffusion/DenoisingRun with
// this session's UNet as the model and the autoencoder's decoder turning latents into images.
//
// Latents: z_q (the quantized codes) divided by their standard deviation over the training set, so
// they have unit variance as the noise schedule assumes; decoding snaps a latent back to the nearest
// codes (scaled back) and runs the decoder.
import CAssets
import Compute
import Foundation
import Models
import NN

public enum DiffusionData: String, Codable, CaseIterable, Sendable { case glyphs, shapes }

/// Latent diffusion on the image lab's VQ autoencoder or a small KL autoencoder (its weights travel in
/// the checkpoint as "ae.").
public struct LatentSpace: Codable, Equatable, Sendable {
    public var vq: VQModelConfig?
    public var kl: KLAutoencoderConfig?
    /// Latents are z / scale (unit variance over the training set).
    public var scale: Float = 0
    /// max |z / scale| over the training set: where x̂_0 is clipped.
    public var limit: Float = 0
    public init(vq: VQModelConfig) { self.vq = vq }
    public init(kl: KLAutoencoderConfig) { self.kl = kl }

    /// [channels, side, side] of a latent.
    public var shape: [Int] {
        if let k = kl { return [k.latentChannels, k.gridSize, k.gridSize] }
        let v = vq ?? VQModelConfig()
        return [v.codeDim, v.gridSize, v.gridSize]
    }
    var image: (channels: Int, size: Int) {
        if let k = kl { return (k.channels, k.size) }
        let v = vq ?? VQModelConfig()
        return (v.channels, v.size)
    }
    public var name: String { kl != nil ? "KL" : "VQ" }

    /// A new autoencoder of this shape (weights to be loaded).
    func make() -> LatentCodec {
        var r = RNG(seed: 0)
        if let k = kl { return KLAutoencoder(k, rng: &r) }
        return VQAutoencoder(vq ?? VQModelConfig(), rng: &r)
    }
    func matches(_ codec: LatentCodec) -> Bool {
        if let k = codec as? KLAutoencoder { return k.config == kl }
        if let v = codec as? VQAutoencoder { return v.config == vq && kl == nil }
        return false
    }
}

/// An autoencoder whose latent space a diffusion model works in.
public protocol LatentCodec: Module {
    /// Images [N, C, S, S] in [−1, 1] → latents (deterministic).
    func latents(_ x: Tensor) -> Tensor
    /// Latents → images (unclamped).
    func images(_ z: Tensor) -> Tensor
}

extension VQAutoencoder: LatentCodec {
    /// The quantized codes z_q.
    public func latents(_ x: Tensor) -> Tensor { DiffusionSession.quantize(self, encode(x)) }
    /// Snaps to the nearest codes, then decodes.
    public func images(_ z: Tensor) -> Tensor { decode(DiffusionSession.quantize(self, z)) }
}

extension KLAutoencoder: LatentCodec {
    /// The posterior mean μ.
    public func latents(_ x: Tensor) -> Tensor { moments(x).mean.contiguous() }
    public func images(_ z: Tensor) -> Tensor { decode(z) }
}

/// Caption conditioning (shapes only).
public struct TextConditioning: Codable, Equatable, Sendable {
    public var encoder = TextEncoderConfig()
    /// Caption tokens (padded).
    public var length = 8
    /// Fraction of training captions replaced by the empty one (the null condition of guidance).
    public var dropout: Float = 0.1
    /// Chances that a training caption leaves out its size word, and its place phrase, so short
    /// prompts such as "a red circle" are ones the model has seen.
    public var dropSize: Float = 0.4, dropPlace: Float = 0.5
    public init() {}
    public var tokenizer: CaptionTokenizer { CaptionTokenizer(words: ShapeImages.vocabulary, length: length) }
}

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
    /// Latent diffusion (nil: pixel space).
    public var latent: LatentSpace?
    /// Caption conditioning (nil: unconditional).
    public var text: TextConditioning?
    public init() {}

    public var imageSize: Int { data == .shapes ? 32 : 16 }
    public var channels: Int { data == .shapes ? 3 : 1 }
    /// The shape of one sample the UNet denoises: [C, S, S] of images or of latents.
    public var sampleShape: [Int] {
        if let l = latent { return l.shape }
        return [channels, imageSize, imageSize]
    }

    public var unet: UNetConfig {
        var u = UNetConfig()
        u.channels = sampleShape[0]
        u.size = sampleShape[1]
        u.base = base
        u.groups = Swift.min(8, base)
        u.timeDim = 4 * base
        if let t = text {
            u.contextDim = t.encoder.width
            u.heads = 4
        }
        return u
    }

    public var kind: String { latent == nil ? "ddpm" : "ldm" }

    public func validate() throws {
        func check(_ ok: Bool, _ what: String) throws { if !ok { throw SessionError.config(what) } }
        try check(timesteps >= 2 && timesteps <= 10_000, "timesteps must be 2…10000, got \(timesteps)")
        try check(base >= 8 && base <= 256 && base % 8 == 0, "base width must be a multiple of 8 in 8…256, got \(base)")
        try check(batch >= 1 && batch <= 1024, "batch must be 1…1024, got \(batch)")
        try check(steps >= 1 && steps <= 10_000_000, "steps must be 1…10000000, got \(steps)")
        try check(datasetSize >= 1 && datasetSize <= 100_000, "dataset size must be 1…100000")
        try check(lr > 0 && lr <= 1, "learning rate must be in (0, 1], got \(lr)")
        if let l = latent {
            try check(data == .shapes, "latent diffusion runs on the shapes autoencoder: use --data shapes")
            try check((l.vq == nil) != (l.kl == nil), "the latent space needs exactly one autoencoder (VQ or KL)")
            try check(
                l.image.size == imageSize && l.image.channels == channels,
                "the autoencoder is for \(l.image.size)×\(l.image.size)×\(l.image.channels) images")
            try check(
                l.scale >= 0 && l.scale.isFinite && l.limit >= 0 && l.limit.isFinite, "latent scale must be finite")
            try check(l.shape[1] % 2 == 0 && l.shape[1] >= 2, "the latent grid must have an even side")
        }
        if let t = text {
            try check(data == .shapes, "text conditioning needs captions: use --data shapes")
            try check(t.length >= 7 && t.length <= 32, "caption length must be 7…32")
            try check(
                t.encoder.width % t.encoder.heads == 0 && t.encoder.width >= 8 && t.encoder.width <= 512,
                "text width must be 8…512 and divisible by its heads")
            try check(t.encoder.layers >= 1 && t.encoder.layers <= 8, "text layers must be 1…8")
            try check(t.dropout >= 0 && t.dropout < 1, "condition dropout must be in [0, 1)")
            try check(base / 2 >= 8 && (2 * base) % 4 == 0, "base too small for 4-head cross-attention")
        }
    }
}

public final class DiffusionSession {
    public private(set) var config: DiffusionConfig
    public let model: UNet
    /// The caption encoder (text-conditioned models).
    public let textEncoder: TextEncoder?
    /// The autoencoder whose latent space is denoised (latent models).
    public let autoencoder: LatentCodec?
    public let schedule: NoiseSchedule
    let opt: Adam
    public let guardModel: DivergenceGuard
    public private(set) var step = 0
    public private(set) var losses: [Float] = []
    /// Training samples (images, or scaled latents) and their attributes; made on the first step.
    var data: (samples: Tensor, attributes: [ShapeImages.Attributes])?
    var rng: RNG

    /// A new session; a latent model needs the trained `autoencoder` (its latent scale is measured
    /// here over the training set when the config has none yet).
    public init(_ config: DiffusionConfig, autoencoder: LatentCodec? = nil) throws {
        try config.validate()
        self.config = config
        var initRNG = RNG(seed: config.seed)
        model = UNet(config.unet, rng: &initRNG)
        textEncoder = config.text.map {
            TextEncoder($0.encoder, vocabulary: ShapeImages.vocabulary.count, length: $0.length, rng: &initRNG)
        }
        if let l = config.latent {
            guard let ae = autoencoder else { throw SessionError.config("latent diffusion needs its autoencoder") }
            guard l.matches(ae) else {
                throw SessionError.config("the autoencoder does not match the latent space of this model")
            }
            self.autoencoder = ae
        } else {
            self.autoencoder = nil
        }
        schedule = NoiseSchedule(config.schedule, steps: config.timesteps)
        opt = Adam(model.parameters + (textEncoder?.parameters ?? []), lr: config.lr)
        guardModel = DivergenceGuard(parameters: opt.params, optimizer: opt)
        guardModel.remember(step: 0)
        rng = RNG(seed: config.seed &+ 11)
        if config.latent?.scale == 0 { _ = trainingData() }
    }

    /// The training set: images in [−1, 1], or their scaled latents.
    public func trainingData() -> (samples: Tensor, attributes: [ShapeImages.Attributes]) {
        if let d = data { return d }
        let d: (Tensor, [ShapeImages.Attributes])
        switch config.data {
        case .glyphs:
            d = (
                GlyphImages(count: config.datasetSize, size: 16, classes: 10, seed: config.seed &+ 5).images * 2 - 1, []
            )
        case .shapes:
            let s = ShapeImages(count: config.datasetSize, seed: config.seed &+ 5)
            d = (s.images * 2 - 1, s.attributes)
        }
        guard let ae = autoencoder, var l = config.latent else {
            data = d
            return d
        }
        let z = noGrad { () -> Tensor in
            let n = d.0.shape[0]
            let parts = stride(from: 0, to: n, by: 256).map { i in ae.latents(d.0.slice(0, i, Swift.min(i + 256, n))) }
            return Tensor.cat(parts, dim: 0)
        }
        if l.scale == 0 {
            let v = z.toArray()
            let mean = v.reduce(0, +) / Float(v.count)
            let variance = v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(v.count)
            l.scale = Swift.max(variance.squareRoot(), 1e-6)
            l.limit = v.reduce(0) { Swift.max($0, abs($1)) } / l.scale
            config.latent = l
        }
        data = (noGrad { z * (1 / l.scale) }, d.1)
        return data!
    }

    /// z [N, D, h, w] → the nearest codes, as a tensor of the same shape.
    public static func quantize(_ ae: VQAutoencoder, _ z: Tensor) -> Tensor {
        let (N, D, h, w) = (z.shape[0], z.shape[1], z.shape[2], z.shape[3])
        let idx = ae.quantizer.nearest(z.permute([0, 2, 3, 1]).contiguous().reshape([N * h * w, D]))
        return ae.quantizer.codebook.indexSelect(idx).reshape([N, h, w, D]).permute([0, 3, 1, 2]).contiguous()
    }

    /// Samples (images or scaled latents) → images [N, C, S, S] in [−1, 1].
    public func images(_ x: Tensor) -> Tensor {
        guard let ae = autoencoder, let l = config.latent else { return x }
        return noGrad { ae.images(x * l.scale).clamp(min: -1, max: 1) }
    }

    /// Context tokens for prompts (nil entries: the empty caption, guidance's null condition).
    public func context(_ prompts: [String?]) throws -> Tensor? {
        guard let enc = textEncoder, let t = config.text else { return nil }
        let tok = t.tokenizer
        var ids: [Int] = []
        for p in prompts { ids += try p.map { try tok.ids($0) } ?? [Int](repeating: 0, count: t.length) }
        return enc(ids)
    }

    /// A training caption with its size word and place phrase sometimes left out.
    func trainingCaption(_ a: ShapeImages.Attributes) -> String {
        guard let t = config.text else { return a.caption }
        if rng.uniform(0, 1) < t.dropout { return "" }
        var words = ["a"]
        if rng.uniform(0, 1) >= t.dropSize { words.append(a.size.rawValue) }
        words += [a.colour.rawValue, a.shape.rawValue]
        if rng.uniform(0, 1) >= t.dropPlace {
            words.append(a.place == .centre ? "in the centre" : "at the \(a.place.rawValue)")
        }
        return words.joined(separator: " ")
    }

    /// One step (warm-up over the first 100 steps); returns the loss (NaN: skipped).
    @discardableResult
    public func trainStep() -> Float {
        let d = trainingData()
        model.upCross?.recordProbabilities = false
        let ids = (0..<config.batch).map { _ in rng.int(below: d.samples.shape[0]) }
        let (xt, t, target) = schedule.trainingBatch(d.samples.indexSelect(ids), type: config.prediction, rng: &rng)
        let captions = config.text == nil ? [] : ids.map { trainingCaption(d.attributes[$0]) }
        model.zeroGrad()
        textEncoder?.zeroGrad()
        let ctx = try? context(captions.map { $0.isEmpty ? nil : $0 })
        let loss = model(xt, t: t, context: ctx).mseLoss(target)
        let value = loss.item()
        switch guardModel.judge(finite: value.isFinite) {
        case .stepped:
            loss.backward()
            Autograd.clipGradNorm(opt.params, maxNorm: 1)
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

    /// Checks a prompt against the model (nil: fine); a model without text takes no prompt.
    public func validate(prompt: String?) throws {
        guard let p = prompt else { return }
        guard let t = config.text else {
            throw SessionError.config("this model is not text-conditioned: it takes no prompt")
        }
        _ = try t.tokenizer.ids(p)
    }

    /// A step-through run of `count` samples from this model (the prompt, if any, in `settings`;
    /// validate it first: an unknown word here draws unconditionally).
    public func run(count: Int, settings: DenoiseSettings, seed: UInt64) -> DenoisingRun {
        let c = config
        let cross = model.upCross
        cross?.recordProbabilities = c.text != nil
        return DenoisingRun(
            schedule: schedule, prediction: c.prediction, shape: [count] + c.sampleShape,
            settings: settings, seed: seed, clipLimit: c.latent.map { $0.limit } ?? 1,
            decode: c.latent == nil ? nil : { self.images($0) },
            probe: cross.map { x in { x.probabilities } }
        ) { x, t, prompt in
            noGrad {
                let ctx = try? self.context([String?](repeating: prompt, count: x.shape[0]))
                return self.model(x, t: [Int](repeating: t, count: x.shape[0]), context: ctx)
            }
        }
    }

    public var describe: String {
        let what =
            config.latent.map { "latent \($0.shape[0])×\($0.shape[1])×\($0.shape[2]) (\($0.name)) of " } ?? ""
        return "UNet base \(config.base) on \(what)\(config.data.rawValue) \(config.imageSize)×\(config.imageSize)"
            + (config.text == nil ? "" : ", text-conditioned")
            + ", \(config.schedule.rawValue) schedule, T \(config.timesteps), \(config.prediction.rawValue)-prediction"
    }

    /// A few words for a screen title: what the model makes and in which space.
    public var title: String {
        let space = config.latent.map { "latent \($0.shape[0])×\($0.shape[1])×\($0.shape[2]) \($0.name)" } ?? "pixels"
        let what = config.text != nil ? "text-to-\(config.data.rawValue)" : "\(config.data.rawValue)"
        return "\(what), \(space), UNet \(config.base)"
    }

    /// Networks and their checkpoint prefixes.
    var networks: [(prefix: String, module: Module)] {
        var n: [(prefix: String, module: Module)] = [("unet.", model)]
        if let t = textEncoder { n.append(("text.", t)) }
        if let a = autoencoder { n.append(("ae.", a)) }
        return n
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
            format: format, lab: "diffusion", step: s.step, config: s.config, networks: s.networks,
            metrics: [
                "loss": Double(s.losses.suffix(50).reduce(0, +) / Float(Swift.max(1, Swift.min(50, s.losses.count))))
            ],
            to: directory)
    }

    public static func load(from directory: String) throws -> DiffusionSession {
        try load(ImageCheckpoint.directory(directory))
    }

    /// The models shipped in the binary.
    public enum Shipped: String, CaseIterable, Sendable {
        /// A pixel DDPM on 16×16 glyphs.
        case ddpmGlyphs = "ddpm-glyphs"
        /// A text-conditioned latent model on 32×32 shapes (in the shipped VQGAN's latent space).
        case ldmShapes = "ldm-shapes"
    }

    /// The model in `checkpoint`, or $ORRERY_ASSETS/models/<name>, or the one shipped in the binary.
    public static func shippedOr(_ checkpoint: String?, _ which: Shipped = .ddpmGlyphs) throws -> DiffusionSession {
        if let dir = checkpoint ?? ShippedImageModels.assetOverride(which.rawValue) { return try load(from: dir) }
        switch which {
        case .ddpmGlyphs:
            return try load(
                ShippedImageModels.embedded(
                    "the shipped glyph DDPM", config: (orrery_ddpm_config_json_ptr(), orrery_ddpm_config_json_size),
                    model: (orrery_ddpm_model_safetensors_ptr(), orrery_ddpm_model_safetensors_size)))
        case .ldmShapes:
            return try load(
                ShippedImageModels.embedded(
                    "the shipped text-to-shapes model",
                    config: (orrery_ldm_config_json_ptr(), orrery_ldm_config_json_size),
                    model: (orrery_ldm_model_safetensors_ptr(), orrery_ldm_model_safetensors_size)))
        }
    }

    public static func load(_ files: SnapshotFiles) throws -> DiffusionSession {
        let (manifest, weights) = try ImageCheckpoint.open(
            DiffusionConfig.self, format: format, lab: "diffusion", files: files)
        var ae: LatentCodec?
        if let l = manifest.config.latent {
            guard l.scale > 0 else { throw SessionError.config("\(files.label): the latent model has no latent scale") }
            ae = l.make()
        }
        let s = try DiffusionSession(manifest.config, autoencoder: ae)
        try ImageCheckpoint.restore(s.networks, from: weights, label: files.label)
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
