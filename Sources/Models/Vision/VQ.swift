// Vector quantisation (van den Oord et al. 2017, VQ-VAE) and the convolutional autoencoder around it;
// the patch discriminator VQGAN (Esser et al. 2021) adds.
//
//   z_e = E(x) ∈ ℝ^{D×h×w};  k(i) = argmin_k ‖z_e,i − e_k‖²;  z_q,i = e_{k(i)}
//   straight-through estimator: z_st = z_e + sg(z_q − z_e), so z_st = z_q forward and ∂z_st/∂z_e = I
//   loss:  ‖sg(z_e) − z_q‖² (codebook) + β ‖z_e − sg(z_q)‖² (commitment)
//   or EMA updates instead of the codebook term (van den Oord et al., appendix; Razavi et al. 2019):
//     N_k ← γN_k + (1−γ)n_k,  m_k ← γm_k + (1−γ)Σ_{i: k(i)=k} z_e,i,  e_k = m_k / N̂_k (Laplace-smoothed)
//   dead-code restart (Dhariwal et al. 2020, Jukebox): a code no input chose for `deadAfter` steps is
//   moved onto a random recent encoder output.
import Compute
import Foundation
import NN

public final class VectorQuantizer: Module {
    public let codes: Int, dim: Int
    public let beta: Float
    /// EMA updates (else the codebook is a parameter trained by the codebook loss).
    public let ema: Bool
    public let decay: Float
    /// The codebook [K, D] as a parameter (loss mode) or a buffer (EMA mode).
    public let weight: Tensor?
    public let emaWeight: Buffer?
    public let emaCount: Buffer?, emaSum: Buffer?

    // Health, measured on every training call.
    /// Steps since each code was last chosen.
    public private(set) var idleSteps: [Int]
    /// The last batch's code counts.
    public private(set) var lastCounts: [Int]
    /// Exponential moving average of each code's share of the inputs (the usage histogram).
    public private(set) var usage: [Double]
    public private(set) var restarts = 0
    var recent: [[Float]] = []

    public init(codes: Int, dim: Int, beta: Float = 0.25, ema: Bool = true, decay: Float = 0.99, rng: inout RNG) {
        self.codes = codes
        self.dim = dim
        self.beta = beta
        self.ema = ema
        self.decay = decay
        let initial = Tensor.rand([codes, dim], -1 / Float(codes), 1 / Float(codes), rng: &rng)
        if ema {
            weight = nil
            emaWeight = Buffer(initial)
            emaCount = Buffer(Tensor.ones([codes]))
            emaSum = Buffer(initial.clone())
        } else {
            weight = Parameter(initial)
            emaWeight = nil
            emaCount = nil
            emaSum = nil
        }
        idleSteps = [Int](repeating: 0, count: codes)
        lastCounts = [Int](repeating: 0, count: codes)
        usage = [Double](repeating: 1 / Double(codes), count: codes)
    }

    /// The codebook [K, D].
    public var codebook: Tensor { weight ?? emaWeight!.value }

    public struct Output {
        /// Straight-through quantised vectors, in the input's shape.
        public let quantized: Tensor
        /// Chosen code per vector (row-major over N, h, w).
        public let indices: [Int]
        /// Codebook + commitment loss (commitment only with EMA).
        public let loss: Tensor
        /// exp(entropy) of this batch's code distribution.
        public let perplexity: Double
    }

    /// Nearest code of each row of z [M, D] (ties: the lowest index).
    public func nearest(_ z: Tensor) -> [Int] {
        noGrad {
            let e = codebook
            let M = z.shape[0]
            let scores = z.matmul(e.mT).contiguousRaw()  // [M, K]
            let en = (e * e).sum(1).toArray()
            let sp = scores.data
            var out = [Int](repeating: 0, count: M)
            out.withUnsafeMutableBufferPointer { ob in
                let op = ob.baseAddress!
                let K = codes
                Parallel.forRanges(M, grain: 256) { r in
                    for i in r {
                        var best = 0
                        var bestD = Float.infinity
                        for k in 0..<K {
                            let d = en[k] - 2 * sp[i * K + k]
                            if d < bestD {
                                bestD = d
                                best = k
                            }
                        }
                        op[i] = best
                    }
                }
            }
            return out
        }
    }

    /// z [N, D, h, w] → quantised (straight-through), indices, loss. While training it also updates the
    /// EMA codebook and the health statistics, and restarts dead codes when `restartAfter` is set.
    public func callAsFunction(_ z: Tensor, restartAfter: Int? = nil, rng: inout RNG) -> Output {
        precondition(z.rank == 4 && z.shape[1] == dim, "quantizer: expected [N, \(dim), h, w], got \(z.shape)")
        let N = z.shape[0]
        let h = z.shape[2]
        let w = z.shape[3]
        let flat = z.permute([0, 2, 3, 1]).reshape([N * h * w, dim])  // [M, D]
        let idx = nearest(flat.detach())
        var counts = [Int](repeating: 0, count: codes)
        for k in idx { counts[k] += 1 }
        let M = Double(idx.count)
        var entropy = 0.0
        for c in counts where c > 0 {
            let p = Double(c) / M
            entropy -= p * Foundation.log(p)
        }
        let zq = codebook.indexSelect(idx)  // [M, D]; carries the codebook's gradient in loss mode
        var loss = (flat - zq.detach()).square().mean() * beta
        if !ema { loss = loss + (zq - flat.detach()).square().mean() }
        let st = flat + (zq - flat).detach()
        let quantized = st.reshape([N, h, w, dim]).permute([0, 3, 1, 2]).contiguous()
        if isTraining {
            track(counts)
            if ema { emaUpdate(flat.detach(), idx, counts) }
            remember(flat.detach(), rng: &rng)
            if let after = restartAfter { restartDead(after: after, rng: &rng) }
        }
        return Output(quantized: quantized, indices: idx, loss: loss, perplexity: Foundation.exp(entropy))
    }

    func track(_ counts: [Int]) {
        let total = Double(Swift.max(1, counts.reduce(0, +)))
        for k in 0..<codes {
            idleSteps[k] = counts[k] > 0 ? 0 : idleSteps[k] + 1
            usage[k] = 0.95 * usage[k] + 0.05 * Double(counts[k]) / total
        }
        lastCounts = counts
    }

    func emaUpdate(_ z: Tensor, _ idx: [Int], _ counts: [Int]) {
        guard let cnt = emaCount?.value, let sum = emaSum?.value, let wt = emaWeight?.value else { return }
        let zp = z.contiguousRaw()
        let D = dim
        var batchSum = [Float](repeating: 0, count: codes * D)
        for (i, k) in idx.enumerated() { for d in 0..<D { batchSum[k * D + d] += zp.data[i * D + d] } }
        let g = decay
        var total: Float = 0
        for k in 0..<codes {
            cnt.data[k] = g * cnt.data[k] + (1 - g) * Float(counts[k])
            total += cnt.data[k]
            for d in 0..<D { sum.data[k * D + d] = g * sum.data[k * D + d] + (1 - g) * batchSum[k * D + d] }
        }
        let eps: Float = 1e-5
        for k in 0..<codes {
            let smoothed = (cnt.data[k] + eps) / (total + Float(codes) * eps) * total
            for d in 0..<D { wt.data[k * D + d] = sum.data[k * D + d] / smoothed }
        }
    }

    /// Keeps up to 4096 recent encoder outputs (a random subset of each batch) to restart codes from.
    func remember(_ z: Tensor, rng: inout RNG) {
        let a = z.toArray()
        let M = a.count / dim
        let take = Swift.min(M, 512)
        for _ in 0..<take {
            let i = rng.int(below: M)
            let v = Array(a[(i * dim)..<((i + 1) * dim)])
            if recent.count < 4096 { recent.append(v) } else { recent[rng.int(below: recent.count)] = v }
        }
    }

    /// Moves every code idle for `after` steps onto a random recent encoder output; returns how many.
    @discardableResult
    public func restartDead(after: Int, rng: inout RNG) -> Int {
        guard !recent.isEmpty else { return 0 }
        let e = codebook
        var n = 0
        noGrad {
            for k in 0..<codes where idleSteps[k] >= after {
                let v = recent[rng.int(below: recent.count)]
                for d in 0..<dim {
                    let jitter = 1e-3 * rng.normal()
                    e.data[k * dim + d] = v[d] + jitter
                    if ema {
                        emaSum!.value.data[k * dim + d] = v[d] + jitter
                    }
                }
                if ema { emaCount!.value.data[k] = 1 }
                idleSteps[k] = 0
                usage[k] = 1 / Double(codes)
                n += 1
            }
        }
        restarts += n
        return n
    }

    /// Codes idle for at least `after` steps, as a fraction of the codebook.
    public func deadFraction(after: Int) -> Double {
        Double(idleSteps.filter { $0 >= after }.count) / Double(codes)
    }
}

/// VQ-VAE's residual block: x + Conv1×1(ReLU(Conv3×3(ReLU(x)))).
public final class VQResBlock: Module {
    public let conv1: Conv2d, conv2: Conv2d
    public init(_ c: Int, hidden: Int, rng: inout RNG) {
        conv1 = Conv2d(c, hidden, kernel: 3, padding: 1, rng: &rng)
        conv2 = Conv2d(hidden, c, kernel: 1, rng: &rng)
    }
    public func callAsFunction(_ x: Tensor) -> Tensor { x + conv2(conv1(x.relu()).relu()) }
}

public struct VQModelConfig: Codable, Equatable, Sendable {
    public var channels = 3, size = 32
    /// Channels of the encoder and decoder.
    public var width = 64
    /// Codebook size K and code dimension D.
    public var codes = 64, codeDim = 16
    public var resBlocks = 1
    public var beta: Float = 0.25
    public var ema = true
    public init() {}
    /// The latent grid is the image downsampled 4×.
    public var gridSize: Int { size / 4 }
}

/// Encoder (two stride-2 convs, residual blocks, 1×1 to D), quantizer, decoder (the mirror image).
public final class VQAutoencoder: Module {
    public let config: VQModelConfig
    public let enc1: Conv2d, enc2: Conv2d, enc3: Conv2d
    public let encBlocks: [VQResBlock]
    public let toCode: Conv2d
    public let quantizer: VectorQuantizer
    public let fromCode: Conv2d
    public let decBlocks: [VQResBlock]
    public let dec1: ConvTranspose2d, dec2: ConvTranspose2d

    public init(_ c: VQModelConfig, rng: inout RNG) {
        config = c
        let w = c.width
        enc1 = Conv2d(c.channels, w / 2, kernel: 4, stride: 2, padding: 1, rng: &rng)
        enc2 = Conv2d(w / 2, w, kernel: 4, stride: 2, padding: 1, rng: &rng)
        enc3 = Conv2d(w, w, kernel: 3, padding: 1, rng: &rng)
        encBlocks = (0..<c.resBlocks).map { _ in VQResBlock(w, hidden: w / 2, rng: &rng) }
        toCode = Conv2d(w, c.codeDim, kernel: 1, rng: &rng)
        quantizer = VectorQuantizer(codes: c.codes, dim: c.codeDim, beta: c.beta, ema: c.ema, rng: &rng)
        fromCode = Conv2d(c.codeDim, w, kernel: 3, padding: 1, rng: &rng)
        decBlocks = (0..<c.resBlocks).map { _ in VQResBlock(w, hidden: w / 2, rng: &rng) }
        dec1 = ConvTranspose2d(w, w / 2, kernel: 4, stride: 2, padding: 1, rng: &rng)
        dec2 = ConvTranspose2d(w / 2, c.channels, kernel: 4, stride: 2, padding: 1, rng: &rng)
    }

    /// x [N, C, S, S] in [−1, 1] → z_e [N, D, S/4, S/4].
    public func encode(_ x: Tensor) -> Tensor {
        var h = enc3(enc2(enc1(x).relu()).relu())
        for b in encBlocks { h = b(h) }
        return toCode(h.relu())
    }

    /// z_q [N, D, S/4, S/4] → images [N, C, S, S].
    public func decode(_ z: Tensor) -> Tensor {
        var h = fromCode(z)
        for b in decBlocks { h = b(h) }
        return dec2(dec1(h.relu()).relu())
    }

    /// The last layer's weight (where VQGAN's adaptive weight is measured).
    public var lastLayerWeight: Tensor { dec2.weight }

    /// Code indices [N][h·w] of images.
    public func indices(_ x: Tensor) -> [[Int]] {
        noGrad {
            let z = encode(x)
            let N = z.shape[0]
            let hw = z.shape[2] * z.shape[3]
            let flat = z.permute([0, 2, 3, 1]).reshape([N * hw, config.codeDim])
            let idx = quantizer.nearest(flat)
            return (0..<N).map { Array(idx[($0 * hw)..<(($0 + 1) * hw)]) }
        }
    }

    /// Images from code indices (each row h·w indices, row-major).
    public func decode(indices rows: [[Int]]) -> Tensor {
        noGrad {
            let g = config.gridSize
            let flat = rows.flatMap { $0 }
            let zq = quantizer.codebook.indexSelect(flat)
            let z = zq.reshape([rows.count, g, g, config.codeDim]).permute([0, 3, 1, 2]).contiguous()
            return decode(z)
        }
    }
}

/// VQGAN's patch discriminator: a logit per overlapping patch ([N, 1, S/4, S/4]).
public final class PatchDiscriminator: Module {
    public let conv1: Conv2d, conv2: Conv2d, conv3: Conv2d
    public let norm: GroupNorm
    public init(channels: Int, width: Int, rng: inout RNG) {
        conv1 = Conv2d(channels, width, kernel: 4, stride: 2, padding: 1, rng: &rng)
        conv2 = Conv2d(width, 2 * width, kernel: 4, stride: 2, padding: 1, rng: &rng)
        norm = GroupNorm(groups: Swift.min(8, 2 * width), channels: 2 * width)
        conv3 = Conv2d(2 * width, 1, kernel: 3, padding: 1, rng: &rng)
    }
    public func callAsFunction(_ x: Tensor) -> Tensor {
        conv3(norm(conv2(conv1(x).leakyRelu(0.2))).leakyRelu(0.2))
    }
}
