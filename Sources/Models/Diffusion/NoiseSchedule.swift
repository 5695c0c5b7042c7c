// Diffusion noise schedules and the closed forms every sampler uses (Ho et al. 2020, DDPM; Song et
// al. 2021, DDIM; Nichol & Dhariwal 2021, the cosine schedule; Salimans & Ho 2022, v-prediction).
// Timesteps are 0-based, t = 0…T−1, and ᾱ_{−1} = 1 (the clean image).
//
//   α_t = 1 − β_t,   ᾱ_t = ∏_{s ≤ t} α_s
//   q(x_t | x_0) = N(√ᾱ_t · x_0, (1 − ᾱ_t) I)
//   q(x_{t−1} | x_t, x_0) = N(μ̃_t, β̃_t I),
//     μ̃_t = [β_t √ᾱ_{t−1} / (1 − ᾱ_t)] x_0 + [(1 − ᾱ_{t−1}) √α_t / (1 − ᾱ_t)] x_t,
//     β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t)
//   ε-prediction: x̂_0 = (x_t − √(1 − ᾱ_t) ε̂) / √ᾱ_t
//   v-prediction: v = √ᾱ_t ε − √(1 − ᾱ_t) x_0;  x̂_0 = √ᾱ_t x_t − √(1 − ᾱ_t) v̂;  ε̂ = √(1 − ᾱ_t) x_t + √ᾱ_t v̂
import Compute
import Foundation

public enum BetaSchedule: String, Codable, CaseIterable, Sendable {
    /// β linear from 10⁻⁴ to 0.02 (DDPM).
    case linear
    /// √β linear from √0.00085 to √0.012, squared (Stable Diffusion's "scaled linear").
    case scaledLinear = "scaled-linear"
    /// ᾱ(t) = f(t)/f(0), f(t) = cos²((t/T + s)/(1 + s) · π/2), s = 0.008; β clipped at 0.999.
    case cosine
}

public enum PredictionType: String, Codable, CaseIterable, Sendable { case epsilon, v }

public struct NoiseSchedule: Sendable {
    public let kind: BetaSchedule
    public let betas: [Double]
    public let alphasCumprod: [Double]
    public var steps: Int { betas.count }

    public init(_ kind: BetaSchedule, steps T: Int) {
        precondition(T >= 1, "a schedule needs at least one step")
        self.kind = kind
        var b: [Double]
        switch kind {
        case .linear:
            b = (0..<T).map { T == 1 ? 1e-4 : 1e-4 + (0.02 - 1e-4) * Double($0) / Double(T - 1) }
        case .scaledLinear:
            let (lo, hi) = (0.00085.squareRoot(), 0.012.squareRoot())
            b = (0..<T).map { i in
                let r = T == 1 ? lo : lo + (hi - lo) * Double(i) / Double(T - 1)
                return r * r
            }
        case .cosine:
            let s = 0.008
            func f(_ t: Double) -> Double {
                let c = Foundation.cos((t / Double(T) + s) / (1 + s) * Double.pi / 2)
                return c * c
            }
            b = (0..<T).map { i in Swift.min(1 - f(Double(i + 1)) / f(Double(i)), 0.999) }
        }
        betas = b
        var acc = 1.0
        alphasCumprod = b.map { beta in
            acc *= 1 - beta
            return acc
        }
    }

    /// ᾱ_t, with ᾱ_{−1} = 1.
    public func alphaBar(_ t: Int) -> Double { t < 0 ? 1 : alphasCumprod[t] }

    /// Posterior q(x_{t−1} | x_t, x_0): coefficients of x_0 and x_t in its mean, and its variance.
    public func posterior(_ t: Int) -> (coefX0: Double, coefXt: Double, variance: Double) {
        let ab = alphaBar(t)
        let abPrev = alphaBar(t - 1)
        let beta = betas[t]
        return (
            beta * abPrev.squareRoot() / (1 - ab), (1 - abPrev) * (1 - beta).squareRoot() / (1 - ab),
            beta * (1 - abPrev) / (1 - ab)
        )
    }

    /// x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε (one t for the whole tensor).
    public func qSample(_ x0: Tensor, t: Int, noise: Tensor) -> Tensor {
        let ab = alphaBar(t)
        return x0 * Float(ab.squareRoot()) + noise * Float((1 - ab).squareRoot())
    }

    /// (x̂_0, ε̂) from a model's prediction at x_t.
    public func split(_ prediction: Tensor, xt: Tensor, t: Int, type: PredictionType) -> (x0: Tensor, eps: Tensor) {
        let ab = alphaBar(t)
        let (a, s) = (Float(ab.squareRoot()), Float((1 - ab).squareRoot()))
        switch type {
        case .epsilon: return ((xt - prediction * s) / a, prediction)
        case .v: return (xt * a - prediction * s, xt * s + prediction * a)
        }
    }

    /// The regression target of a prediction type for (x_0, ε) at t.
    public func target(x0: Tensor, noise: Tensor, t: Int, type: PredictionType) -> Tensor {
        switch type {
        case .epsilon: return noise
        case .v:
            let ab = alphaBar(t)
            return noise * Float(ab.squareRoot()) - x0 * Float((1 - ab).squareRoot())
        }
    }

    /// Signal-to-noise ratio ᾱ_t / (1 − ᾱ_t).
    public func snr(_ t: Int) -> Double {
        let ab = alphaBar(t)
        return ab / (1 - ab)
    }

    /// `count` timesteps spread evenly over the schedule, from T−1 down to 0 (DDIM's subsequence).
    public func timesteps(_ count: Int) -> [Int] {
        let n = Swift.max(1, Swift.min(count, steps))
        return (0..<n).map { i in
            (steps - 1) - Int((Double(i) * Double(steps - 1) / Double(Swift.max(n - 1, 1))).rounded())
        }
    }
}

/// One sampler step from timestep t to `next` (next < t; −1 ends at the clean image).
public enum DiffusionStep {
    /// DDPM ancestral step (needs next = t − 1): x_{t−1} = μ̃_t(x̂_0, x_t) + √β̃_t z (no noise at t = 0).
    public static func ddpm(
        _ s: NoiseSchedule, xt: Tensor, x0: Tensor, t: Int, noise: Tensor
    ) -> Tensor {
        let (c0, ct, v) = s.posterior(t)
        let mean = x0 * Float(c0) + xt * Float(ct)
        return t == 0 ? mean : mean + noise * Float(v.squareRoot())
    }

    /// DDIM step (η = 0 deterministic, η = 1 as DDPM's variance):
    ///   σ = η √((1 − ᾱ_s)/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_s),
    ///   x_s = √ᾱ_s x̂_0 + √(1 − ᾱ_s − σ²) ε̂ + σ z.
    public static func ddim(
        _ s: NoiseSchedule, x0: Tensor, eps: Tensor, t: Int, next: Int, eta: Double, noise: Tensor?
    ) -> Tensor {
        let at = s.alphaBar(t)
        let an = s.alphaBar(next)
        let sigma = eta * ((1 - an) / (1 - at)).squareRoot() * Swift.max(0, 1 - at / an).squareRoot()
        var x = x0 * Float(an.squareRoot()) + eps * Float(Swift.max(0, 1 - an - sigma * sigma).squareRoot())
        if sigma > 0, let z = noise { x = x + z * Float(sigma) }
        return x
    }
}

extension NoiseSchedule {
    /// A training example batch: a timestep per image (uniform), the noise, x_t, and the target of
    /// `type`. The loss is MSE(model(x_t, t), target).
    public func trainingBatch(_ x0: Tensor, type: PredictionType, rng: inout RNG) -> (
        xt: Tensor, t: [Int], target: Tensor
    ) {
        let n = x0.shape[0]
        let t = (0..<n).map { _ in rng.int(below: steps) }
        let noise = Tensor.randn(x0.shape, rng: &rng)
        var shape = [Int](repeating: 1, count: x0.rank)
        shape[0] = n
        let a = Tensor(shape: shape, data: t.map { Float(alphaBar($0).squareRoot()) })
        let s = Tensor(shape: shape, data: t.map { Float((1 - alphaBar($0)).squareRoot()) })
        let xt = x0 * a + noise * s
        let target = type == .epsilon ? noise : noise * a - x0 * s
        return (xt, t, target)
    }
}
