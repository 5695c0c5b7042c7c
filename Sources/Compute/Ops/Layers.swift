// Differentiable normalisation, embedding and convolution ops (the NN layers wrap these).

import CKernels

extension Tensor {
    /// LayerNorm over the last dimension: (x − μ)/√(σ² + ε)·w + b.
    public func layerNorm(weight: Tensor?, bias: Tensor?, eps: Float = 1e-5) -> Tensor {
        normOp(weight: weight, bias: bias, eps: eps, rms: false)
    }

    /// RMSNorm over the last dimension: x/√(mean(x²) + ε)·w.
    public func rmsNorm(weight: Tensor?, eps: Float = 1e-6) -> Tensor {
        normOp(weight: weight, bias: nil, eps: eps, rms: true)
    }

    func normOp(weight: Tensor?, bias: Tensor?, eps: Float, rms: Bool) -> Tensor {
        let C = shape[rank - 1]
        let R = count / Swift.max(C, 1)
        if let w = weight { precondition(w.shape == [C], "norm weight \(w.shape), expected [\(C)]") }
        if let b = bias { precondition(b.shape == [C], "norm bias \(b.shape), expected [\(C)]") }
        let x = contiguousRaw()
        let wc = weight?.contiguousRaw()
        let bc = bias?.contiguousRaw()
        let out = Tensor.empty(shape)
        let mean = Tensor.empty([R])
        let rstd = Tensor.empty([R])
        Kernels.normForward(
            x: x.data, y: out.data, rows: R, cols: C, weight: wc.map { UnsafePointer($0.data) },
            bias: bc.map { UnsafePointer($0.data) }, eps: eps, rms: rms, mean: mean.data, rstd: rstd.data)
        var inputs = [self]
        if let w = weight { inputs.append(w) }
        if let b = bias { inputs.append(b) }
        let hasW = weight != nil
        let hasB = bias != nil
        // The backward, adding x's gradient so far (`prior`, e.g. a residual's) into dx in the same pass.
        func gradients(_ g: Tensor, _ prior: Tensor?) -> [Tensor?] {
            let gc = g.contiguousRaw()
            let pc = prior?.contiguousRaw()
            let dx = Tensor.empty(self.shape)
            let dw = (hasW && weight!.requiresGrad) ? Tensor.zeros([C]) : nil
            let db = (hasB && bias!.requiresGrad) ? Tensor.zeros([C]) : nil
            Kernels.normBackward(
                dy: gc.data, x: x.data, rows: R, cols: C, weight: wc.map { UnsafePointer($0.data) },
                mean: mean.data, rstd: rstd.data, rms: rms, dx: dx.data, dw: dw?.data, db: db?.data,
                add: pc.map { UnsafePointer($0.data) })
            var r: [Tensor?] = [dx]
            if hasW { r.append(dw) }
            if hasB { r.append(db) }
            return r
        }
        return out.recorded(
            rms ? "rmsNorm" : "layerNorm", inputs,
            { g in
                if GradMode.isEnabled {
                    return Autograd.compositeVJP(inputs, g) { i in
                        let x = i[0]
                        var y: Tensor
                        if rms {
                            y = x / ((x * x).mean(-1, keepDim: true) + eps).sqrt()
                        } else {
                            let mu = x.mean(-1, keepDim: true)
                            let d = x - mu
                            y = d / ((d * d).mean(-1, keepDim: true) + eps).sqrt()
                        }
                        if hasW { y = y * i[1] }
                        if hasB { y = y + i[hasW ? 2 : 1] }
                        return y
                    }
                }
                return gradients(g, nil)
            }, addingFirst: gradients)
    }

    /// GroupNorm of x [N, C, …] with `groups` groups and per-channel affine [C], then `activation`
    /// (fused: one pass forward and one backward).
    public func groupNorm(
        groups G: Int, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5, activation: NormActivation = .none
    ) -> Tensor {
        groupNormWithStatistics(groups: G, weight: weight, bias: bias, eps: eps, activation: activation).y
    }

    /// `groupNorm`, also returning each (sample, group)'s mean and 1/σ [N·G] (not differentiated), so a
    /// BatchNorm updates its running statistics without another pass over the batch.
    public func groupNormWithStatistics(
        groups G: Int, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5, activation: NormActivation = .none
    ) -> (y: Tensor, mean: Tensor, rstd: Tensor) {
        precondition(rank >= 2 && shape[1] % G == 0, "groupNorm: \(shape[1]) channels not divisible by \(G) groups")
        let N = shape[0]
        let C = shape[1]
        let S = count / Swift.max(N * C, 1)
        let x = contiguousRaw()
        let wc = weight?.contiguousRaw()
        let bc = bias?.contiguousRaw()
        let out = Tensor.empty(shape)
        let mean = Tensor.empty([N * G])
        let rstd = Tensor.empty([N * G])
        Kernels.groupNormForward(
            x: x.data, y: out.data, N: N, C: C, S: S, groups: G, weight: wc.map { UnsafePointer($0.data) },
            bias: bc.map { UnsafePointer($0.data) }, eps: eps, activation: activation, mean: mean.data,
            rstd: rstd.data)
        var inputs = [self]
        if let w = weight { inputs.append(w) }
        if let b = bias { inputs.append(b) }
        let hasW = weight != nil
        let hasB = bias != nil
        let inShape = shape
        let y = out.recorded(activation == .none ? "groupNorm" : "groupNormAct", inputs) { g in
            if GradMode.isEnabled {
                return Autograd.compositeVJP(inputs, g) { i in
                    let xg = i[0].reshape([N, G, C / G * S])
                    let mu = xg.mean(-1, keepDim: true)
                    let d = xg - mu
                    var y = (d / ((d * d).mean(-1, keepDim: true) + eps).sqrt()).reshape([N, C, S])
                    if hasW { y = y * i[1].reshape([1, C, 1]) }
                    if hasB { y = y + i[hasW ? 2 : 1].reshape([1, C, 1]) }
                    switch activation {
                    case .none: break
                    case .silu: y = y.silu()
                    case .leakyRelu(let s): y = y.leakyRelu(s)
                    }
                    return y.reshape(inShape)
                }
            }
            let gc = g.contiguousRaw()
            let dx = Tensor.empty(inShape)
            let dw = (hasW && weight!.requiresGrad) ? Tensor.zeros([C]) : nil
            let db = (hasB && bias!.requiresGrad) ? Tensor.zeros([C]) : nil
            Kernels.groupNormBackward(
                dy: gc.data, x: x.data, N: N, C: C, S: S, groups: G,
                weight: wc.map { UnsafePointer($0.data) }, bias: bc.map { UnsafePointer($0.data) },
                activation: activation, mean: mean.data, rstd: rstd.data, dx: dx.data, dw: dw?.data, db: db?.data)
            var r: [Tensor?] = [dx]
            if hasW { r.append(dw) }
            if hasB { r.append(db) }
            return r
        }
        return (y, mean, rstd)
    }

    /// Embedding lookup: rows of this [V, D] table → [ids.count, D].
    public func embedding(_ ids: [Int]) -> Tensor { indexSelect(ids) }

    // MARK: convolution

    /// Sliding-window patches of x [N, C, H, W] → [N, C·kh·kw, Ho·Wo] (pad value for outside taps).
    public func im2col(_ w: Window2D, pad: Float = 0) -> Tensor {
        precondition(rank == 4, "im2col expects [N, C, H, W], got \(shape)")
        let N = shape[0]
        let C = shape[1]
        let H = shape[2]
        let W = shape[3]
        let (Ho, Wo) = w.outSize(H, W)
        precondition(Ho > 0 && Wo > 0, "window \(w) does not fit in \(H)×\(W)")
        let x = contiguousRaw()
        let out = Tensor.empty([N, C * w.kh * w.kw, Ho * Wo])
        Kernels.im2col(x.data, planes: N * C, H: H, W: W, w, pad: pad, into: out.data)
        return out.recorded("im2col", [self]) { g in [g.col2im(w, N: N, C: C, H: H, W: W)] }
    }

    /// Adjoint of im2col: [N, C·kh·kw, L] patches summed into [N, C, H, W].
    public func col2im(_ w: Window2D, N: Int, C: Int, H: Int, W: Int) -> Tensor {
        let (Ho, Wo) = w.outSize(H, W)
        precondition(shape == [N, C * w.kh * w.kw, Ho * Wo], "col2im: \(shape) does not match the window")
        let c = contiguousRaw()
        let out = Tensor.empty([N, C, H, W])
        Kernels.col2im(c.data, planes: N * C, H: H, W: W, w, into: out.data)
        return out.recorded("col2im", [self]) { g in [g.im2col(w)] }
    }

    /// Batch-folded patches of x [N, C, H, W] (or channel-major [C, N, H, W]) → [C·kh·kw, N·Ho·Wo];
    /// its adjoint is `col2imFolded`.
    public func im2colFolded(_ w: Window2D, pad: Float = 0, channelMajor cm: Bool = false) -> Tensor {
        precondition(rank == 4, "im2colFolded expects a rank-4 image tensor, got \(shape)")
        let (N, C) = cm ? (shape[1], shape[0]) : (shape[0], shape[1])
        let (H, W) = (shape[2], shape[3])
        let (Ho, Wo) = w.outSize(H, W)
        precondition(Ho > 0 && Wo > 0, "window \(w) does not fit in \(H)×\(W)")
        let x = contiguousRaw()
        let out = Tensor.empty([C * w.kh * w.kw, N * Ho * Wo])
        Kernels.im2colFolded(x.data, N: N, C: C, H: H, W: W, w, pad: pad, into: out.data, channelMajor: cm)
        return out.recorded("im2colFolded", [self]) { g in
            [g.col2imFolded(w, N: N, C: C, H: H, W: W, channelMajor: cm)]
        }
    }

    /// Adjoint of im2colFolded: [C·kh·kw, N·Ho·Wo] summed into [N, C, H, W] (or [C, N, H, W]).
    public func col2imFolded(_ w: Window2D, N: Int, C: Int, H: Int, W: Int, channelMajor cm: Bool = false) -> Tensor {
        let (Ho, Wo) = w.outSize(H, W)
        precondition(shape == [C * w.kh * w.kw, N * Ho * Wo], "col2imFolded: \(shape) does not match the window")
        let c = contiguousRaw()
        let out = Tensor.empty(cm ? [C, N, H, W] : [N, C, H, W])
        Kernels.col2imFolded(c.data, N: N, C: C, H: H, W: W, w, into: out.data, channelMajor: cm)
        return out.recorded("col2imFolded", [self]) { g in [g.im2colFolded(w, channelMajor: cm)] }
    }

    /// wm [O, C·kh·kw] · im2colFolded(self) → [O, N·Ho·Wo]. By implicit GEMM where the output rows
    /// are wide enough (Kernels.implicitPays): the im2col matrix is packed straight from the image in
    /// the forward and in the weight gradient (dW = dY · colsᵀ), never written out, and the input
    /// gradient col2im(wmᵀ · dY) is the transposed convolution of dY by phases (no scatter-add).
    /// Narrow maps (a 4 × 4 head) keep the explicit im2col matrix. Under a recorded backward
    /// (gradients of gradients) the backward is built from the differentiable explicit ops instead.
    public func convFolded(_ wm: Tensor, _ w: Window2D, channelMajor cm: Bool = false) -> Tensor {
        precondition(rank == 4 && wm.rank == 2, "convFolded: x \(shape), weights \(wm.shape)")
        let (N, C) = cm ? (shape[1], shape[0]) : (shape[0], shape[1])
        let (H, W) = (shape[2], shape[3])
        let (Ho, Wo) = w.outSize(H, W)
        let K = C * w.kh * w.kw
        precondition(Ho > 0 && Wo > 0 && wm.shape[1] == K, "convFolded: x \(shape), weights \(wm.shape), \(w)")
        guard Kernels.implicitPays(width: Wo, channels: C) else { return convFoldedBlocked(wm, w, channelMajor: cm) }
        let O = wm.shape[0]
        let x = contiguousRaw()
        let a = wm.contiguousRaw()
        let geometry = orr_conv_geometry(
            x: x.data, N: N, C: C, H: H, W: W, kh: w.kh, kw: w.kw, sh: w.sh, sw: w.sw, ph: w.ph, pw: w.pw, dh: w.dh,
            dw: w.dw, Ho: Ho, Wo: Wo, channelMajor: cm ? 1 : 0)
        let out = Tensor.empty([O, N * Ho * Wo])
        let pad = Kernels.directApplies(geometry) ? Kernels.PaddedImage(geometry) : nil
        withExtendedLifetime(x) {
            if !Kernels.convDirect(
                M: O, N: N * Ho * Wo, K: K, A: a.data, lda: K, geometry, C: out.data, ldc: N * Ho * Wo, padded: pad)
            {
                Kernels.gemmIm2col(
                    M: O, N: N * Ho * Wo, K: K, A: a.data, rsA: K, csA: 1, geometry: geometry, transposed: false,
                    C: out.data, rsC: N * Ho * Wo, csC: 1)
            }
        }
        return out.recorded("convFolded", [self, wm]) { g in
            if GradMode.isEnabled {  // a recorded backward: differentiable ops
                return Tensor.convFoldedRecordedBackward(self, wm, g, w, channelMajor: cm)
            }
            // Only the gradients some input needs (a discriminator's real batch needs no dx).
            let gc = g.contiguousRaw()
            var dw: Tensor?
            if wm.requiresGrad {
                let d = Tensor.empty([O, K])
                withExtendedLifetime(x) {
                    if !Kernels.convWeightGradDirect(
                        O: O, dy: gc.data, nchw: false, geometry, into: d.data, padded: pad)
                    {
                        Kernels.gemmIm2col(
                            M: O, N: K, K: N * Ho * Wo, A: gc.data, rsA: N * Ho * Wo, csA: 1, geometry: geometry,
                            transposed: true, C: d.data, rsC: K, csC: 1)
                    }
                }
                dw = d
            }
            let dx =
                self.requiresGrad
                ? Tensor.transposedConvolution(
                    gc, inChannelMajor: true, N: N, Cin: O, H: Ho, W: Wo, weight: a, Cout: C, w, Ho: H, Wo: W,
                    outChannelMajor: cm) : nil
            return [dx, dw]
        }
    }

    /// The gradients of wm · im2colFolded(x) from differentiable ops, for a recorded backward
    /// (gradients of gradients): [dx, dwm].
    static func convFoldedRecordedBackward(
        _ x: Tensor, _ wm: Tensor, _ g: Tensor, _ w: Window2D, channelMajor cm: Bool
    ) -> [Tensor?] {
        let (N, C) = cm ? (x.shape[1], x.shape[0]) : (x.shape[0], x.shape[1])
        let cols = x.im2colFolded(w, channelMajor: cm)
        return [
            wm.mT.matmul(g).col2imFolded(w, N: N, C: C, H: x.shape[2], W: x.shape[3], channelMajor: cm),
            g.matmul(cols.mT),
        ]
    }

    /// The gradients of col2imFolded(wmᵀ · x) from differentiable ops, for a recorded backward: [dx, dwm].
    static func convTransposeFoldedRecordedBackward(
        _ x: Tensor, _ wm: Tensor, _ g: Tensor, _ w: Window2D, channelMajor cm: Bool
    ) -> [Tensor?] {
        let cols = g.im2colFolded(w, channelMajor: cm)
        return [wm.matmul(cols), x.matmul(cols.mT)]
    }

    /// An NCHW convolution x [N, C, H, W] · wm [O, C·kh·kw] → [N, O, Ho, Wo] written in NCHW order by
    /// the direct kernel (no [O, N·L] result to transpose; nil where the direct kernel does not apply).
    /// Backward: dW = dY · colsᵀ by implicit GEMM, dx the transposed convolution of dY by phases; a
    /// recorded backward uses the differentiable explicit ops.
    func convDirectNCHW(_ wm: Tensor, _ w: Window2D) -> Tensor? {
        let (N, C, H, W) = (shape[0], shape[1], shape[2], shape[3])
        let (Ho, Wo) = w.outSize(H, W)
        let (O, K, L) = (wm.shape[0], wm.shape[1], Ho * Wo)
        guard Kernels.implicitPays(width: Wo, channels: C) else { return nil }
        let x = contiguousRaw()
        let a = wm.contiguousRaw()
        let geometry = orr_conv_geometry(
            x: x.data, N: N, C: C, H: H, W: W, kh: w.kh, kw: w.kw, sh: w.sh, sw: w.sw, ph: w.ph, pw: w.pw, dh: w.dh,
            dw: w.dw, Ho: Ho, Wo: Wo, channelMajor: 0)
        let out = Tensor.empty([N, O, Ho, Wo])
        let pad =
            Kernels.directApplies(geometry) && Wo % 16 == 0 && L % 32 == 0 ? Kernels.PaddedImage(geometry) : nil
        let done = withExtendedLifetime(x) {
            Kernels.convDirect(
                M: O, N: N * L, K: K, A: a.data, lda: K, geometry, C: out.data, ldc: 0, nchw: true, padded: pad)
        }
        guard done else { return nil }
        return out.recorded("convDirectNCHW", [self, wm]) { g in
            if GradMode.isEnabled {  // a recorded backward: differentiable ops
                let gm = g.reshape([N, O, L]).permute([1, 0, 2]).reshape([O, N * L])
                let cols = self.im2colFolded(w)
                return [wm.mT.matmul(gm).col2imFolded(w, N: N, C: C, H: H, W: W), gm.matmul(cols.mT)]
            }
            // The direct kernels read dY in NCHW as it is. Otherwise [N, O, L] → [O, N·L] once (one
            // copy of dY), then one weight-gradient GEMM over the whole batch — measured faster than
            // a GEMM per image on the NCHW gradient.
            let gc = g.contiguousRaw()
            var gmCache: Tensor?
            func gm() -> Tensor {
                if let m = gmCache { return m }
                let m = noGrad { gc.reshape([N, O, L]).permute([1, 0, 2]).contiguous().reshape([O, N * L]) }
                gmCache = m
                return m
            }
            var dw: Tensor?
            if wm.requiresGrad {
                let d = Tensor.empty([O, K])
                let direct = withExtendedLifetime(x) {
                    Kernels.convWeightGradDirect(O: O, dy: gc.data, nchw: true, geometry, into: d.data, padded: pad)
                }
                if !direct {
                    let m = gm()
                    withExtendedLifetime(x) {
                        Kernels.gemmIm2col(
                            M: O, N: K, K: N * L, A: m.data, rsA: N * L, csA: 1, geometry: geometry,
                            transposed: true, C: d.data, rsC: K, csC: 1)
                    }
                }
                dw = d
            }
            guard self.requiresGrad else { return [nil, dw] }
            let byPhases = Tensor.transposedConvolutionByPhases(Cin: O, H: Ho, W: Wo, Cout: C, w, Wo: W)
            let dx = Tensor.transposedConvolution(
                byPhases ? gc : gm(), inChannelMajor: !byPhases, N: N, Cin: O, H: Ho, W: Wo, weight: a, Cout: C, w,
                Ho: H, Wo: W, outChannelMajor: false)
            return [dx, dw]
        }
    }

    /// col2im(wᵀ · x) without recording: x [Cin, N·H·W] (inChannelMajor) or [N, Cin, H, W], w
    /// [Cin, Cout·kh·kw] → [N, Cout, Ho, Wo] (or channel-major); by phases where that pays, else the
    /// explicit GEMM and col2im (which needs x as [Cin, N·H·W]).
    static func transposedConvolution(
        _ x: Tensor, inChannelMajor: Bool, N: Int, Cin: Int, H: Int, W: Int, weight a: Tensor, Cout: Int,
        _ w: Window2D, Ho: Int, Wo: Int, outChannelMajor cm: Bool
    ) -> Tensor {
        if transposedConvolutionByPhases(Cin: Cin, H: H, W: W, Cout: Cout, w, Wo: Wo) {
            let y = Tensor.empty(cm ? [Cout, N, Ho, Wo] : [N, Cout, Ho, Wo])
            Kernels.convTransposePhases(
                x.data, inChannelMajor: inChannelMajor, N: N, Cin: Cin, H: H, W: W, weight: a.data, Cout: Cout, w,
                Ho: Ho, Wo: Wo, into: y.data, outChannelMajor: cm)
            return y
        }
        precondition(inChannelMajor, "transposedConvolution: the explicit path takes x as [Cin, N·H·W]")
        return noGrad {
            a.mT.matmul(x.reshape([Cin, N * H * W])).col2imFolded(w, N: N, C: Cout, H: Ho, W: Wo, channelMajor: cm)
        }
    }

    /// Whether `transposedConvolution` goes by phases (and so takes x in either layout). Phases pack
    /// Cin·kh·kw·N·Ho·Wo/(sh·sw) values; the explicit way writes and scatters a Cout·kh·kw·N·H·W
    /// matrix: phases pay when Cin is not much larger than Cout.
    static func transposedConvolutionByPhases(Cin: Int, H: Int, W: Int, Cout: Int, _ w: Window2D, Wo: Int) -> Bool {
        w.dh == 1 && w.dw == 1 && Kernels.implicitPays(width: Wo / w.sw) && H >= w.kh / w.sh && W >= w.kw / w.sw
            && Cin <= 2 * Cout
    }

    /// The transposed convolution's core: self [Cin, N·H·W] (a matrix), wm [Cin, Cout·kh·kw] →
    /// col2imFolded(wmᵀ · self) of shape [N, Cout, Ho, Wo] (or [Cout, N, Ho, Wo]), by phases. Its
    /// backward is two implicit GEMMs over the im2col matrix of the output gradient (never formed):
    /// dx = wm · im2col(g), dwm = x · im2col(g)ᵀ. Narrow maps use the explicit ops; so does a
    /// recorded backward.
    public func convTransposeFolded(
        _ wm: Tensor, _ w: Window2D, N: Int, Cout: Int, Ho: Int, Wo: Int, channelMajor cm: Bool = false
    ) -> Tensor {
        precondition(rank == 2 && wm.rank == 2 && wm.shape == [shape[0], Cout * w.kh * w.kw], "convTransposeFolded")
        let (Cin, P) = (shape[0], shape[1])
        let (H, W) = w.outSize(Ho, Wo)
        precondition(P == N * H * W, "convTransposeFolded: \(shape) is not [Cin, N·H·W] for \(w)")
        guard Kernels.implicitPays(width: W, channels: Cout) else {
            return convTransposeFoldedBlocked(wm, w, N: N, Cout: Cout, Ho: Ho, Wo: Wo, channelMajor: cm)
        }
        let K = Cout * w.kh * w.kw
        let x = contiguousRaw()
        let a = wm.contiguousRaw()
        let y = Tensor.transposedConvolution(
            x, inChannelMajor: true, N: N, Cin: Cin, H: H, W: W, weight: a, Cout: Cout, w, Ho: Ho, Wo: Wo,
            outChannelMajor: cm)
        return y.recorded("convTransposeFolded", [self, wm]) { g in
            if GradMode.isEnabled {
                return Tensor.convTransposeFoldedRecordedBackward(self, wm, g, w, channelMajor: cm)
            }
            let gc = g.contiguousRaw()
            let geometry = orr_conv_geometry(
                x: gc.data, N: N, C: Cout, H: Ho, W: Wo, kh: w.kh, kw: w.kw, sh: w.sh, sw: w.sw, ph: w.ph, pw: w.pw,
                dh: w.dh, dw: w.dw, Ho: H, Wo: W, channelMajor: cm ? 1 : 0)
            let dx = self.requiresGrad ? Tensor.empty([Cin, P]) : nil
            let dw = wm.requiresGrad ? Tensor.empty([Cin, K]) : nil
            withExtendedLifetime(gc) {
                if let dx {
                    Kernels.gemmIm2col(
                        M: Cin, N: P, K: K, A: a.data, rsA: K, csA: 1, geometry: geometry, transposed: false,
                        C: dx.data, rsC: P, csC: 1)
                }
                if let dw, !Kernels.convWeightGradDirect(O: Cin, dy: x.data, nchw: false, geometry, into: dw.data) {
                    Kernels.gemmIm2col(
                        M: Cin, N: K, K: P, A: x.data, rsA: P, csA: 1, geometry: geometry, transposed: true,
                        C: dw.data, rsC: K, csC: 1)
                }
            }
            return [dx, dw]
        }
    }

    /// Convolution of a channel-major batch x [C, N, H, W] → [O, N, Ho, Wo] (groups 1): one GEMM over
    /// the folded batch whose output is already channel-major, so a stack of convolutions, BatchNorm
    /// and activations in this layout never transposes.
    public func conv2dChannelMajor(
        _ weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0)
    ) -> Tensor {
        precondition(
            rank == 4 && weight.rank == 4 && weight.shape[1] == shape[0],
            "conv2dChannelMajor: x \(shape), weight \(weight.shape)")
        let (C, N, H, W) = (shape[0], shape[1], shape[2], shape[3])
        let (O, kh, kw) = (weight.shape[0], weight.shape[2], weight.shape[3])
        let win = Window2D(kernel: (kh, kw), stride: stride, padding: padding)
        let (Ho, Wo) = win.outSize(H, W)
        var y = convFolded(weight.reshape([O, C * kh * kw]), win, channelMajor: true).reshape([O, N, Ho, Wo])
        if let b = bias { y = y + b.reshape([O, 1, 1, 1]) }
        return y
    }

    /// Transposed convolution of a channel-major batch x [Cin, N, H, W] → [Cout, N, Ho, Wo] (groups 1,
    /// PyTorch's weight layout [Cin, Cout, kh, kw]).
    public func convTranspose2dChannelMajor(
        _ weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0)
    ) -> Tensor {
        precondition(
            rank == 4 && weight.rank == 4 && weight.shape[0] == shape[0],
            "convTranspose2dChannelMajor: x \(shape), weight \(weight.shape)")
        let (Cin, N, H, W) = (shape[0], shape[1], shape[2], shape[3])
        let (Cout, kh, kw) = (weight.shape[1], weight.shape[2], weight.shape[3])
        let win = Window2D(kernel: (kh, kw), stride: stride, padding: padding)
        let Ho = (H - 1) * stride.0 - 2 * padding.0 + kh
        let Wo = (W - 1) * stride.1 - 2 * padding.1 + kw
        var y = reshape([Cin, N * H * W]).convTransposeFolded(
            weight.reshape([Cin, Cout * kh * kw]), win, N: N, Cout: Cout, Ho: Ho, Wo: Wo, channelMajor: true)
        if let b = bias { y = y + b.reshape([Cout, 1, 1, 1]) }
        return y
    }

    /// 2-D convolution (cross-correlation, as PyTorch): x [N, C, H, W], weight [O, C/groups, kh, kw],
    /// bias [O]. Lowered to im2col + batched GEMM; the backward is made of the same ops.
    public func conv2d(
        _ weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
        padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups G: Int = 1
    ) -> Tensor {
        precondition(rank == 4 && weight.rank == 4, "conv2d: x \(shape), weight \(weight.shape)")
        let N = shape[0]
        let C = shape[1]
        let H = shape[2]
        let W = shape[3]
        let O = weight.shape[0]
        let kh = weight.shape[2]
        let kw = weight.shape[3]
        precondition(
            C % G == 0 && O % G == 0 && weight.shape[1] == C / G,
            "conv2d: \(C) input channels, weight \(weight.shape), groups \(G)")
        let win = Window2D(kernel: (kh, kw), stride: stride, padding: padding, dilation: dilation)
        let (Ho, Wo) = win.outSize(H, W)
        if G == 1 {
            // The batch folded into the GEMM's columns: one W[O, C·kh·kw] · cols[C·kh·kw, N·L] for the
            // whole batch (and dW = dY · colsᵀ one GEMM with K = N·L), then [O, N, L] → [N, O, L].
            var out: Tensor
            if let direct = convDirectNCHW(weight.reshape([O, C * kh * kw]), win) {
                out = direct
            } else {
                let y = convFolded(weight.reshape([O, C * kh * kw]), win)
                out = y.reshape([O, N, Ho * Wo]).permute([1, 0, 2]).contiguous().reshape([N, O, Ho, Wo])
            }
            if let b = bias { out = out + b.reshape([1, O, 1, 1]) }
            return out
        }
        let cols: Tensor
        if kh == 1 && kw == 1 && stride == (1, 1) && padding == (0, 0) {
            cols = reshape([N, C, H * W])
        } else {
            cols = im2col(win)
        }
        let ck = C / G * kh * kw
        let wm = weight.reshape([G, O / G, ck])
        var y = wm.matmul(cols.reshape([N, G, ck, Ho * Wo])).reshape([N, O, Ho, Wo])
        if let b = bias { y = y + b.reshape([1, O, 1, 1]) }
        return y
    }

    /// Transposed 2-D convolution (PyTorch's ConvTranspose2d): x [N, Cin, H, W],
    /// weight [Cin, Cout/groups, kh, kw]. Output size (H−1)·s − 2p + d(k−1) + outputPadding + 1.
    public func convTranspose2d(
        _ weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
        padding: (Int, Int) = (0, 0), outputPadding: (Int, Int) = (0, 0),
        dilation: (Int, Int) = (1, 1), groups G: Int = 1
    ) -> Tensor {
        precondition(rank == 4 && weight.rank == 4, "convTranspose2d: x \(shape), weight \(weight.shape)")
        let N = shape[0]
        let Cin = shape[1]
        let H = shape[2]
        let W = shape[3]
        let coutG = weight.shape[1]
        let kh = weight.shape[2]
        let kw = weight.shape[3]
        precondition(weight.shape[0] == Cin && Cin % G == 0, "convTranspose2d: \(Cin) channels, weight \(weight.shape)")
        let win = Window2D(kernel: (kh, kw), stride: stride, padding: padding, dilation: dilation)
        let Ho = (H - 1) * stride.0 - 2 * padding.0 + dilation.0 * (kh - 1) + outputPadding.0 + 1
        let Wo = (W - 1) * stride.1 - 2 * padding.1 + dilation.1 * (kw - 1) + outputPadding.1 + 1
        precondition(
            Ho > 0 && Wo > 0 && outputPadding.0 < Swift.max(stride.0, dilation.0)
                && outputPadding.1 < Swift.max(stride.1, dilation.1), "convTranspose2d: bad geometry")
        if G == 1 {
            // Batch folded: x as [Cin, N·H·W], one GEMM Wᵀ[Cout·kk, Cin] · x, then the folded col2im.
            let xf = reshape([N, Cin, H * W]).permute([1, 0, 2]).contiguous().reshape([Cin, N * H * W])
            var y = xf.convTransposeFolded(
                weight.reshape([Cin, coutG * kh * kw]), win, N: N, Cout: coutG, Ho: Ho, Wo: Wo)
            if let b = bias { y = y + b.reshape([1, coutG, 1, 1]) }
            return y
        }
        let wm = weight.reshape([G, Cin / G, coutG * kh * kw]).mT  // [G, Cout/G·kk, Cin/G]
        let xg = reshape([N, G, Cin / G, H * W])
        let cols = wm.matmul(xg).reshape([N, G * coutG * kh * kw, H * W])
        var y = cols.col2im(win, N: N, C: G * coutG, H: Ho, W: Wo)
        if let b = bias { y = y + b.reshape([1, G * coutG, 1, 1]) }
        return y
    }

    /// Max pooling over windows of x [N, C, H, W] (padding reads −∞).
    public func maxPool2d(kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0)) -> Tensor {
        let N = shape[0]
        let C = shape[1]
        let H = shape[2]
        let W = shape[3]
        let win = Window2D(kernel: kernel, stride: stride ?? kernel, padding: padding)
        let (Ho, Wo) = win.outSize(H, W)
        let cols = reshape([N * C, 1, H, W]).im2col(win, pad: -.infinity)  // [NC, kk, L]
        return cols.max(1).values.reshape([N, C, Ho, Wo])
    }

    /// Average pooling (padding counts as zeros, PyTorch's default count_include_pad).
    public func avgPool2d(kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0)) -> Tensor {
        let N = shape[0]
        let C = shape[1]
        let H = shape[2]
        let W = shape[3]
        let win = Window2D(kernel: kernel, stride: stride ?? kernel, padding: padding)
        let (Ho, Wo) = win.outSize(H, W)
        return reshape([N * C, 1, H, W]).im2col(win).mean(1).reshape([N, C, Ho, Wo])
    }

    /// Nearest-neighbour upsampling by an integer factor.
    public func upsampleNearest(_ factor: Int) -> Tensor {
        precondition(rank == 4 && factor >= 1, "upsampleNearest: x \(shape), factor \(factor)")
        let (N, C, H, W, f) = (shape[0], shape[1], shape[2], shape[3], factor)
        let x = contiguousRaw()
        let out = Tensor.empty([N, C, H * f, W * f])
        // A plane at a time: each input row widened once, then copied to its f output rows (a
        // broadcast-expand and reshape went through the generic strided copy, 3 % of a UNet step).
        Parallel.forRanges(N * C, grain: 4) { r in
            for p in r {
                let src = x.data + p * H * W
                let dst = out.data + p * H * W * f * f
                for y in 0..<H {
                    let row = dst + y * f * W * f
                    for xx in 0..<W {
                        let v = src[y * W + xx]
                        for a in 0..<f { row[xx * f + a] = v }
                    }
                    for a in 1..<Swift.max(f, 1) { (row + a * W * f).update(from: row, count: W * f) }
                }
            }
        }
        return out.recorded("upsampleNearest", [self]) { g in
            if GradMode.isEnabled {
                return [g.reshape([N, C, H, f, W, f]).sum([3, 5])]
            }
            let gc = g.contiguousRaw()
            let dx = Tensor.empty([N, C, H, W])
            Parallel.forRanges(N * C, grain: 4) { r in
                for p in r {
                    let src = gc.data + p * H * W * f * f
                    let dst = dx.data + p * H * W
                    for y in 0..<H {
                        for xx in 0..<W {
                            var s: Float = 0
                            for a in 0..<f {
                                let row = src + (y * f + a) * W * f + xx * f
                                for b in 0..<f { s += row[b] }
                            }
                            dst[y * W + xx] = s
                        }
                    }
                }
            }
            return [dx]
        }
    }

    /// Bilinear resize to (Ho, Wo), align_corners = false.
    public func upsampleBilinear(_ Ho: Int, _ Wo: Int) -> Tensor {
        resample(Ho, Wo, adjointOf: nil)
    }

    func resample(_ Ho: Int, _ Wo: Int, adjointOf inHW: (Int, Int)?) -> Tensor {
        let N = shape[0]
        let C = shape[1]
        let H = shape[2]
        let W = shape[3]
        let x = contiguousRaw()
        if let (h0, w0) = inHW {  // this tensor is [N, C, Ho', Wo'] gradient; map back to (h0, w0)
            let out = Tensor.empty([N, C, h0, w0])
            Kernels.bilinear(x.data, planes: N * C, H: h0, W: w0, Ho: H, Wo: W, adjoint: true, into: out.data)
            return out.recorded("bilinearAdjoint", [self]) { g in [g.resample(H, W, adjointOf: nil)] }
        }
        let out = Tensor.empty([N, C, Ho, Wo])
        Kernels.bilinear(x.data, planes: N * C, H: H, W: W, Ho: Ho, Wo: Wo, adjoint: false, into: out.data)
        return out.recorded("bilinear", [self]) { g in [g.resample(H, W, adjointOf: (H, W))] }
    }
}
