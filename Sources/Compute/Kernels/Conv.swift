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
            Parallel.forRanges(C * g.kh * g.kw * N, grain: 16) { r in
                orr_im2col_folded(x, N, C, H, W, gb, pad, cols, r.lowerBound, r.upperBound, channelMajor ? 1 : 0)
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
