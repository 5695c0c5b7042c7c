// Stage 1 of latent diffusion: a small KL autoencoder learns to compress shapes images 4× per side
// (Adam, squared error plus a small KL term), before the diffusion model is trained in its latent space.
import Compute
import Foundation
import Models
import NN

public enum KLAutoencoderTraining {
    /// Trains a KL autoencoder on the shapes images of `seed` (the diffusion session's own training
    /// set); `report(step, reconstruction, kl)` after each step. Throws when the loss stops being finite.
    public static func train(
        _ c: KLAutoencoderConfig, datasetSize: Int, steps: Int, batch: Int = 32, lr: Float = 1e-3, seed: UInt64,
        report: (Int, Float, Float) throws -> Void = { _, _, _ in }
    ) throws -> KLAutoencoder {
        var rng = RNG(seed: seed &+ 21)
        let ae = KLAutoencoder(c, rng: &rng)
        let images = ShapeImages(count: datasetSize, seed: seed &+ 5).images * 2 - 1
        let opt = Adam(ae.parameters, lr: lr)
        for step in 0..<steps {
            let ids = (0..<batch).map { _ in rng.int(below: datasetSize) }
            ae.zeroGrad()
            let (loss, rec, kl) = ae.loss(images.indexSelect(ids), rng: &rng)
            guard rec.isFinite && kl.isFinite else {
                throw SessionError.config("the autoencoder's loss is not finite at step \(step + 1): lower --lr")
            }
            loss.backward()
            Autograd.clipGradNorm(ae.parameters, maxNorm: 1)
            // Warm-up over 100 steps, then cosine decay to a tenth.
            let progress = Float(step) / Float(Swift.max(1, steps))
            opt.learningRate =
                lr * Swift.min(1, Float(step + 1) / 100) * (0.1 + 0.9 * 0.5 * (1 + Foundation.cos(Float.pi * progress)))
            opt.step()
            try report(step + 1, rec, kl)
        }
        return ae
    }
}
