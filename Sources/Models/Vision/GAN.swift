// Generative adversarial networks: the generator/discriminator pairs the image lab trains, and the
// three objectives it compares.
//
//   GAN (Goodfellow et al. 2014), non-saturating form:
//     L_D = −E[log σ(D(x))] − E[log(1 − σ(D(G(z))))] = E[softplus(−D(x))] + E[softplus(D(G(z)))]
//     L_G = −E[log σ(D(G(z)))]                       = E[softplus(−D(G(z)))]
//   WGAN (Arjovsky et al. 2017): by Kantorovich–Rubinstein duality
//     W1(P, Q) = sup_{‖f‖_L ≤ 1} E_P[f] − E_Q[f],
//     so the critic maximises E[D(x)] − E[D(G(z))] (L_D is its negative) and the generator minimises
//     −E[D(G(z))]; weight clipping to [−c, c] keeps D Lipschitz (with an unknown constant).
//   WGAN-GP (Gulrajani et al. 2017): no clipping; instead
//     L_D += λ · E[(‖∇_x̂ D(x̂)‖₂ − 1)²],  x̂ = ε·x + (1 − ε)·G(z), ε ~ U[0, 1] per sample,
//     which needs the gradient of a gradient (the autograd records its backward pass).
// On a 1-Lipschitz critic, E[D(x)] − E[D(G(z))] is a lower bound on W1 — the lab shows it beside the
// exact W1 between the two sample sets.
import Compute
import Foundation
import NN

public enum GANObjective: String, Codable, CaseIterable, Sendable {
    case gan
    case wgan
    case wganGP = "wgan-gp"

    public var isWasserstein: Bool { self != .gan }
}

/// Normalisation inside the convolutional networks.
public enum GANNorm: String, Codable, CaseIterable, Sendable { case batch, group, none }

/// A generator or a discriminator: z or x in, images, points or scores out.
public protocol GANNetwork: Module {
    func callAsFunction(_ x: Tensor) -> Tensor
}

/// The 2-D generator: noise [N, latent] → points [N, 2] through a ReLU MLP.
public final class PlaneGenerator: Module, GANNetwork {
    public let mlp: MLP
    public init(latent: Int, width: Int, depth: Int, rng: inout RNG) {
        mlp = MLP([latent] + Array(repeating: width, count: depth) + [2], rng: &rng)
    }
    public func callAsFunction(_ z: Tensor) -> Tensor { mlp(z) }
}

/// The 2-D discriminator or critic: points [N, 2] → scores [N].
public final class PlaneCritic: Module, GANNetwork {
    public let mlp: MLP
    public init(width: Int, depth: Int, rng: inout RNG) {
        mlp = MLP([2] + Array(repeating: width, count: depth) + [1], rng: &rng)
    }
    public func callAsFunction(_ x: Tensor) -> Tensor { mlp(x).reshape([x.shape[0]]) }
}

/// A norm layer chosen at construction (BatchNorm, GroupNorm or none).
public final class ChannelNorm: Module {
    public let batch: BatchNorm2d?
    public let group: GroupNorm?
    public init(_ kind: GANNorm, channels: Int) {
        batch = kind == .batch ? BatchNorm2d(channels) : nil
        group = kind == .group ? GroupNorm(groups: Swift.min(8, channels), channels: channels) : nil
    }
    public func callAsFunction(_ x: Tensor) -> Tensor {
        if let b = batch { return b(x) }
        if let g = group { return g(x) }
        return x
    }

    /// On a channel-major batch [C, N, H, W] (GroupNorm, whose groups are per sample, goes through
    /// NCHW), then `activation`, fused into the norm's pass where there is a norm.
    public func channelMajor(_ x: Tensor, activation: NormActivation = .none) -> Tensor {
        if let b = batch { return b.channelMajor(x, activation: activation) }
        if let g = group {
            let y = g(x.permute([1, 0, 2, 3]).contiguous(), activation: activation)
            return y.permute([1, 0, 2, 3]).contiguous()
        }
        switch activation {
        case .none: return x
        case .silu: return x.silu()
        case .leakyRelu(let s): return x.leakyRelu(s)
        }
    }
}

/// Image geometry of the DCGAN pair: the side is s0·2^k with s0 = 4 (16 and 32) or 7 (28).
public struct DCGANShape: Equatable, Sendable {
    public let size: Int, channels: Int
    public var levels: Int { size == 32 ? 3 : 2 }
    public var base: Int { size >> levels }
    public static func check(size: Int) -> Bool { [16, 28, 32].contains(size) }
    public init(size: Int, channels: Int) {
        precondition(DCGANShape.check(size: size), "DCGAN sizes are 16, 28 and 32, not \(size)")
        self.size = size
        self.channels = channels
    }
}

/// DCGAN generator (Radford et al. 2016): z [N, latent] → ConvT to base×base → k × (ConvT stride 2,
/// norm, ReLU) → tanh images [N, channels, size, size]. For 32×32 with batch norm this is exactly the
/// reference DCGAN (widths 4nf, 2nf, nf).
public final class DCGANGenerator: Module, GANNetwork {
    public let convs: [ConvTranspose2d]
    public let norms: [ChannelNorm]
    public let shape: DCGANShape
    public let latent: Int

    public init(latent: Int, width nf: Int, shape: DCGANShape, norm: GANNorm, rng: inout RNG) {
        self.shape = shape
        self.latent = latent
        let k = shape.levels
        var cs: [ConvTranspose2d] = []
        var ns: [ChannelNorm] = []
        var cin = latent
        for j in 0..<k {
            let cout = nf << (k - 1 - j)
            if j == 0 {
                cs.append(ConvTranspose2d(cin, cout, kernel: shape.base, bias: norm == .none, rng: &rng))
            } else {
                cs.append(ConvTranspose2d(cin, cout, kernel: 4, stride: 2, padding: 1, bias: norm == .none, rng: &rng))
            }
            ns.append(ChannelNorm(norm, channels: cout))
            cin = cout
        }
        cs.append(ConvTranspose2d(cin, shape.channels, kernel: 4, stride: 2, padding: 1, bias: false, rng: &rng))
        convs = cs
        norms = ns
        super.init()
        dcganInit(self, rng: &rng)
    }

    /// Runs channel-major inside ([C, N, H, W]: each conv is one GEMM whose output needs no transpose,
    /// BatchNorm reads channels as rows); NCHW out.
    public func callAsFunction(_ z: Tensor) -> Tensor {
        let N = z.shape[0]
        var h = z.reshape([N, latent]).transpose(0, 1).contiguous().reshape([latent, N, 1, 1])
        for (j, c) in convs.enumerated() {
            h = c.channelMajor(h)
            if j < norms.count { h = norms[j].channelMajor(h, activation: .leakyRelu(0)) }
        }
        return h.tanh().permute([1, 0, 2, 3]).contiguous()
    }
}

/// DCGAN discriminator / critic: k × (Conv stride 2, norm except the first, LeakyReLU 0.2) down to
/// base×base, then one Conv over the whole base grid → scores [N].
public final class DCGANDiscriminator: Module, GANNetwork {
    public let convs: [Conv2d]
    public let norms: [ChannelNorm]
    public let shape: DCGANShape

    public init(width nf: Int, shape: DCGANShape, norm: GANNorm, rng: inout RNG) {
        self.shape = shape
        let k = shape.levels
        var cs: [Conv2d] = []
        var ns: [ChannelNorm] = []
        var cin = shape.channels
        for j in 0..<k {
            let cout = nf << j
            let n = j == 0 ? GANNorm.none : norm
            cs.append(Conv2d(cin, cout, kernel: 4, stride: 2, padding: 1, bias: n == .none, rng: &rng))
            ns.append(ChannelNorm(n, channels: cout))
            cin = cout
        }
        cs.append(Conv2d(cin, 1, kernel: shape.base, bias: false, rng: &rng))
        convs = cs
        norms = ns
        super.init()
        dcganInit(self, rng: &rng)
    }

    /// NCHW in, channel-major inside (as the generator), one score per image out.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var h = x.permute([1, 0, 2, 3]).contiguous()
        for (j, c) in convs.enumerated() {
            h = c.channelMajor(h)
            if j < norms.count { h = norms[j].channelMajor(h, activation: .leakyRelu(0.2)) }
        }
        return h.reshape([x.shape[0]])
    }
}

/// DCGAN's initialisation: conv weights N(0, 0.02²), norm gains N(1, 0.02²), biases 0.
func dcganInit(_ m: Module, rng: inout RNG) {
    noGrad {
        for (name, p) in m.namedParameters() {
            if name.hasSuffix("bias") {
                p.fill(0)
            } else if name.contains("norms") {
                p.assign(Tensor.randn(p.shape, std: 0.02, rng: &rng) + 1)
            } else {
                p.assign(Tensor.randn(p.shape, std: 0.02, rng: &rng))
            }
        }
    }
}

/// The losses of one objective. Scores are the discriminator's raw outputs [N].
public enum GANLoss {
    /// The discriminator's (critic's) loss without the gradient penalty.
    public static func discriminator(_ objective: GANObjective, real: Tensor, fake: Tensor) -> Tensor {
        switch objective {
        case .gan: return (-real).softplus().mean() + fake.softplus().mean()
        case .wgan, .wganGP: return fake.mean() - real.mean()
        }
    }

    /// The generator's loss on the discriminator's scores of its samples.
    public static func generator(_ objective: GANObjective, fake: Tensor) -> Tensor {
        switch objective {
        case .gan: return (-fake).softplus().mean()
        case .wgan, .wganGP: return -fake.mean()
        }
    }

    /// x̂ = ε·real + (1 − ε)·fake with one ε ~ U[0, 1] per sample.
    public static func interpolates(real: Tensor, fake: Tensor, rng: inout RNG) -> Tensor {
        let n = real.shape[0]
        var eshape = [Int](repeating: 1, count: real.rank)
        eshape[0] = n
        let eps = Tensor.rand(eshape, rng: &rng)
        return real.detach() * eps + fake.detach() * (1 - eps)
    }

    /// λ·E[(‖∇_x̂ D(x̂)‖₂ − 1)²], differentiable with respect to D's parameters (the input gradient is
    /// taken with `createGraph`, so the penalty's own backward pass runs through it). Also returns the
    /// per-sample gradient norms, for the Lipschitz histogram.
    public static func gradientPenalty(
        critic: (Tensor) -> Tensor, at x: Tensor, lambda: Float
    ) -> (penalty: Tensor, norms: [Float]) {
        let xh = x.detach().requiringGrad()
        // The input gradient is needed even where the caller records nothing (evaluation, finite
        // differences): D(x̂) and its gradient are always recorded.
        let total = GradMode.with(true) { critic(xh).sum() }
        guard let g = Autograd.grad(of: total, wrt: xh, createGraph: GradMode.isEnabled) else {
            return (Tensor.scalar(0), [Float](repeating: 0, count: x.shape[0]))
        }
        let norms = (g.reshape([x.shape[0], -1]).square().sum(1) + 1e-12).sqrt()
        let penalty = (norms - 1).square().mean() * lambda
        return (penalty, norms.detach().toArray())
    }

    /// ‖∇_x D(x)‖₂ per sample (no graph kept): how Lipschitz the critic is where it is probed.
    public static func gradientNorms(critic: (Tensor) -> Tensor, at x: Tensor) -> [Float] {
        let xh = x.detach().requiringGrad()
        let total = GradMode.with(true) { critic(xh).sum() }
        guard let g = Autograd.grad(of: total, wrt: xh) else {
            return [Float](repeating: 0, count: x.shape[0])
        }
        return noGrad { (g.reshape([x.shape[0], -1]).square().sum(1)).sqrt().toArray() }
    }

    /// Weight clipping of WGAN: every parameter into [−c, c].
    public static func clip(_ params: [Tensor], to c: Float) {
        noGrad { for p in params { p.assign(p.clamp(min: -c, max: c)) } }
    }
}
