// Optimizers define their state and a single-parameter update; `step()` applies it to every
// parameter that has a gradient. Updates run without autograd, in place.
import CKernels
import Compute
import Foundation

public protocol Optimizer: AnyObject {
    var learningRate: Float { get set }
    /// Applies one update from the current gradients.
    func step()
}

extension Optimizer {
    /// Clears the gradients of `params`.
    public func zeroGrad(_ params: [Tensor]) { for p in params { p.grad = nil } }
}

/// Stochastic gradient descent with momentum (PyTorch semantics: v ← μv + g; p ← p − lr·v;
/// Nesterov: p ← p − lr·(g + μv)), optional L2 weight decay added to the gradient.
public final class SGD: Optimizer {
    public var learningRate: Float
    public let momentum: Float, weightDecay: Float, nesterov: Bool
    let params: [Tensor]
    var velocity: [Tensor?]

    public init(_ params: [Tensor], lr: Float, momentum: Float = 0, weightDecay: Float = 0, nesterov: Bool = false) {
        self.params = params
        learningRate = lr
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.nesterov = nesterov
        velocity = Array(repeating: nil, count: params.count)
    }

    public func step() {
        noGrad {
            for (i, p) in params.enumerated() {
                guard let gt = p.grad else { continue }
                let g = gt.contiguousRaw()
                let n = p.count
                let pp = p.data
                let gp = g.data
                precondition(p.isContiguous, "optimizer parameters must be contiguous")
                let lr = learningRate
                let wd = weightDecay
                let mu = momentum
                if mu == 0 {
                    for j in 0..<n { pp[j] -= lr * (gp[j] + wd * pp[j]) }
                    continue
                }
                let first = velocity[i] == nil
                if first { velocity[i] = Tensor.zeros(p.shape) }
                let vp = velocity[i]!.data
                // PyTorch: the first step sets v = g (no dampening), later v = μv + g.
                for j in 0..<n { vp[j] = (first ? 0 : mu * vp[j]) + gp[j] + wd * pp[j] }
                if nesterov {
                    for j in 0..<n { pp[j] -= lr * (gp[j] + wd * pp[j] + mu * vp[j]) }
                } else {
                    for j in 0..<n { pp[j] -= lr * vp[j] }
                }
            }
        }
    }
}

/// Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019, decoupled weight decay).
/// With `decoupled` false, weight decay is L2 added to the gradient (torch.optim.Adam).
public final class Adam: Optimizer {
    public var learningRate: Float
    public let beta1: Float, beta2: Float, eps: Float, weightDecay: Float, decoupled: Bool
    public let params: [Tensor]
    /// Whether weight decay applies to each parameter (AdamW masks norms, biases, embeddings).
    public let decayMask: [Bool]
    public private(set) var m: [Tensor]
    public private(set) var v: [Tensor]
    public private(set) var stepCount = 0

    public init(
        _ params: [Tensor], lr: Float = 1e-3, betas: (Float, Float) = (0.9, 0.999), eps: Float = 1e-8,
        weightDecay: Float = 0, decoupled: Bool = false, decayMask: [Bool]? = nil
    ) {
        self.params = params
        learningRate = lr
        (beta1, beta2) = betas
        self.eps = eps
        self.weightDecay = weightDecay
        self.decoupled = decoupled
        self.decayMask = decayMask ?? Array(repeating: true, count: params.count)
        precondition(self.decayMask.count == params.count, "decay mask length differs from parameters")
        m = params.map { Tensor.zeros($0.shape) }
        v = params.map { Tensor.zeros($0.shape) }
    }

    /// AdamW over named parameters, with the usual mask: decay matrices (rank ≥ 2), but not biases,
    /// norm weights or embeddings (names containing "embed" or "norm").
    public static func adamW(
        _ named: [(String, Tensor)], lr: Float = 1e-3, betas: (Float, Float) = (0.9, 0.95),
        eps: Float = 1e-8, weightDecay: Float = 0.1
    ) -> Adam {
        let mask = named.map { name, t in
            t.rank >= 2 && !name.lowercased().contains("embed") && !name.lowercased().contains("norm")
        }
        return Adam(
            named.map(\.1), lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, decoupled: true,
            decayMask: mask)
    }

    /// Restores step count and moments (for resuming a run).
    public func load(step: Int, m: [Tensor], v: [Tensor]) {
        precondition(m.count == params.count && v.count == params.count, "optimizer state size mismatch")
        stepCount = step
        for i in 0..<params.count {
            self.m[i].assign(m[i])
            self.v[i].assign(v[i])
        }
    }

    public func step() {
        stepCount += 1
        let t = Float(stepCount)
        let bc1 = 1 - Foundation.pow(beta1, t)
        let bc2 = 1 - Foundation.pow(beta2, t)
        let lr = learningRate
        let b1 = beta1
        let b2 = beta2
        let e = eps
        let decoupled: Int32 = self.decoupled ? 1 : 0
        let wdAll = weightDecay
        // Multi-tensor: every parameter's update in one parallel region, split by element over the
        // concatenation of the parameters (the update is elementwise: no thread-count dependence).
        var parts: [AdamPart] = []
        var total = 0
        var grads: [Tensor] = []  // keeps contiguous copies of strided gradients alive
        for (i, p) in params.enumerated() {
            guard let gt = p.grad else { continue }
            precondition(p.isContiguous, "optimizer parameters must be contiguous")
            let g = gt.contiguousRaw()
            grads.append(g)
            parts.append(
                AdamPart(
                    start: total, p: p.data, g: g.data, m: m[i].data, v: v[i].data,
                    wd: decayMask[i] ? wdAll : 0))
            total += p.count
        }
        parts.append(AdamPart(start: total, p: nil, g: nil, m: nil, v: nil, wd: 0))
        Profiler.scope(.optimizer, bytes: 28 * Double(total)) {
            parts.withUnsafeBufferPointer { pb in
                Parallel.forRanges(total, grain: 1 << 14) { r in
                    // First part holding element r.lowerBound (binary search), then part by part.
                    var lo = 0
                    var hi = pb.count - 1
                    while lo + 1 < hi {
                        let mid = (lo + hi) / 2
                        if pb[mid].start <= r.lowerBound { lo = mid } else { hi = mid }
                    }
                    var k = lo
                    var at = r.lowerBound
                    while at < r.upperBound {
                        let part = pb[k]
                        let end = Swift.min(r.upperBound, pb[k + 1].start)
                        let o = at - part.start
                        if end > at {
                            orr_adam(
                                part.p! + o, part.g! + o, part.m! + o, part.v! + o, end - at, lr, b1, b2, e, bc1, bc2,
                                part.wd, decoupled)
                        }
                        at = end
                        k += 1
                    }
                }
            }
        }
        withExtendedLifetime(grads) {}
    }
}

/// One parameter's slice of a multi-tensor Adam update: where it starts in the concatenation, its
/// buffers and its weight decay. A last part with nil buffers marks the end.
struct AdamPart {
    let start: Int
    let p: UnsafeMutablePointer<Float>?, g: UnsafeMutablePointer<Float>?
    let m: UnsafeMutablePointer<Float>?, v: UnsafeMutablePointer<Float>?
    let wd: Float
}
