// A small KL-regularised autoencoder (the "AutoencoderKL" of latent diffusion, Rombach et al. 2022):
// the encoder gives a Gaussian q(z | x) = N(μ, σ²) per latent element, training samples z by the
// reparameterisation z = μ + σ·ε, and a small KL(q ‖ N(0, I)) term keeps the latent space smooth and
// centred without squeezing it into a codebook. Latent diffusion then works on μ. Same trunk as the
// VQ autoencoder: two stride-2 convolutions down, residual blocks, and the mirror image up.
import Compute
import NN

public struct KLAutoencoderConfig: Codable, Equatable, Sendable {
    public var channels = 3, size = 32
    /// Channels of the encoder and decoder.
    public var width = 64
    /// Latent channels (the latent grid is the image downsampled 4×).
    public var latentChannels = 4
    public var resBlocks = 1
    /// Weight of the KL term against the per-pixel squared error (both means).
    public var klWeight: Float = 1e-4
    public init() {}
    public var gridSize: Int { size / 4 }
}

public final class KLAutoencoder: Module {
    public let config: KLAutoencoderConfig
    public let enc1: Conv2d, enc2: Conv2d, enc3: Conv2d
    public let encBlocks: [VQResBlock]
    /// 1×1 to the mean and log-variance (2 × latent channels).
    public let toMoments: Conv2d
    public let fromLatent: Conv2d
    public let decBlocks: [VQResBlock]
    public let dec1: ConvTranspose2d, dec2: ConvTranspose2d

    public init(_ c: KLAutoencoderConfig, rng: inout RNG) {
        config = c
        let w = c.width
        enc1 = Conv2d(c.channels, w / 2, kernel: 4, stride: 2, padding: 1, rng: &rng)
        enc2 = Conv2d(w / 2, w, kernel: 4, stride: 2, padding: 1, rng: &rng)
        enc3 = Conv2d(w, w, kernel: 3, padding: 1, rng: &rng)
        encBlocks = (0..<c.resBlocks).map { _ in VQResBlock(w, hidden: w / 2, rng: &rng) }
        toMoments = Conv2d(w, 2 * c.latentChannels, kernel: 1, rng: &rng)
        fromLatent = Conv2d(c.latentChannels, w, kernel: 3, padding: 1, rng: &rng)
        decBlocks = (0..<c.resBlocks).map { _ in VQResBlock(w, hidden: w / 2, rng: &rng) }
        dec1 = ConvTranspose2d(w, w / 2, kernel: 4, stride: 2, padding: 1, rng: &rng)
        dec2 = ConvTranspose2d(w / 2, c.channels, kernel: 4, stride: 2, padding: 1, rng: &rng)
    }

    /// x [N, C, S, S] in [−1, 1] → (μ, log σ²), each [N, z, S/4, S/4] (log σ² clamped to [−30, 20]).
    public func moments(_ x: Tensor) -> (mean: Tensor, logVar: Tensor) {
        var h = enc3(enc2(enc1(x).relu()).relu())
        for b in encBlocks { h = b(h) }
        let m = toMoments(h.relu())
        let z = config.latentChannels
        return (m.slice(1, 0, z), m.slice(1, z, 2 * z).clamp(min: -30, max: 20))
    }

    /// z [N, z, S/4, S/4] → images [N, C, S, S].
    public func decode(_ z: Tensor) -> Tensor {
        var h = fromLatent(z)
        for b in decBlocks { h = b(h) }
        return dec2(dec1(h.relu()).relu())
    }

    /// One training loss: squared error of the reconstruction of a sampled z, plus the weighted mean
    /// KL(N(μ, σ²) ‖ N(0, 1)) per latent element. Returns (total, reconstruction, KL).
    public func loss(_ x: Tensor, rng: inout RNG) -> (Tensor, Float, Float) {
        let (mu, logVar) = moments(x)
        let eps = Tensor.randn(mu.shape, rng: &rng)
        let z = mu + (logVar * 0.5).exp() * eps
        let rec = decode(z).mseLoss(x)
        let kl = ((mu.square() + logVar.exp() - logVar - 1) * 0.5).mean()
        return (rec + kl * config.klWeight, rec.item(), kl.item())
    }
}
