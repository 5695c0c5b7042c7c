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
    public func callAsFunction(_ x: Tensor) -> Tensor {
        x.groupNorm(groups: groups, weight: weight, bias: bias, eps: eps)
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
        let N = x.shape[0]
        let C = x.shape[1]
        let S = x.count / Swift.max(N * C, 1)
        if !isTraining {
            let rstd = runningVar.value.affine(scale: 1, shift: eps).pow(-0.5)
            let scale = (weight * rstd).reshape([1, C, 1, 1])
            let shift = (bias - runningMean.value * weight * rstd).reshape([1, C, 1, 1])
            return x * scale + shift
        }
        // [N, C, S] → [C, N·S]: one "group" per channel, so the fused GroupNorm kernel does the work.
        let cm = x.reshape([N, C, S]).permute([1, 0, 2]).contiguous().reshape([1, C, N * S])
        noGrad {
            let mu = cm.mean(2).reshape([C])
            let v = cm.variance([2]).reshape([C]) * (Float(N * S) / Float(Swift.max(N * S - 1, 1)))
            runningMean.value.assign(runningMean.value * (1 - momentum) + mu * momentum)
            runningVar.value.assign(runningVar.value * (1 - momentum) + v * momentum)
        }
        let y = cm.groupNorm(groups: C, weight: weight, bias: bias, eps: eps)
        return y.reshape([C, N, S]).permute([1, 0, 2]).contiguous().reshape(x.shape)
    }
}
