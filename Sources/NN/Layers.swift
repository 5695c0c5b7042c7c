// Small layer modules over the Compute ops.
import Compute

/// Token embedding table [vocab, width], N(0, 0.02²) initialised (GPT-2).
public final class Embedding: Module {
    public let weight: Tensor
    public init(_ count: Int, _ width: Int, std: Float = 0.02, rng: inout RNG) {
        weight = Parameter(Tensor.randn([count, width], std: std, rng: &rng))
    }
    /// ids (row-major, any batch shape) → [ids.count, width]
    public func callAsFunction(_ ids: [Int]) -> Tensor { weight.embedding(ids) }
}

/// RMSNorm (Zhang & Sennrich 2019) with a learned gain, over the last dimension.
public final class RMSNorm: Module {
    public let weight: Tensor
    public let eps: Float
    public init(_ width: Int, eps: Float = 1e-6) {
        weight = Parameter(Tensor.ones([width]))
        self.eps = eps
    }
    public func callAsFunction(_ x: Tensor) -> Tensor { x.rmsNorm(weight: weight, eps: eps) }
}

/// LayerNorm (Ba et al. 2016) with gain and bias, over the last dimension.
public final class LayerNorm: Module {
    public let weight: Tensor, bias: Tensor
    public let eps: Float
    public init(_ width: Int, eps: Float = 1e-5) {
        weight = Parameter(Tensor.ones([width]))
        bias = Parameter(Tensor.zeros([width]))
        self.eps = eps
    }
    public func callAsFunction(_ x: Tensor) -> Tensor { x.layerNorm(weight: weight, bias: bias, eps: eps) }
}
