import CKernels
import Compute
import TestSupport
import XCTest

/// Convolutions against direct loops (PyTorch's definitions).
final class ConvTests: XCTestCase {
    func directConv(
        _ x: Tensor, _ w: Tensor, _ b: Tensor?, stride: (Int, Int), pad: (Int, Int), dil: (Int, Int), groups G: Int
    ) -> Tensor {
        let N = x.shape[0]
        let C = x.shape[1]
        let H = x.shape[2]
        let W = x.shape[3]
        let O = w.shape[0]
        let kh = w.shape[2]
        let kw = w.shape[3]
        let Ho = (H + 2 * pad.0 - dil.0 * (kh - 1) - 1) / stride.0 + 1
        let Wo = (W + 2 * pad.1 - dil.1 * (kw - 1) - 1) / stride.1 + 1
        let out = Tensor.zeros([N, O, Ho, Wo])
        let cg = C / G
        let og = O / G
        for n in 0..<N {
            for o in 0..<O {
                for oy in 0..<Ho {
                    for ox in 0..<Wo {
                        var s = Double(b?[o] ?? 0)
                        let g = o / og
                        for c in 0..<cg {
                            for i in 0..<kh {
                                for j in 0..<kw {
                                    let iy = oy * stride.0 - pad.0 + i * dil.0
                                    let ix = ox * stride.1 - pad.1 + j * dil.1
                                    if iy >= 0 && iy < H && ix >= 0 && ix < W {
                                        s += Double(x[n, g * cg + c, iy, ix]) * Double(w[o, c, i, j])
                                    }
                                }
                            }
                        }
                        out[n, o, oy, ox] = Float(s)
                    }
                }
            }
        }
        return out
    }

    func directConvTranspose(
        _ x: Tensor, _ w: Tensor, stride: (Int, Int), pad: (Int, Int), outPad: (Int, Int), groups G: Int
    ) -> Tensor {
        let N = x.shape[0]
        let Cin = x.shape[1]
        let H = x.shape[2]
        let W = x.shape[3]
        let cog = w.shape[1]
        let kh = w.shape[2]
        let kw = w.shape[3]
        let Ho = (H - 1) * stride.0 - 2 * pad.0 + kh + outPad.0
        let Wo = (W - 1) * stride.1 - 2 * pad.1 + kw + outPad.1
        let out = Tensor.zeros([N, cog * G, Ho, Wo])
        let cig = Cin / G
        for n in 0..<N {
            for ci in 0..<Cin {
                for y in 0..<H {
                    for xx in 0..<W {
                        let g = ci / cig
                        for co in 0..<cog {
                            for i in 0..<kh {
                                for j in 0..<kw {
                                    let oy = y * stride.0 - pad.0 + i
                                    let ox = xx * stride.1 - pad.1 + j
                                    if oy >= 0 && oy < Ho && ox >= 0 && ox < Wo {
                                        out[n, g * cog + co, oy, ox] += x[n, ci, y, xx] * w[ci, co, i, j]
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    func testConv2dAgainstDirectLoop() {
        let cases: [([Int], [Int], (Int, Int), (Int, Int), (Int, Int), Int)] = [
            ([2, 3, 7, 6], [4, 3, 3, 3], (1, 1), (1, 1), (1, 1), 1),
            ([1, 4, 9, 9], [6, 2, 3, 2], (2, 3), (2, 0), (1, 2), 2),
            ([3, 2, 5, 5], [5, 2, 1, 1], (1, 1), (0, 0), (1, 1), 1),
            ([1, 6, 8, 8], [6, 1, 3, 3], (1, 1), (1, 1), (2, 2), 6),  // depthwise
            ([1, 1, 1, 1], [1, 1, 1, 1], (1, 1), (0, 0), (1, 1), 1),
            ([2, 3, 32, 32], [16, 3, 4, 4], (2, 2), (1, 1), (1, 1), 1),
            ([2, 8, 16, 16], [6, 8, 3, 3], (1, 1), (1, 1), (1, 1), 1),  // the direct NCHW kernel
        ]
        for (k, (xs, ws, s, p, d, g)) in cases.enumerated() {
            let x = randn(xs, seed: UInt64(k))
            let w = randn(ws, seed: UInt64(k + 50))
            let b = randn([ws[0]], seed: UInt64(k + 90))
            let got = x.conv2d(w, bias: b, stride: s, padding: p, dilation: d, groups: g)
            let want = directConv(x, w, b, stride: s, pad: p, dil: d, groups: g)
            XCTAssertEqual(got.shape, want.shape, "case \(k)")
            assertClose(got.toArray(), want.toArray(), atol: 1e-4, rtol: 1e-4, "conv case \(k)")
        }
    }

    /// The implicit-GEMM convolution (im2col packed straight from the image, forward and weight
    /// gradient) equals the explicit im2col · GEMM composite, in both layouts, at geometries that cross
    /// the GEMM's block edges (K > 256 rows, more than 1024 columns, odd sizes, strides, dilation).
    func testImplicitGEMMConvolutionMatchesExplicitIm2col() {
        let cases: [([Int], Int, Window2D)] = [
            ([2, 3, 7, 6], 4, Window2D(kernel: (3, 3), padding: (1, 1))),
            ([3, 5, 9, 11], 7, Window2D(kernel: (3, 2), stride: (2, 3), padding: (2, 0), dilation: (1, 2))),
            ([2, 40, 12, 12], 9, Window2D(kernel: (3, 3), padding: (1, 1))),  // K = 360 > 256
            ([4, 8, 20, 20], 33, Window2D(kernel: (1, 1))),  // 1600 columns
            ([2, 3, 32, 32], 16, Window2D(kernel: (4, 4), stride: (2, 2), padding: (1, 1))),
            ([1, 2, 3, 3], 3, Window2D(kernel: (3, 3), padding: (2, 2))),
            // Wide enough for the implicit path (Kernels.implicitPays), odd sizes, stride, dilation,
            // K across the GEMM's 256-row blocks.
            ([2, 9, 18, 35], 5, Window2D(kernel: (3, 3), padding: (1, 1))),
            ([2, 40, 16, 16], 7, Window2D(kernel: (3, 3), padding: (1, 1))),
            ([1, 8, 20, 37], 4, Window2D(kernel: (3, 2), stride: (1, 2), padding: (1, 0), dilation: (2, 1))),
            ([2, 8, 33, 34], 6, Window2D(kernel: (4, 4), stride: (2, 2), padding: (1, 1))),
            // The direct kernel (AVX-512, rows a multiple of 16 wide, stride 1 along the width): full
            // and half tiles, 7 output channels, a vertical stride and dilation.
            ([3, 8, 32, 32], 7, Window2D(kernel: (3, 3), padding: (1, 1))),
            ([1, 8, 3, 16], 9, Window2D(kernel: (3, 3), padding: (1, 1))),
            ([2, 16, 16, 48], 8, Window2D(kernel: (3, 3), stride: (2, 1), padding: (1, 2), dilation: (1, 2))),
        ]
        XCTAssertTrue(Kernels.implicitPays(width: 16, channels: 8) && !Kernels.implicitPays(width: 8, channels: 64))
        for (k, (xs, O, win)) in cases.enumerated() {
            for cm in [false, true] {
                let x = randn(cm ? [xs[1], xs[0], xs[2], xs[3]] : xs, seed: UInt64(k))
                let K = xs[1] * win.kh * win.kw
                let w = randn([O, K], seed: UInt64(k + 40))
                x.requiresGrad = true
                w.requiresGrad = true
                let y = x.convFolded(w, win, channelMajor: cm)
                let ref = w.matmul(x.im2colFolded(win, channelMajor: cm))
                XCTAssertEqual(y.shape, ref.shape)
                assertClose(y.toArray(), ref.toArray(), atol: 1e-4, rtol: 1e-4, "forward \(k) cm \(cm)")
                let g = randn(y.shape, seed: UInt64(k + 80))
                let got = Autograd.grad(of: [y], wrt: [x, w], gradOutputs: [g])
                let want = Autograd.grad(of: [ref], wrt: [x, w], gradOutputs: [g])
                assertClose(got[0]!.toArray(), want[0]!.toArray(), atol: 1e-3, rtol: 1e-4, "dx \(k) cm \(cm)")
                assertClose(got[1]!.toArray(), want[1]!.toArray(), atol: 1e-3, rtol: 1e-4, "dw \(k) cm \(cm)")
                // Gradients of gradients go through the differentiable backward.
                let gg = Autograd.grad(of: [y], wrt: [x], gradOutputs: [g], createGraph: true)[0]!
                let rr = Autograd.grad(of: [ref], wrt: [x], gradOutputs: [g], createGraph: true)[0]!
                let second = Autograd.grad(of: gg.square().sum(), wrt: w)!
                let secondRef = Autograd.grad(of: rr.square().sum(), wrt: w)!
                assertClose(second.toArray(), secondRef.toArray(), atol: 1e-2, rtol: 1e-3, "d²/dw \(k) cm \(cm)")
            }
        }
    }

    /// The batch-folded im2col and col2im (row by row, by the small-map kernels, and by blocks of
    /// images) equal the per-image reference ops, in both layouts: small maps with stride 1 and 2,
    /// odd sizes, padding wider than the kernel reach, a window covering the map, and a wide map.
    func testFoldedIm2colAndCol2imMatchReference() {
        let cases: [([Int], Window2D)] = [
            ([3, 4, 16, 16], Window2D(kernel: (4, 4), stride: (2, 2), padding: (1, 1))),
            ([2, 5, 8, 8], Window2D(kernel: (4, 4), stride: (2, 2), padding: (1, 1))),
            ([2, 3, 4, 4], Window2D(kernel: (4, 4))),
            ([2, 3, 7, 9], Window2D(kernel: (3, 3), padding: (1, 1))),
            ([1, 2, 9, 11], Window2D(kernel: (3, 2), stride: (3, 2), padding: (2, 1))),
            ([2, 3, 32, 32], Window2D(kernel: (4, 4), stride: (2, 2), padding: (1, 1))),
            ([1, 2, 5, 40], Window2D(kernel: (1, 5), stride: (1, 2), padding: (0, 3))),
            ([1, 2, 6, 40], Window2D(kernel: (3, 3), padding: (1, 1))),
        ]
        for (k, (xs, win)) in cases.enumerated() {
            let (N, C, H, W) = (xs[0], xs[1], xs[2], xs[3])
            let (Ho, Wo) = win.outSize(H, W)
            let x = randn(xs, seed: UInt64(k + 500))
            // Reference: [N, C·kk, L] → [C·kk, N·L].
            let want = x.im2col(win).permute([1, 0, 2]).contiguous().reshape([C * win.kh * win.kw, N * Ho * Wo])
            for cm in [false, true] {
                let xin = cm ? x.permute([1, 0, 2, 3]).contiguous() : x
                assertClose(
                    xin.im2colFolded(win, channelMajor: cm).toArray(), want.toArray(), atol: 0, rtol: 0,
                    "im2col \(k) \(cm)")
                let cols = randn([C * win.kh * win.kw, N * Ho * Wo], seed: UInt64(k + 600))
                let ref = cols.reshape([C * win.kh * win.kw, N, Ho * Wo]).permute([1, 0, 2]).contiguous()
                    .col2im(win, N: N, C: C, H: H, W: W)
                let got = cols.col2imFolded(win, N: N, C: C, H: H, W: W, channelMajor: cm)
                let gotNCHW = cm ? got.permute([1, 0, 2, 3]).contiguous() : got
                assertClose(gotNCHW.toArray(), ref.toArray(), atol: 1e-5, rtol: 1e-5, "col2im \(k) \(cm)")
            }
        }
    }

    /// Narrow-map convolutions run by blocks of images (Ops/ConvBlocked) give bit-identical outputs
    /// and gradients for any thread count, and equal the explicit im2col composite.
    func testBlockedConvolutionsDoNotDependOnThreads() {
        let win = Window2D(kernel: (4, 4), stride: (2, 2), padding: (1, 1))
        let x = randn([8, 10, 8, 8], seed: 700)  // channel-major [C, N, H, W]: 8-wide maps
        let w = randn([16, 8 * 16], seed: 701)
        let xt = randn([16, 10 * 4 * 4], seed: 702)  // a transposed convolution's [Cin, N·H·W]
        let wt = randn([16, 8 * 16], seed: 703)
        func run() -> [[Float]] {
            let (xa, wa, xb, wb) = (
                x.detach().requiringGrad(), w.detach().requiringGrad(), xt.detach().requiringGrad(),
                wt.detach().requiringGrad()
            )
            let y = xa.convFolded(wa, win, channelMajor: true)
            let z = xb.convTransposeFolded(wb, win, N: 10, Cout: 8, Ho: 8, Wo: 8, channelMajor: true)
            let g = Autograd.grad(of: [y], wrt: [xa, wa], gradOutputs: [randn(y.shape, seed: 704)])
            let h = Autograd.grad(of: [z], wrt: [xb, wb], gradOutputs: [randn(z.shape, seed: 705)])
            return [y, g[0]!, g[1]!, z, h[0]!, h[1]!].map { $0.toArray() }
        }
        let one = Parallel.withThreads(1) { run() }
        for t in [2, 3] {
            let other = Parallel.withThreads(t) { run() }
            for (i, (a, b)) in zip(one, other).enumerated() { XCTAssertEqual(a, b, "output \(i), \(t) threads") }
        }
        let ref = w.matmul(x.im2colFolded(win, channelMajor: true))
        assertClose(one[0], ref.toArray(), atol: 1e-4, rtol: 1e-4, "blocked forward")
    }

    /// The direct weight-gradient kernel (cols read in place from the padded image, dY packed
    /// transposed per block of output rows) equals dY · colsᵀ from the explicit matrix: both dY
    /// layouts, partial row and column tiles (K = 45, O = 40), output rows of any width, a vertical
    /// stride, several row blocks (N·Ho·Wo > 256).
    func testDirectWeightGradientMatchesExplicit() throws {
        guard orr_conv_direct_available() != 0 else { throw XCTSkip("the direct kernels need AVX-512") }
        let cases: [([Int], Int, Window2D)] = [
            ([3, 5, 12, 12], 40, Window2D(kernel: (3, 3), padding: (1, 1))),
            ([2, 8, 9, 7], 33, Window2D(kernel: (3, 3), stride: (2, 1), padding: (1, 1))),
            ([2, 4, 40, 300], 8, Window2D(kernel: (1, 3), padding: (0, 1))),
        ]
        for (k, (xs, O, win)) in cases.enumerated() {
            let (N, C, H, W) = (xs[0], xs[1], xs[2], xs[3])
            let (Ho, Wo) = win.outSize(H, W)
            let K = C * win.kh * win.kw
            let x = randn(xs, seed: UInt64(k + 200))
            let dyNCHW = randn([N, O, Ho * Wo], seed: UInt64(k + 300))
            let dyCM = dyNCHW.permute([1, 0, 2]).contiguous().reshape([O, N * Ho * Wo])
            let want = dyCM.matmul(x.im2colFolded(win).mT).toArray()
            for nchw in [true, false] {
                let dy = nchw ? dyNCHW : dyCM
                let g = orr_conv_geometry(
                    x: x.data, N: N, C: C, H: H, W: W, kh: win.kh, kw: win.kw, sh: win.sh, sw: win.sw, ph: win.ph,
                    pw: win.pw, dh: win.dh, dw: win.dw, Ho: Ho, Wo: Wo, channelMajor: 0)
                let dw = Tensor.empty([O, K])
                XCTAssertTrue(Kernels.convWeightGradDirect(O: O, dy: dy.data, nchw: nchw, g, into: dw.data))
                assertClose(dw.toArray(), want, atol: 1e-3, rtol: 1e-4, "dw \(k) nchw \(nchw)")
            }
        }
    }

    /// The transposed convolution's implicit-GEMM backward equals the explicit one.
    func testImplicitGEMMTransposedConvolutionMatchesExplicit() {
        // (Cin, N, H, W, Cout, window, output padding)
        let cases: [(Int, Int, Int, Int, Int, Window2D, Int)] = [
            (4, 2, 5, 5, 3, Window2D(kernel: (4, 4), stride: (2, 2), padding: (1, 1)), 0),
            (7, 3, 4, 6, 5, Window2D(kernel: (3, 3), stride: (2, 2), padding: (1, 1)), 1),
            (40, 2, 8, 8, 9, Window2D(kernel: (3, 3), padding: (1, 1)), 0),
            (8, 4, 17, 17, 3, Window2D(kernel: (1, 1)), 0),
            // Phases and the implicit backward: wide maps, output padding, a stride larger than the
            // kernel (empty phases).
            (8, 2, 16, 17, 8, Window2D(kernel: (4, 4), stride: (2, 2), padding: (1, 1)), 0),
            (12, 2, 16, 16, 9, Window2D(kernel: (3, 3), stride: (2, 2), padding: (1, 1)), 1),
            (8, 2, 16, 16, 8, Window2D(kernel: (1, 1), stride: (2, 2)), 1),
            (10, 1, 20, 18, 12, Window2D(kernel: (3, 3), padding: (1, 1)), 0),
            (8, 2, 16, 16, 8, Window2D(kernel: (3, 3), padding: (1, 1)), 0),
        ]
        for (k, (Cin, N, H, W, Cout, win, op)) in cases.enumerated() {
            for cm in [false, true] {
                let Ho = (H - 1) * win.sh - 2 * win.ph + win.kh + op
                let Wo = (W - 1) * win.sw - 2 * win.pw + win.kw + op
                let x = randn([Cin, N * H * W], seed: UInt64(k))
                let w = randn([Cin, Cout * win.kh * win.kw], seed: UInt64(k + 30))
                x.requiresGrad = true
                w.requiresGrad = true
                let y = x.convTransposeFolded(w, win, N: N, Cout: Cout, Ho: Ho, Wo: Wo, channelMajor: cm)
                let ref = w.mT.matmul(x).col2imFolded(win, N: N, C: Cout, H: Ho, W: Wo, channelMajor: cm)
                assertClose(y.toArray(), ref.toArray(), atol: 1e-4, rtol: 1e-4, "forward \(k)")
                let g = randn(y.shape, seed: UInt64(k + 60))
                let got = Autograd.grad(of: [y], wrt: [x, w], gradOutputs: [g])
                let want = Autograd.grad(of: [ref], wrt: [x, w], gradOutputs: [g])
                assertClose(got[0]!.toArray(), want[0]!.toArray(), atol: 1e-3, rtol: 1e-4, "dx \(k) cm \(cm)")
                assertClose(got[1]!.toArray(), want[1]!.toArray(), atol: 1e-3, rtol: 1e-4, "dw \(k) cm \(cm)")
                let gg = Autograd.grad(of: [y], wrt: [x], gradOutputs: [g], createGraph: true)[0]!
                let rr = Autograd.grad(of: [ref], wrt: [x], gradOutputs: [g], createGraph: true)[0]!
                assertClose(
                    Autograd.grad(of: gg.square().sum(), wrt: w)!.toArray(),
                    Autograd.grad(of: rr.square().sum(), wrt: w)!.toArray(), atol: 1e-2, rtol: 1e-3, "d² \(k)")
            }
        }
    }

    /// NCHW convolutions written straight in NCHW by the direct kernel: forward, both gradients and
    /// gradients of gradients equal the explicit im2col composite.
    func testDirectNCHWConvolutionGradients() {
        let cases: [([Int], [Int], Window2D)] = [
            ([2, 8, 16, 16], [5, 8, 3, 3], Window2D(kernel: (3, 3), padding: (1, 1))),
            ([3, 12, 8, 32], [9, 12, 3, 3], Window2D(kernel: (3, 3), padding: (1, 1))),
            ([2, 16, 16, 16], [40, 16, 1, 1], Window2D(kernel: (1, 1))),
            ([1, 8, 32, 32], [4, 8, 3, 3], Window2D(kernel: (3, 3), stride: (2, 1), padding: (1, 1))),
        ]
        for (k, (xs, ws, win)) in cases.enumerated() {
            let x = randn(xs, seed: UInt64(k))
            let w = randn(ws, seed: UInt64(k + 10))
            x.requiresGrad = true
            w.requiresGrad = true
            let y = x.conv2d(w, stride: (win.sh, win.sw), padding: (win.ph, win.pw))
            let (N, O) = (xs[0], ws[0])
            let (Ho, Wo) = win.outSize(xs[2], xs[3])
            let ref = w.reshape([O, ws[1] * win.kh * win.kw]).matmul(x.im2colFolded(win))
                .reshape([O, N, Ho * Wo]).permute([1, 0, 2]).contiguous().reshape([N, O, Ho, Wo])
            assertClose(y.toArray(), ref.toArray(), atol: 1e-4, rtol: 1e-4, "forward \(k)")
            let g = randn(y.shape, seed: UInt64(k + 20))
            let got = Autograd.grad(of: [y], wrt: [x, w], gradOutputs: [g])
            let want = Autograd.grad(of: [ref], wrt: [x, w], gradOutputs: [g])
            assertClose(got[0]!.toArray(), want[0]!.toArray(), atol: 1e-3, rtol: 1e-4, "dx \(k)")
            assertClose(got[1]!.toArray(), want[1]!.toArray(), atol: 1e-3, rtol: 1e-4, "dw \(k)")
            let gg = Autograd.grad(of: [y], wrt: [x], gradOutputs: [g], createGraph: true)[0]!
            let rr = Autograd.grad(of: [ref], wrt: [x], gradOutputs: [g], createGraph: true)[0]!
            assertClose(
                Autograd.grad(of: gg.square().sum(), wrt: w)!.toArray(),
                Autograd.grad(of: rr.square().sum(), wrt: w)!.toArray(), atol: 1e-2, rtol: 1e-3, "d² \(k)")
        }
    }

    func testConvTransposeAgainstDirectLoop() {
        let cases: [([Int], [Int], (Int, Int), (Int, Int), (Int, Int), Int)] = [
            ([2, 3, 4, 5], [3, 2, 3, 3], (2, 2), (1, 1), (1, 1), 1),
            ([1, 4, 3, 3], [4, 3, 4, 4], (2, 2), (1, 1), (0, 0), 2),
            ([1, 2, 5, 4], [2, 3, 2, 3], (1, 1), (0, 1), (0, 0), 1),
        ]
        for (k, (xs, ws, s, p, op, g)) in cases.enumerated() {
            let x = randn(xs, seed: UInt64(k + 3))
            let w = randn(ws, seed: UInt64(k + 60))
            let got = x.convTranspose2d(w, stride: s, padding: p, outputPadding: op, groups: g)
            let want = directConvTranspose(x, w, stride: s, pad: p, outPad: op, groups: g)
            XCTAssertEqual(got.shape, want.shape, "case \(k)")
            assertClose(got.toArray(), want.toArray(), atol: 1e-4, rtol: 1e-4, "convTranspose case \(k)")
        }
    }

    func testPoolingAndUpsampling() {
        let x = Tensor(shape: [1, 1, 4, 4], data: (0..<16).map(Float.init))
        XCTAssertEqual(x.maxPool2d(kernel: (2, 2)).toArray(), [5, 7, 13, 15])
        XCTAssertEqual(x.avgPool2d(kernel: (2, 2)).toArray(), [2.5, 4.5, 10.5, 12.5])
        // Padding reads −∞ for max pooling and 0 for average pooling.
        let neg = Tensor.full([1, 1, 2, 2], -1)
        XCTAssertEqual(
            neg.maxPool2d(kernel: (2, 2), stride: (1, 1), padding: (1, 1)).toArray(), [Float](repeating: -1, count: 9))
        XCTAssertEqual(
            neg.avgPool2d(kernel: (2, 2), stride: (2, 2), padding: (1, 1)).toArray(), [-0.25, -0.25, -0.25, -0.25])
        let small = Tensor(shape: [1, 1, 2, 2], data: [1, 2, 3, 4])
        XCTAssertEqual(small.upsampleNearest(2).toArray(), [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])
        // PyTorch F.interpolate(mode="bilinear", align_corners=False) on [[1,2],[3,4]] to 4×4.
        let want: [Float] = [1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4]
        assertClose(small.upsampleBilinear(4, 4).toArray(), want, "bilinear")
    }

    /// The channel-major convolutions ([C, N, H, W] in and out) equal the NCHW ones transposed, and
    /// their gradients match finite differences.
    func testChannelMajorConvolutionsMatchNCHW() {
        var rng = RNG(seed: 8)
        let x = Tensor.randn([3, 4, 9, 9], rng: &rng)
        let w = Tensor.randn([5, 4, 4, 4], std: 0.3, rng: &rng)
        let b = Tensor.randn([5], rng: &rng)
        let xcm = x.permute([1, 0, 2, 3]).contiguous()
        let ref = x.conv2d(w, bias: b, stride: (2, 2), padding: (1, 1)).permute([1, 0, 2, 3]).contiguous()
        assertClose(
            xcm.conv2dChannelMajor(w, bias: b, stride: (2, 2), padding: (1, 1)).toArray(), ref.toArray(), atol: 1e-4)
        let wt = Tensor.randn([4, 6, 4, 4], std: 0.3, rng: &rng)
        let reft = x.convTranspose2d(wt, stride: (2, 2), padding: (1, 1)).permute([1, 0, 2, 3]).contiguous()
        assertClose(
            xcm.convTranspose2dChannelMajor(wt, stride: (2, 2), padding: (1, 1)).toArray(), reft.toArray(), atol: 1e-4)
        let small = Tensor.randn([2, 3, 5, 5], rng: &rng)
        let ws = Tensor.randn([2, 2, 3, 3], std: 0.3, rng: &rng)
        let r1 = GradientCheck.check([small, ws]) { i in i[0].conv2dChannelMajor(i[1], stride: (2, 2), padding: (1, 1))
        }
        XCTAssertNil(r1.mismatch, "\(r1.mismatch.map { "\($0)" } ?? "")")
        let r2 = GradientCheck.check([small, ws]) { i in
            i[0].convTranspose2dChannelMajor(i[1], stride: (2, 2), padding: (1, 1))
        }
        XCTAssertNil(r2.mismatch, "\(r2.mismatch.map { "\($0)" } ?? "")")
    }
}
