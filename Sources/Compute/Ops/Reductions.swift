// Differentiable reductions, softmax, log-softmax and matrix products.

import CKernels

extension Tensor {
    /// Sum over `dims` (all when empty); `keepDim` keeps them with size 1.
    public func sum(_ dims: [Int] = [], keepDim: Bool = false) -> Tensor {
        let ds = dims.isEmpty ? Array(0..<rank) : Array(Set(dims.map { dim($0) })).sorted()
        let kept = Kernels.sum(self, dims: ds)
        let outShape = keepDim ? kept.shape : shape.enumerated().filter { !ds.contains($0.offset) }.map(\.element)
        let out = Tensor(storage: kept.storage, shape: outShape, strides: Tensor.contiguousStrides(outShape))
        let inShape = shape
        let keptShape = kept.shape
        return out.recorded("sum", [self]) { g in [g.reshape(keptShape).expand(inShape)] }
    }

    public func sum(_ d: Int, keepDim: Bool = false) -> Tensor { sum([d], keepDim: keepDim) }

    public func mean(_ dims: [Int] = [], keepDim: Bool = false) -> Tensor {
        let ds = dims.isEmpty ? Array(0..<rank) : dims.map { dim($0) }
        let n = ds.reduce(1) { $0 * shape[$1] }
        return sum(dims, keepDim: keepDim) * (1 / Float(Swift.max(n, 1)))
    }

    public func mean(_ d: Int, keepDim: Bool = false) -> Tensor { mean([d], keepDim: keepDim) }

    /// Population variance over `dims`.
    public func variance(_ dims: [Int], keepDim: Bool = false) -> Tensor {
        let mu = mean(dims, keepDim: true)
        return (self - mu).square().mean(dims, keepDim: keepDim)
    }

    /// Max along `dim` with its indices (gradient flows to the argmax).
    public func max(_ d: Int, keepDim: Bool = false) -> (values: Tensor, indices: [Int]) {
        let dd = dim(d)
        let (_, idx) = Kernels.maxAlong(self, dim: dd)
        var ishape = shape
        ishape[dd] = 1
        let v = gather(dd, index: idx, indexShape: ishape)
        return (keepDim ? v : v.squeeze(dd), idx)
    }

    /// Indices of the maximum along `dim` (row-major over the other dims).
    public func argmax(_ d: Int) -> [Int] { Kernels.maxAlong(self, dim: dim(d)).indices }

    /// Softmax along `dim` (default last).
    public func softmax(_ d: Int = -1) -> Tensor {
        let dd = dim(d)
        if dd != rank - 1 { return transpose(dd, -1).softmax(-1).transpose(dd, -1) }
        let out = Kernels.softmaxLastDim(self)
        let od = out.detach()
        return out.recorded("softmax", [self]) { g in
            let y = GradMode.isEnabled ? self.softmax(-1) : od
            return [y * (g - (g * y).sum(-1, keepDim: true))]
        }
    }

    /// log-softmax along `dim` (default last).
    public func logSoftmax(_ d: Int = -1) -> Tensor {
        let dd = dim(d)
        if dd != rank - 1 { return transpose(dd, -1).logSoftmax(-1).transpose(dd, -1) }
        let out = Kernels.logSoftmaxLastDim(self)
        let od = out.detach()
        return out.recorded("logSoftmax", [self]) { g in
            let p = GradMode.isEnabled ? self.softmax(-1) : od.exp()
            return [g - p * g.sum(-1, keepDim: true)]
        }
    }

    /// log Σ exp along `dim`.
    public func logSumExp(_ d: Int = -1, keepDim: Bool = false) -> Tensor {
        let m = noGrad { self.max(d, keepDim: true).values.detach() }
        let s = (self - m).exp().sum(d, keepDim: true).log() + m
        return keepDim ? s : s.squeeze(d)
    }

    /// Matrix product with broadcasting over batch dims: [..., M, K] · [..., K, N]. `rowsDone` (see
    /// `Kernels.matmul`) is a forward epilogue over the finished rows; it does not change the product
    /// or its gradient.
    public func matmul(_ other: Tensor, rowsDone: ((Tensor, Int, Int) -> Void)? = nil) -> Tensor {
        let out = Kernels.matmul(self, other, rowsDone: rowsDone)
        let sa = shape
        return out.recorded("matmul", [self, other]) { g in
            let dOther = other.requiresGrad ? Tensor.matmulGradient(of: other, input: self, g) : nil
            return [self.requiresGrad ? g.matmul(other.mT).sumTo(sa) : nil, dOther]
        }
    }

    /// The gradient of `other` in x · other, given the product's gradient g.
    static func matmulGradient(of other: Tensor, input x: Tensor, _ g: Tensor) -> Tensor {
        let sa = x.shape
        let sb = other.shape
        if sb.count == 2 && sa.count > 2 {
            // A shared weight: fold the batch into K, one [K, rows]·[rows, N] GEMM instead of a GEMM per
            // batch item and a sum over them.
            let K = sa[sa.count - 1]
            let rows = sa.reduce(1, *) / Swift.max(K, 1)
            let x2 = x.reshape([rows, K])
            let g2 = g.reshape([rows, sb[1]])
            if other.strides == [1, sb[0]] && sb[0] > 1 {
                // other is Wᵀ of a row-major W (a Linear layer): W's gradient is made row-major, so the
                // optimizer reads it without a transposing copy. The GEMM runs with the smaller side as
                // its rows (Xᵀ·G then one transposing copy of the small result, or Gᵀ·X directly):
                // wide-and-short products split and pack better here (4 L × 128: 352 × 128 × 4096
                // measured 74 % of peak, 128 × 352 × 4096 82 %).
                if sb[0] <= sb[1] { return x2.mT.matmul(g2).mT.contiguous().mT }
                return g2.mT.matmul(x2).mT
            }
            return x2.mT.matmul(g2)
        }
        return x.mT.matmul(g).sumTo(sb)
    }
}

extension Tensor {
    /// self · other + residual, the residual added as the product's epilogue: each block of rows
    /// while it is still in cache, instead of a separate pass that reads the product back from memory
    /// (a pre-norm block's `x + proj(a)`). Values and gradients are those of `matmul(other) +
    /// residual`; the residual must have the product's shape.
    public func matmul(_ other: Tensor, adding residual: Tensor) -> Tensor {
        precondition(rank >= 2 && other.rank >= 2, "matmul needs rank ≥ 2, got \(shape) and \(other.shape)")
        let shapeOut =
            Tensor.broadcastShape(Array(shape.dropLast(2)), Array(other.shape.dropLast(2)))
            + [shape[rank - 2], other.shape[other.rank - 1]]
        precondition(residual.shape == shapeOut, "matmul(adding:): residual \(residual.shape), product \(shapeOut)")
        let r = residual.contiguousRaw()
        let n = shapeOut[shapeOut.count - 1]
        let product = matmul(other) { out, r0, r1 in
            if r1 > r0 { orr_saxpy((r1 - r0) * n, 1, r.data + r0 * n, out.data + r0 * n) }
        }
        let sum = Tensor(
            storage: product.storage, shape: product.shape, strides: product.strides, offset: product.offset)
        return sum.recorded("add", [product, residual]) { g in
            [product.requiresGrad ? g : nil, residual.requiresGrad ? g : nil]
        }
    }
}

/// Fused losses.
extension Tensor {
    /// Mean cross-entropy of logits [N, C] against class indices (`ignoreIndex` rows skipped),
    /// fused with log-softmax: backward is (softmax − one-hot) / count.
    public func crossEntropy(_ targets: [Int], ignoreIndex: Int = -100) -> Tensor {
        precondition(rank == 2 && targets.count == shape[0], "crossEntropy: logits \(shape), \(targets.count) targets")
        let N = shape[0]
        let C = shape[1]
        let lse = Tensor.empty([N])
        var total: Double = 0
        var used = 0
        let logp = Profiler.scope(.crossEntropy, bytes: 8 * Double(N * C)) { () -> Tensor in
            let logp = Kernels.logSoftmaxLastDim(self, lse: lse.data)
            for (i, t) in targets.enumerated() where t != ignoreIndex {
                precondition(t >= 0 && t < C, "crossEntropy: target \(t) out of range 0..<\(C)")
                total -= Double(logp.data[i * C + t])
                used += 1
            }
            return logp
        }
        let out = Tensor.scalar(used == 0 ? 0 : Float(total / Double(used)))
        return out.recorded("crossEntropy", [self]) { g in
            if GradMode.isEnabled {
                return Autograd.compositeVJP([self], g) { i in
                    let lp = i[0].logSoftmax(-1)
                    let idx = targets.map { $0 == ignoreIndex ? 0 : $0 }
                    let picked = lp.gather(1, index: idx, indexShape: [N, 1]).reshape([N])
                    let w = Tensor(
                        shape: [N], data: targets.map { $0 == ignoreIndex ? 0 : 1 / Float(Swift.max(used, 1)) })
                    return -(picked * w).sum()
                }
            }
            let dx = Tensor.empty([N, C])
            let scale = g.item() / Float(Swift.max(used, 1))
            let lp = logp.data
            let dp = dx.data
            Profiler.scope(.crossEntropy, bytes: 8 * Double(N * C)) {
                Parallel.forRanges(N, grain: Swift.max(1, 4096 / Swift.max(C, 1))) { r in
                    for i in r {
                        let t = targets[i]
                        if t == ignoreIndex {
                            for j in 0..<C { dp[i * C + j] = 0 }
                            continue
                        }
                        orr_exp_scaled(lp + i * C, dp + i * C, C, scale)
                        dp[i * C + t] -= scale
                    }
                }
            }
            return [dx]
        }
    }

    /// Mean squared error against a target of the same shape.
    public func mseLoss(_ target: Tensor) -> Tensor { (self - target).square().mean() }
}

@inline(__always)
func orr_exp_scaled(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, _ s: Float) {
    orr_vexp(x, y, n)
    for j in 0..<n { y[j] *= s }
}
