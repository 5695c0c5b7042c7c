// Convolutional layer modules over the Compute ops (NCHW, PyTorch's layouts and initialisation), and
// the normalisations image models use: GroupNorm (batch-independent) and BatchNorm2d (batch statistics
// while training, running statistics in evaluation, kept as buffers so checkpoints carry them).
import Compute

/// 2-D convolution; weight [out, in, kh, kw], initialised U(−1/√fan_in, 1/√fan_in) like PyTorch.
public final class Conv2d: Module {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: Int, padding: Int

    public init(
        _ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true,
        rng: inout RNG
    ) {
        let bound = 1 / Float(inChannels * kernel * kernel).squareRoot()
        weight = Parameter(Tensor.rand([outChannels, inChannels, kernel, kernel], -bound, bound, rng: &rng))
        self.bias = bias ? Parameter(Tensor.rand([outChannels], -bound, bound, rng: &rng)) : nil
        self.stride = stride
        self.padding = padding
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        x.conv2d(weight, bias: bias, stride: (stride, stride), padding: (padding, padding))
    }

    /// The same on a channel-major batch [C, N, H, W] → [O, N, Ho, Wo].
    public func channelMajor(_ x: Tensor) -> Tensor {
        x.conv2dChannelMajor(weight, bias: bias, stride: (stride, stride), padding: (padding, padding))
    }
}

/// Transposed 2-D convolution; weight [in, out, kh, kw] (PyTorch's ConvTranspose2d layout).
public final class ConvTranspose2d: Module {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: Int, padding: Int

    public init(
        _ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true,
        rng: inout RNG
    ) {
        let bound = 1 / Float(outChannels * kernel * kernel).squareRoot()
        weight = Parameter(Tensor.rand([inChannels, outChannels, kernel, kernel], -bound, bound, rng: &rng))
        self.bias = bias ? Parameter(Tensor.rand([outChannels], -bound, bound, rng: &rng)) : nil
        self.stride = stride
        self.padding = padding
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        x.convTranspose2d(weight, bias: bias, stride: (stride, stride), padding: (padding, padding))
    }

    /// The same on a channel-major batch [Cin, N, H, W] → [Cout, N, Ho, Wo].
    public func channelMajor(_ x: Tensor) -> Tensor {
        x.convTranspose2dChannelMajor(weight, bias: bias, stride: (stride, stride), padding: (padding, padding))
    }
}

/// GroupNorm (Wu & He 2018) over [N, C, …] with a per-channel gain and bias.
public final class GroupNorm: Module {
    public let weight: Tensor, bias: Tensor
    public let groups: Int
    public let eps: Float
    public init(groups: Int, channels: Int, eps: Float = 1e-5) {
        precondition(channels % groups == 0, "GroupNorm: \(channels) channels in \(groups) groups")
        weight = Parameter(Tensor.ones([channels]))
        bias = Parameter(Tensor.zeros([channels]))
        self.groups = groups
        self.eps = eps
    }
    /// Normalises x, then applies `activation` in the same pass (GN → SiLU in a UNet block).
    public func callAsFunction(_ x: Tensor, activation: NormActivation = .none) -> Tensor {
        x.groupNorm(groups: groups, weight: weight, bias: bias, eps: eps, activation: activation)
    }
}

/// BatchNorm2d (Ioffe & Szegedy 2015): per channel over the batch and the plane. While training it
/// normalises with the batch's statistics and updates running ones (momentum 0.1, unbiased variance,
/// as PyTorch); in evaluation it uses the running ones.
public final class BatchNorm2d: Module {
    public let weight: Tensor, bias: Tensor
    public let runningMean: Buffer, runningVar: Buffer
    public let eps: Float, momentum: Float

    public init(_ channels: Int, eps: Float = 1e-5, momentum: Float = 0.1) {
        weight = Parameter(Tensor.ones([channels]))
        bias = Parameter(Tensor.zeros([channels]))
        runningMean = Buffer(Tensor.zeros([channels]))
        runningVar = Buffer(Tensor.ones([channels]))
        self.eps = eps
        self.momentum = momentum
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let (N, C) = (x.shape[0], x.shape[1])
        if !isTraining { return evaluate(x, shape: [1, C, 1, 1], activation: .none) }
        // [N, C, S] → [C, N·S]: one "group" per channel, so the fused GroupNorm kernel does the work.
        let S = x.count / Swift.max(N * C, 1)
        let cm = x.reshape([N, C, S]).permute([1, 0, 2]).contiguous().reshape([C, N * S])
        let y = normalize(cm)
        return y.reshape([C, N, S]).permute([1, 0, 2]).contiguous().reshape(x.shape)
    }

    /// The same on a channel-major batch [C, N, …]: no transposes at all. `activation` is applied in
    /// the same pass (BatchNorm → ReLU / LeakyReLU in a DCGAN).
    public func channelMajor(_ x: Tensor, activation: NormActivation = .none) -> Tensor {
        let C = x.shape[0]
        if !isTraining {
            return evaluate(x, shape: [C] + [Int](repeating: 1, count: x.rank - 1), activation: activation)
        }
        return normalize(x.reshape([C, x.count / Swift.max(C, 1)]), activation: activation).reshape(x.shape)
    }

    func evaluate(_ x: Tensor, shape: [Int], activation: NormActivation) -> Tensor {
        let rstd = runningVar.value.affine(scale: 1, shift: eps).pow(-0.5)
        let scale = (weight * rstd).reshape(shape)
        let shift = (bias - runningMean.value * weight * rstd).reshape(shape)
        let y = x * scale + shift
        switch activation {
        case .none: return y
        case .silu: return y.silu()
        case .leakyRelu(let s): return y.leakyRelu(s)
        }
    }

    /// Batch statistics of rows [C, M]: normalises, and updates the running statistics from the
    /// kernel's own mean and 1/σ (biased variance 1/rstd² − eps, made unbiased).
    func normalize(_ rows: Tensor, activation: NormActivation = .none) -> Tensor {
        let (C, M) = (rows.shape[0], rows.shape[1])
        let r = rows.reshape([1, C, M]).groupNormWithStatistics(
            groups: C, weight: weight, bias: bias, eps: eps, activation: activation)
        noGrad {
            let v = (r.rstd.pow(-2) - eps).relu() * (Float(M) / Float(Swift.max(M - 1, 1)))
            runningMean.value.assign(runningMean.value * (1 - momentum) + r.mean * momentum)
            runningVar.value.assign(runningVar.value * (1 - momentum) + v * momentum)
        }
        return r.y.reshape([C, M])
    }
}
