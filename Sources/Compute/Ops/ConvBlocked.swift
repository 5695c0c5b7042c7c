// Convolutions on narrow maps (where packing the im2col matrix straight from the image does not pay,
// Kernels.implicitPays) by blocks of images: each thread forms the im2col matrix of a few images in
// its own scratch, small enough to stay in its L2, and runs one single-threaded GEMM on it. The
// batch-wide matrix (16 MiB for a DCGAN discriminator's second layer at batch 64) is never written to
// memory and read back, and neither is the GEMM result a transposed convolution scatters.
import CKernels

extension Tensor {
    /// wm [O, C·kh·kw] · im2colFolded(self) → [O, N·Ho·Wo], by blocks of images. Backward the same
    /// way: per block, the im2col matrix again for dW += dY·colsᵀ, then Wᵀ·dY scattered by col2im
    /// into dx. Under a recorded backward (gradients of gradients) the explicit differentiable ops.
    func convFoldedBlocked(_ wm: Tensor, _ w: Window2D, channelMajor cm: Bool) -> Tensor {
        let (N, C) = cm ? (shape[1], shape[0]) : (shape[0], shape[1])
        let (H, W) = (shape[2], shape[3])
        let (Ho, Wo) = w.outSize(H, W)
        let (O, K, L) = (wm.shape[0], wm.shape[1], Ho * Wo)
        let x = contiguousRaw()
        let a = wm.contiguousRaw()
        let out = Tensor.empty([O, N * L])
        let geometry = [w.kh, w.kw, w.sh, w.sw, w.ph, w.pw, w.dh, w.dw]
        let cmFlag: Int32 = cm ? 1 : 0
        // The small-map kernel writes the im2col block straight in the GEMM's packed layout (no
        // packing pass); otherwise a plain block and an ordinary GEMM.
        Kernels.imageBlocks(N: N, scratchPerImage: K * L, extra: 32 * K) { n0, n1, cols, _ in
            let P = (n1 - n0) * L
            let packed = geometry.withUnsafeBufferPointer { g in
                orr_im2col_images_packed(x.data, N, C, H, W, g.baseAddress!, 0, cols, n0, n1, cmFlag) != 0
            }
            if packed {
                orr_sgemm_prepacked(O, P, K, 1, a.data, K, 1, cols, out.data + n0 * L, N * L, 1, 1)
                return
            }
            geometry.withUnsafeBufferPointer { g in
                orr_im2col_images(x.data, N, C, H, W, g.baseAddress!, 0, cols, n0, n1, cmFlag)
            }
            orr_sgemm(O, P, K, 1, a.data, K, 1, cols, P, 1, out.data + n0 * L, N * L, 1, 1)
        }
        return out.recorded("convFoldedBlocked", [self, wm]) { g in
            if GradMode.isEnabled {  // a recorded backward: differentiable ops
                return Tensor.convFoldedRecordedBackward(self, wm, g, w, channelMajor: cm)
            }
            let gc = g.contiguousRaw()
            let dx = self.requiresGrad ? Tensor.empty(self.shape) : nil
            let needW = wm.requiresGrad
            let parts = Kernels.imageBlockParts(N: N, scratchPerImage: K * L)
            let partial = needW ? Tensor.empty([parts, O, K]) : nil
            // Wᵀ once, row-major (the GEMMs read A's rows in place; a transposed A would be packed
            // again for every block).
            let at = dx != nil ? Kernels.transposed(a.data, rows: O, cols: K) : nil
            defer { at?.deallocate() }
            Kernels.imageBlocks(N: N, scratchPerImage: K * L) { n0, n1, cols, part in
                let P = (n1 - n0) * L
                let gBlock = gc.data + n0 * L
                geometry.withUnsafeBufferPointer { gp in
                    let gb = gp.baseAddress!
                    if let partial {
                        orr_im2col_images(x.data, N, C, H, W, gb, 0, cols, n0, n1, cmFlag)
                        // dW_part (+)= dY_block · colsᵀ (the first block of a part overwrites).
                        orr_sgemm(
                            O, K, P, 1, gBlock, N * L, 1, cols, 1, P, partial.data + part * O * K, K, 1,
                            n0 == Kernels.imageBlockStart(part: part, N: N, scratchPerImage: K * L) ? 1 : 0)
                    }
                    if let dx, let at {
                        orr_sgemm(K, P, O, 1, at, O, 1, gBlock, N * L, 1, cols, P, 1, 1)
                        orr_col2im_images(cols, N, C, H, W, gb, dx.data, n0, n1, cmFlag)
                    }
                }
            }
            return [dx, partial.map { Kernels.sumLanes($0, lanes: parts, shape: [O, K]) }]
        }
    }

    /// col2imFolded(wmᵀ · self) for self [Cin, N·H·W] and wm [Cin, Cout·kh·kw] → [N, Cout, Ho, Wo] (or
    /// channel-major), by blocks of images; the backward forms im2col(dY) per block for
    /// dx = wm · cols and dW += x · colsᵀ.
    func convTransposeFoldedBlocked(
        _ wm: Tensor, _ w: Window2D, N: Int, Cout: Int, Ho: Int, Wo: Int, channelMajor cm: Bool
    ) -> Tensor {
        let (Cin, P) = (shape[0], shape[1])
        let (H, W) = w.outSize(Ho, Wo)
        let HW = H * W
        let K = Cout * w.kh * w.kw
        precondition(P == N * HW, "convTransposeFoldedBlocked: \(shape) is not [Cin, N·H·W]")
        let x = contiguousRaw()
        let a = wm.contiguousRaw()
        let y = Tensor.empty(cm ? [Cout, N, Ho, Wo] : [N, Cout, Ho, Wo])
        let geometry = [w.kh, w.kw, w.sh, w.sw, w.ph, w.pw, w.dh, w.dw]
        let cmFlag: Int32 = cm ? 1 : 0
        let at = Kernels.transposed(a.data, rows: Cin, cols: K)
        defer { at.deallocate() }
        Kernels.imageBlocks(N: N, scratchPerImage: K * HW) { n0, n1, cols, _ in
            let Q = (n1 - n0) * HW
            orr_sgemm(K, Q, Cin, 1, at, Cin, 1, x.data + n0 * HW, P, 1, cols, Q, 1, 1)
            geometry.withUnsafeBufferPointer { g in
                orr_col2im_images(cols, N, Cout, Ho, Wo, g.baseAddress!, y.data, n0, n1, cmFlag)
            }
        }
        return y.recorded("convTransposeFoldedBlocked", [self, wm]) { g in
            if GradMode.isEnabled {
                return Tensor.convTransposeFoldedRecordedBackward(self, wm, g, w, channelMajor: cm)
            }
            let gc = g.contiguousRaw()
            let dx = self.requiresGrad ? Tensor.empty([Cin, P]) : nil
            let needW = wm.requiresGrad
            let parts = Kernels.imageBlockParts(N: N, scratchPerImage: K * HW)
            let partial = needW ? Tensor.empty([parts, Cin, K]) : nil
            Kernels.imageBlocks(N: N, scratchPerImage: K * HW) { n0, n1, cols, part in
                let Q = (n1 - n0) * HW
                geometry.withUnsafeBufferPointer { gp in
                    orr_im2col_images(gc.data, N, Cout, Ho, Wo, gp.baseAddress!, 0, cols, n0, n1, cmFlag)
                }
                if let dx { orr_sgemm(Cin, Q, K, 1, a.data, K, 1, cols, Q, 1, dx.data + n0 * HW, P, 1, 1) }
                if let partial {
                    orr_sgemm(
                        Cin, K, Q, 1, x.data + n0 * HW, P, 1, cols, 1, Q, partial.data + part * Cin * K, K, 1,
                        n0 == Kernels.imageBlockStart(part: part, N: N, scratchPerImage: K * HW) ? 1 : 0)
                }
            }
            return [dx, partial.map { Kernels.sumLanes($0, lanes: parts, shape: [Cin, K]) }]
        }
    }
}

extension Kernels {
    /// A row-major copy of the transpose of a [rows, cols] matrix (caller deallocates).
    static func transposed(_ a: UnsafePointer<Float>, rows: Int, cols: Int) -> UnsafeMutablePointer<Float> {
        let t = UnsafeMutablePointer<Float>.allocate(capacity: rows * cols)
        orr_transpose(a, rows, cols, t)
        return t
    }

    /// Floats of im2col scratch a block aims at: 256 Ki floats (1 MiB), half a core's L2 here.
    static let blockScratchFloats = 1 << 18

    /// Σ over lanes of partial [lanes, …shape], in lane order.
    static func sumLanes(_ partial: Tensor, lanes: Int, shape: [Int]) -> Tensor {
        let n = shape.reduce(1, *)
        let d = Tensor.empty(shape)
        d.data.update(from: partial.data, count: n)
        for p in 1..<Swift.max(lanes, 1) {
            let src = partial.data + p * n
            for i in 0..<n { d.data[i] += src[i] }
        }
        return d
    }

    /// Weight gradients are summed per lane (a fixed run of blocks), then lanes in order: a fixed
    /// count, not the thread count, so results are the same for any number of threads.
    static let blockLanes = 4

    /// Images per block: as many as fit the scratch (at least one), and at least `blockLanes` blocks.
    static func imagesPerBlock(N: Int, scratchPerImage: Int) -> Int {
        let fit = Swift.max(1, blockScratchFloats / Swift.max(scratchPerImage, 1))
        return Swift.max(1, Swift.min(fit, (N + blockLanes - 1) / blockLanes))
    }

    /// How many lanes (runs of blocks with their own partial sums) `imageBlocks` uses.
    static func imageBlockParts(N: Int, scratchPerImage: Int) -> Int {
        let nb = imagesPerBlock(N: N, scratchPerImage: scratchPerImage)
        return Swift.max(1, Swift.min(blockLanes, (N + nb - 1) / nb))
    }

    /// The first image of a lane's first block.
    static func imageBlockStart(part: Int, N: Int, scratchPerImage: Int) -> Int {
        let nb = imagesPerBlock(N: N, scratchPerImage: scratchPerImage)
        let blocks = (N + nb - 1) / nb
        let parts = imageBlockParts(N: N, scratchPerImage: scratchPerImage)
        return Swift.min(N, blocks * part / parts * nb)
    }

    /// Runs body(n0, n1, scratch, lane) for consecutive blocks of images, the blocks split into
    /// `imageBlockParts` contiguous lanes spread over the threads; each thread has its own scratch of
    /// imagesPerBlock · scratchPerImage + extra floats.
    static func imageBlocks(
        N: Int, scratchPerImage: Int, extra: Int = 0, _ body: (Int, Int, UnsafeMutablePointer<Float>, Int) -> Void
    ) {
        let nb = imagesPerBlock(N: N, scratchPerImage: scratchPerImage)
        let blocks = (N + nb - 1) / nb
        let parts = imageBlockParts(N: N, scratchPerImage: scratchPerImage)
        Parallel.forRanges(parts, grain: 1) { r in
            // 64-byte aligned: a pre-packed GEMM operand is read with aligned vector loads.
            let raw = UnsafeMutableRawPointer.allocate(
                byteCount: (nb * scratchPerImage + extra) * MemoryLayout<Float>.stride, alignment: 64)
            defer { raw.deallocate() }
            let scratch = raw.bindMemory(to: Float.self, capacity: nb * scratchPerImage + extra)
            for part in r {
                for b in (blocks * part / parts)..<(blocks * (part + 1) / parts) {
                    body(b * nb, Swift.min(N, (b + 1) * nb), scratch, part)
                }
            }
        }
    }
}
