import CKernels

// Convolution plumbing: im2col / col2im (each the other's adjoint), so conv2d and its transpose are
// GEMMs, and bilinear resampling with its adjoint. Layout NCHW.

/// Geometry of one 2-D sliding window: kernel, stride, padding, dilation.
public struct Window2D: Equatable, Sendable {
    public var kh, kw, sh, sw, ph, pw, dh, dw: Int
    public init(
        kernel: (Int, Int), stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1)
    ) {
        (kh, kw) = kernel
        (sh, sw) = stride
        (ph, pw) = padding
        (dh, dw) = dilation
    }
    public func outSize(_ h: Int, _ w: Int) -> (Int, Int) {
        ((h + 2 * ph - dh * (kh - 1) - 1) / sh + 1, (w + 2 * pw - dw * (kw - 1) - 1) / sw + 1)
    }
}

extension Kernels {
    /// x [P, H, W] planes (contiguous) → cols [P, kh·kw, Ho·Wo]; out-of-image taps read `pad`.
    public static func im2col(
        _ x: UnsafePointer<Float>, planes P: Int, H: Int, W: Int, _ g: Window2D,
        pad: Float, into cols: UnsafeMutablePointer<Float>
    ) {
        let (Ho, Wo) = g.outSize(H, W)
        let L = Ho * Wo
        Parallel.forRanges(P * g.kh * g.kw, grain: 4) { range in
            for row in range {
                let p = row / (g.kh * g.kw)
                let kk = row % (g.kh * g.kw)
                let ki = kk / g.kw
                let kj = kk % g.kw
                let src = x + p * H * W
                let dst = cols + row * L
                for oy in 0..<Ho {
                    let iy = oy * g.sh - g.ph + ki * g.dh
                    let drow = dst + oy * Wo
                    if iy < 0 || iy >= H {
                        for ox in 0..<Wo { drow[ox] = pad }
                        continue
                    }
                    let srow = src + iy * W
                    for ox in 0..<Wo {
                        let ix = ox * g.sw - g.pw + kj * g.dw
                        drow[ox] = (ix >= 0 && ix < W) ? srow[ix] : pad
                    }
                }
            }
        }
    }

    /// Adjoint of im2col: cols [P, kh·kw, Ho·Wo] summed back into x [P, H, W] (x is overwritten).
    public static func col2im(
        _ cols: UnsafePointer<Float>, planes P: Int, H: Int, W: Int, _ g: Window2D,
        into x: UnsafeMutablePointer<Float>
    ) {
        let (Ho, Wo) = g.outSize(H, W)
        let L = Ho * Wo
        Parallel.forRanges(P, grain: 1) { range in
            for p in range {
                let dst = x + p * H * W
                dst.update(repeating: 0, count: H * W)
                for kk in 0..<(g.kh * g.kw) {
                    let ki = kk / g.kw
                    let kj = kk % g.kw
                    let src = cols + (p * g.kh * g.kw + kk) * L
                    for oy in 0..<Ho {
                        let iy = oy * g.sh - g.ph + ki * g.dh
                        if iy < 0 || iy >= H { continue }
                        let drow = dst + iy * W
                        let srow = src + oy * Wo
                        for ox in 0..<Wo {
                            let ix = ox * g.sw - g.pw + kj * g.dw
                            if ix >= 0 && ix < W { drow[ix] += srow[ox] }
                        }
                    }
                }
            }
        }
    }

    /// Batch-folded im2col: x [N, C, H, W] → cols [C·kh·kw, N·Ho·Wo] (image n's patches in column
    /// block n), so one GEMM W[O, C·kh·kw] · cols covers the whole batch. The loops are C (conv.c).
    public static func im2colFolded(
        _ x: UnsafePointer<Float>, N: Int, C: Int, H: Int, W: Int, _ g: Window2D, pad: Float,
        into cols: UnsafeMutablePointer<Float>, channelMajor: Bool = false
    ) {
        let geometry = [g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw]
        geometry.withUnsafeBufferPointer { gp in
            let gb = gp.baseAddress!
            // At least 16 jobs per thread (a channel and a range of images each).
            let blocks = Swift.max(1, Swift.min(N, (16 * Parallel.threads + C - 1) / C))
            Parallel.forRanges(C * blocks, grain: 1) { r in
                orr_im2col_folded(
                    x, N, C, H, W, gb, pad, cols, blocks, r.lowerBound, r.upperBound, channelMajor ? 1 : 0)
            }
        }
    }

    /// Adjoint of im2colFolded: cols [C·kh·kw, N·Ho·Wo] summed into x [N, C, H, W] (overwritten).
    public static func col2imFolded(
        _ cols: UnsafePointer<Float>, N: Int, C: Int, H: Int, W: Int, _ g: Window2D,
        into x: UnsafeMutablePointer<Float>, channelMajor: Bool = false
    ) {
        let geometry = [g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw]
        geometry.withUnsafeBufferPointer { gp in
            let gb = gp.baseAddress!
            // At least 4 jobs per thread; a job's images share its channel's column rows.
            let blocks = Swift.max(1, Swift.min(N, (4 * Parallel.threads + C - 1) / C))
            Parallel.forRanges(C * blocks, grain: 1) { r in
                orr_col2im_folded(cols, N, C, H, W, gb, x, blocks, r.lowerBound, r.upperBound, channelMajor ? 1 : 0)
            }
        }
    }

    /// Bilinear resampling of planes [P, H, W] → [P, Ho, Wo] (align_corners = false, PyTorch's rule);
    /// with `adjoint` it maps [P, Ho, Wo] back to [P, H, W] by the transposed weights.
    public static func bilinear(
        _ src: UnsafePointer<Float>, planes P: Int, H: Int, W: Int, Ho: Int, Wo: Int,
        adjoint: Bool, into dst: UnsafeMutablePointer<Float>
    ) {
        func taps(_ o: Int, _ inSize: Int, _ outSize: Int) -> (Int, Int, Float) {
            let scale = Float(inSize) / Float(outSize)
            var s = (Float(o) + 0.5) * scale - 0.5
            if s < 0 { s = 0 }
            let i0 = min(Int(s), inSize - 1)
            let i1 = min(i0 + 1, inSize - 1)
            return (i0, i1, s - Float(i0))
        }
        let ys = (0..<Ho).map { taps($0, H, Ho) }
        let xs = (0..<Wo).map { taps($0, W, Wo) }
        Parallel.forRanges(P, grain: 1) { range in
            for p in range {
                if adjoint {
                    let out = dst + p * H * W
                    let inp = src + p * Ho * Wo
                    out.update(repeating: 0, count: H * W)
                    for oy in 0..<Ho {
                        let (y0, y1, fy) = ys[oy]
                        for ox in 0..<Wo {
                            let (x0, x1, fx) = xs[ox]
                            let g = inp[oy * Wo + ox]
                            out[y0 * W + x0] += g * (1 - fy) * (1 - fx)
                            out[y0 * W + x1] += g * (1 - fy) * fx
                            out[y1 * W + x0] += g * fy * (1 - fx)
                            out[y1 * W + x1] += g * fy * fx
                        }
                    }
                } else {
                    let inp = src + p * H * W
                    let out = dst + p * Ho * Wo
                    for oy in 0..<Ho {
                        let (y0, y1, fy) = ys[oy]
                        for ox in 0..<Wo {
                            let (x0, x1, fx) = xs[ox]
                            out[oy * Wo + ox] =
                                (1 - fy) * ((1 - fx) * inp[y0 * W + x0] + fx * inp[y0 * W + x1])
                                + fy * ((1 - fx) * inp[y1 * W + x0] + fx * inp[y1 * W + x1])
                        }
                    }
                }
            }
        }
    }
}

extension Kernels {
    /// Transposed convolution by output phases, with no im2col matrix and no scatter-add:
    /// y[n, co, oy, ox] = Σ x[n, ci, iy, ix] · w[ci, co, ki, kj] over oy = iy·s − p + ki. Output rows
    /// with the same (oy + p) mod s use the same taps ki ≡ (oy + p) (mod s), so each of the s_h·s_w
    /// phases is an ordinary stride-1 convolution over x with a small flipped kernel — computed by the
    /// implicit GEMM — whose outputs are interleaved into y. Every multiply is a useful one (the
    /// zero-inserted formulation does s² times the work). Dilation 1 only.
    /// x: [N, Cin, H, W] or, `inChannelMajor`, [Cin, N, H, W]; w: [Cin, Cout, kh, kw];
    /// y: [N, Cout, Ho, Wo] or, `outChannelMajor`, [Cout, N, Ho, Wo] (fully written).
    public static func convTransposePhases(
        _ x: UnsafePointer<Float>, inChannelMajor: Bool, N: Int, Cin: Int, H: Int, W: Int,
        weight w: UnsafePointer<Float>, Cout: Int, _ g: Window2D, Ho: Int, Wo: Int,
        into y: UnsafeMutablePointer<Float>, outChannelMajor: Bool
    ) {
        precondition(g.dh == 1 && g.dw == 1, "convTransposePhases: dilation 1 only")
        let (kh, kw, sh, sw, ph, pw) = (g.kh, g.kw, g.sh, g.sw, g.ph, g.pw)
        for ry in 0..<sh {
            // Output rows oy with (oy + ph) mod sh == ry: oy0, oy0 + sh, …
            let oy0 = ((ry - ph) % sh + sh) % sh
            let hq = oy0 < Ho ? (Ho - oy0 + sh - 1) / sh : 0
            let ta = ry < kh ? (kh - ry + sh - 1) / sh : 0
            for rx in 0..<sw {
                let ox0 = ((rx - pw) % sw + sw) % sw
                let wq = ox0 < Wo ? (Wo - ox0 + sw - 1) / sw : 0
                let tb = rx < kw ? (kw - rx + sw - 1) / sw : 0
                if hq == 0 || wq == 0 { continue }
                let P = N * hq * wq
                let phase = UnsafeMutablePointer<Float>.allocate(capacity: Cout * P)
                defer { phase.deallocate() }
                if ta == 0 || tb == 0 {
                    phase.update(repeating: 0, count: Cout * P)
                } else {
                    // Flipped taps: a' = ta−1−a reads ki = ry + a·sh at iy = base + q − a.
                    let K = Cin * ta * tb
                    let wp = UnsafeMutablePointer<Float>.allocate(capacity: Cout * K)
                    defer { wp.deallocate() }
                    for co in 0..<Cout {
                        for ci in 0..<Cin {
                            for a2 in 0..<ta {
                                let ki = ry + (ta - 1 - a2) * sh
                                for b2 in 0..<tb {
                                    let kj = rx + (tb - 1 - b2) * sw
                                    wp[co * K + (ci * ta + a2) * tb + b2] = w[((ci * Cout + co) * kh + ki) * kw + kj]
                                }
                            }
                        }
                    }
                    let baseY = (oy0 + ph - ry) / sh
                    let baseX = (ox0 + pw - rx) / sw
                    let geometry = orr_conv_geometry(
                        x: x, N: N, C: Cin, H: H, W: W, kh: ta, kw: tb, sh: 1, sw: 1, ph: ta - 1 - baseY,
                        pw: tb - 1 - baseX, dh: 1, dw: 1, Ho: hq, Wo: wq, channelMajor: inChannelMajor ? 1 : 0)
                    // Stride 1: one phase covering y. Written in place when y's layout allows (channel-
                    // major as the GEMM writes it, or NCHW by the direct kernel), with no interleave copy.
                    if sh == 1 && sw == 1 {
                        if outChannelMajor {
                            gemmIm2col(
                                M: Cout, N: P, K: K, A: wp, rsA: K, csA: 1, geometry: geometry, transposed: false,
                                C: y, rsC: P, csC: 1)
                            continue
                        }
                        if convDirect(M: Cout, N: P, K: K, A: wp, lda: K, geometry, C: y, ldc: 0, nchw: true) {
                            continue
                        }
                    }
                    gemmIm2col(
                        M: Cout, N: P, K: K, A: wp, rsA: K, csA: 1, geometry: geometry, transposed: false, C: phase,
                        rsC: P, csC: 1)
                }
                // Interleave: phase[co, n, q, r] → y at (oy0 + q·sh, ox0 + r·sw).
                Parallel.forRanges(Cout * N, grain: 4) { range in
                    for job in range {
                        let co = job / N
                        let n = job % N
                        let src = phase + (co * N + n) * hq * wq
                        let dst = y + (outChannelMajor ? co * N + n : n * Cout + co) * Ho * Wo
                        for q in 0..<hq {
                            let row = dst + (oy0 + q * sh) * Wo + ox0
                            let s = src + q * wq
                            for r in 0..<wq { row[r * sw] = s[r] }
                        }
                    }
                }
            }
        }
    }
}

extension Kernels {
    /// Whether implicit GEMM (im2col packed from the image) beats forming the matrix: packing copies
    /// rows of output positions, so it needs rows of some width (measured on the DCGAN and the UNet
    /// benchmarks: 8-wide maps packed run by run were 15 % slower than the explicit matrix, 16- and
    /// 32-wide ones faster), and so does an im2col matrix of at least 8 channels (an RGB input layer is cheaper the explicit way).
    public static func implicitPays(width: Int, channels: Int = .max) -> Bool { width >= 16 && channels >= 8 }
}
