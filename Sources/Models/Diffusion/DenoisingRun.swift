// Step-through denoising: a state machine over (t, x_t, x̂_0, ε̂) that steps forwards, back (the
// history is kept), jumps, and branches — at any step the sampler, η, guidance or prompt can change
// and denoising continues on a new branch, the earlier one kept as it was for comparison.
//
// Guidance (classifier-free, Ho & Salimans 2022): ε̂ = ε̂_u + g (ε̂_c − ε̂_u); at g = 1 only the
// conditional prediction is computed, so it equals the conditional model alone exactly.
// "DDPM" over a subsequence of timesteps is DDIM with η = 1 (on consecutive steps that is exactly the
// ancestral posterior step: σ² = β̃_t and the same mean).
import Compute
import Foundation

public enum DiffusionSampler: String, Codable, CaseIterable, Sendable { case ddpm, ddim }

public struct DenoiseSettings: Equatable, Codable, Sendable {
    public var sampler: DiffusionSampler = .ddim
    /// Sampling steps (a subsequence of the schedule's timesteps).
    public var steps = 50
    /// DDIM's η (ignored by DDPM, which is η = 1).
    public var eta = 0.0
    /// Classifier-free guidance scale (1: the conditional model alone; 0: unconditional).
    public var guidance: Float = 1
    /// The prompt; nil: unconditional.
    public var prompt: String?
    /// Clip x̂_0 to [−1, 1] (the data's range) before each step, as diffusers' `clip_sample`: early on,
    /// x̂_0 = (x_t − √(1−ᾱ)ε̂)/√ᾱ divides the model's error by a tiny √ᾱ.
    public var clipSample = true
    public init() {}

    public var effectiveEta: Double { sampler == .ddpm ? 1 : eta }
}

/// One state of a run: the sample x_t at timestep t (−1: the finished image), and — once the model
/// has been asked at this state — its x̂_0 and ε̂.
public struct DenoiseFrame {
    public let t: Int
    public let xt: Tensor
    public var x0: Tensor?
    public var eps: Tensor?
    /// x_t and x̂_0 as images [N, C, S, S] in [−1, 1]: the tensors themselves in pixel space, their
    /// decoding in latent space (filled in with the frame and its prediction).
    public var xtImage: Tensor
    public var x0Image: Tensor?
    /// What the run's probe saw during the conditional prediction (the cross-attention
    /// probabilities [N, heads, HW, L] of a text-conditioned model).
    public var attention: Tensor?

    init(t: Int, xt: Tensor, image: Tensor) {
        self.t = t
        self.xt = xt
        xtImage = image
    }
}

public final class DenoisingRun {
    /// The model: (x_t, t, prompt or nil for unconditional) → its prediction (ε or v).
    public typealias Model = (_ xt: Tensor, _ t: Int, _ prompt: String?) -> Tensor

    public struct Branch {
        public var settings: DenoiseSettings
        public var frames: [DenoiseFrame]
        /// Where it left its parent: (branch, frame index); nil for the first.
        public let parent: (branch: Int, frame: Int)?
        public let timesteps: [Int]
        let seed: UInt64
    }

    public let schedule: NoiseSchedule
    public let prediction: PredictionType
    let model: Model
    /// x̂_0 is clipped to ±clipLimit when the settings ask (1 for images in [−1, 1]; a latent model
    /// passes its latents' range).
    public let clipLimit: Float
    /// Latent → image (nil: the samples are images).
    let decode: ((Tensor) -> Tensor)?
    /// Read right after the conditional prediction (nil: nothing recorded).
    let probe: (() -> Tensor?)?
    public private(set) var branches: [Branch] = []
    /// The branch shown and the frame within it.
    public private(set) var current = 0, position = 0

    /// Starts from pure noise of `shape` (seeded) at the first timestep of `settings`.
    public init(
        schedule: NoiseSchedule, prediction: PredictionType, shape: [Int], settings: DenoiseSettings, seed: UInt64,
        clipLimit: Float = 1, decode: ((Tensor) -> Tensor)? = nil, probe: (() -> Tensor?)? = nil,
        model: @escaping Model
    ) {
        self.schedule = schedule
        self.prediction = prediction
        self.model = model
        self.clipLimit = clipLimit
        self.decode = decode
        self.probe = probe
        var rng = RNG(seed: seed)
        let ts = schedule.timesteps(settings.steps)
        let x = Tensor.randn(shape, rng: &rng)
        let first = DenoiseFrame(t: ts[0], xt: x, image: decode.map { d in noGrad { d(x) } } ?? x)
        branches = [Branch(settings: settings, frames: [first], parent: nil, timesteps: ts, seed: seed)]
    }

    func image(_ x: Tensor) -> Tensor { decode.map { d in noGrad { d(x) } } ?? x }

    public var branch: Branch { branches[current] }
    public var frame: DenoiseFrame { branches[current].frames[position] }
    public var isFinished: Bool { frame.t < 0 }
    /// Steps in the current branch's plan (frames are 0…stepCount).
    public var stepCount: Int { branch.timesteps.count }

    /// x̂_0 and ε̂ at the current frame (asked of the model once, then kept).
    @discardableResult
    public func predict() -> (x0: Tensor, eps: Tensor) {
        let f = frame
        if let x0 = f.x0, let eps = f.eps { return (x0, eps) }
        let s = branch.settings
        var seen: Tensor?
        let out = noGrad { guided(f.xt, f.t, s, seen: &seen) }
        var (x0, eps) = schedule.split(out, xt: f.xt, t: f.t, type: prediction)
        if s.clipSample { x0 = noGrad { x0.clamp(min: -clipLimit, max: clipLimit) } }
        branches[current].frames[position].x0 = x0
        branches[current].frames[position].eps = eps
        branches[current].frames[position].x0Image = image(x0)
        branches[current].frames[position].attention = seen
        return (x0, eps)
    }

    /// The (guided) prediction; `seen` gets the probe's reading of the conditional pass.
    func guided(_ x: Tensor, _ t: Int, _ s: DenoiseSettings, seen: inout Tensor?) -> Tensor {
        guard let p = s.prompt else { return model(x, t, nil) }
        let cond = model(x, t, p)
        seen = probe?()
        if s.guidance == 1 { return cond }
        let uncond = model(x, t, nil)
        return uncond + (cond - uncond) * s.guidance
    }

    /// One step forwards: replays the kept history when there is one, otherwise asks the model.
    public func step() {
        guard !isFinished else { return }
        if position + 1 < branch.frames.count {
            position += 1
            return
        }
        let (x0, eps) = predict()
        let f = frame
        let ts = branch.timesteps
        let k = position
        let next = k + 1 < ts.count ? ts[k + 1] : -1
        // The noise of step k on this branch depends only on (seed, k): a step redone is the same step.
        var rng = RNG(seed: branch.seed &+ UInt64(k + 1) &* 0x9E37_79B9)
        let z = Tensor.randn(f.xt.shape, rng: &rng)
        let x = noGrad {
            DiffusionStep.ddim(
                schedule, x0: x0, eps: eps, t: f.t, next: next, eta: branch.settings.effectiveEta, noise: z)
        }
        branches[current].frames.append(DenoiseFrame(t: next, xt: x, image: image(x)))
        position += 1
    }

    /// One step back (the later frames are kept: stepping forwards replays them).
    public func back() { position = Swift.max(0, position - 1) }

    /// Moves to frame `i` of the current branch, computing the steps up to it when needed.
    public func jump(to i: Int) {
        let target = Swift.max(0, Swift.min(i, stepCount))
        if target <= branch.frames.count - 1 {
            position = target
            return
        }
        position = branch.frames.count - 1
        while position < target && !isFinished { step() }
    }

    /// Continues from the current frame with new settings on a new branch (which becomes current);
    /// the branch it left is not changed. A new step count re-plans the remaining timesteps.
    public func branch(with settings: DenoiseSettings, seed: UInt64? = nil) {
        let here = branch.frames[0...position]
        var frames = Array(here)
        // The current frame's prediction depended on the old settings (guidance, prompt).
        frames[frames.count - 1].x0 = nil
        frames[frames.count - 1].eps = nil
        frames[frames.count - 1].x0Image = nil
        frames[frames.count - 1].attention = nil
        var ts = Array(branch.timesteps.prefix(position + 1))
        if settings.steps != branch.settings.steps, let t = frames.last?.t, t >= 0 {
            let remaining = schedule.timesteps(settings.steps).filter { $0 < t }
            ts += remaining
        } else {
            ts = branch.timesteps
        }
        branches.append(
            Branch(
                settings: settings, frames: frames, parent: (current, position), timesteps: ts,
                seed: seed ?? (branch.seed &+ UInt64(branches.count) &* 7919)))
        current = branches.count - 1
    }

    /// Shows another branch (at the same frame index when it has one).
    public func select(branch b: Int) {
        guard b >= 0 && b < branches.count else { return }
        current = b
        position = Swift.min(position, branches[b].frames.count - 1)
    }

    /// ‖x_{t−1} − x_t‖ (RMS per element) between consecutive frames of the current branch.
    public var stepChanges: [Double] {
        let f = branch.frames
        guard f.count > 1 else { return [] }
        return (1..<f.count).map { i in
            let a = f[i].xt.toArray()
            let b = f[i - 1].xt.toArray()
            var s = 0.0
            for j in 0..<a.count { s += Double(a[j] - b[j]) * Double(a[j] - b[j]) }
            return (s / Double(Swift.max(a.count, 1))).squareRoot()
        }
    }
}
