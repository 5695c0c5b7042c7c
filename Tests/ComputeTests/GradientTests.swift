import Compute
import TestSupport
import XCTest

/// Every differentiable op against central finite differences, including broadcasting.
final class GradientTests: XCTestCase {
    func testArithmeticWithBroadcasting() {
        let a = randn([3, 4], seed: 1)
        let b = randn([4], seed: 2)
        let c = randn([3, 1], seed: 3)
        gradCheck("add", [a, b]) { $0[0] + $0[1] }
        gradCheck("sub", [a, c]) { $0[0] - $0[1] }
        gradCheck("mul", [a, b, c]) { $0[0] * $0[1] * $0[2] }
        let pos = randn([1, 4], seed: 4).abs() + 0.5
        gradCheck("div", [a, pos]) { $0[0] / $0[1] }
        gradCheck("scalar ops", [a]) { ((($0[0] * 3) + 1) - 2) / 4 }
        gradCheck("neg", [a]) { -$0[0] }
        gradCheck("3-d broadcast", [randn([2, 1, 3], seed: 5), randn([4, 1], seed: 6)]) { $0[0] * $0[1] + $0[1] }
    }

    func testUnaryOps() {
        gradCheck("swiglu (fused)", [randn([3, 37], seed: 160), randn([3, 37], seed: 161)]) { $0[0].swiglu($0[1]) }
        let x = randn([2, 5], seed: 7)
        let pos = randn([2, 5], seed: 8).abs() + 0.5
        let away = randnAwayFromZero([2, 5], seed: 9)
        gradCheck("exp", [x]) { $0[0].exp() }
        gradCheck("log", [pos]) { $0[0].log() }
        gradCheck("sqrt", [pos]) { $0[0].sqrt() }
        gradCheck("pow 3", [x]) { $0[0].pow(3) }
        gradCheck("pow 1.5", [pos]) { $0[0].pow(1.5) }
        gradCheck("square", [x]) { $0[0].square() }
        gradCheck("abs", [away]) { $0[0].abs() }
        gradCheck("relu", [away]) { $0[0].relu() }
        gradCheck("leakyRelu", [away]) { $0[0].leakyRelu(0.2) }
        gradCheck("sigmoid", [x]) { $0[0].sigmoid() }
        gradCheck("tanh", [x]) { $0[0].tanh() }
        gradCheck("erf", [x]) { $0[0].erf() }
        gradCheck("gelu", [x]) { $0[0].gelu() }
        gradCheck("gelu tanh", [x]) { $0[0].gelu(approximate: .tanh) }
        gradCheck("silu", [x]) { $0[0].silu() }
        gradCheck("softplus", [x]) { $0[0].softplus() }
        gradCheck("clamp", [away]) { $0[0].clamp(min: -0.5, max: 0.7) }
        gradCheck("maximum", [away, randnAwayFromZero([5], seed: 10) * 0.3]) { $0[0].maximum($0[1]) }
    }

    func testReductions() {
        let x = randn([2, 3, 4], seed: 11)
        gradCheck("sum all", [x]) { $0[0].sum() }
        gradCheck("sum dim 1", [x]) { $0[0].sum(1) }
        gradCheck("sum dims 0,2 keep", [x]) { $0[0].sum([0, 2], keepDim: true) }
        gradCheck("mean", [x]) { $0[0].mean(-1) }
        gradCheck("variance", [x]) { $0[0].variance([1]) }
        gradCheck("max dim", [x]) { $0[0].max(2).values }
        gradCheck("softmax last", [x]) { $0[0].softmax(-1) }
        gradCheck("softmax dim 1", [x]) { $0[0].softmax(1) }
        gradCheck("logSoftmax", [x]) { $0[0].logSoftmax(-1) }
        gradCheck("logSoftmax dim 0", [x]) { $0[0].logSoftmax(0) }
        gradCheck("logSumExp", [x]) { $0[0].logSumExp(-1) }
    }

    func testMatmul() {
        gradCheck("matmul 2d", [randn([3, 4], seed: 12), randn([4, 5], seed: 13)]) { $0[0].matmul($0[1]) }
        gradCheck("matmul batched broadcast", [randn([2, 3, 4], seed: 14), randn([4, 2], seed: 15)]) {
            $0[0].matmul($0[1])
        }
        gradCheck("matmul broadcast batch dims", [randn([2, 1, 3, 4], seed: 16), randn([3, 4, 2], seed: 17)]) {
            $0[0].matmul($0[1])
        }
        gradCheck("matmul transposed views", [randn([4, 3], seed: 18), randn([5, 4], seed: 19)]) {
            $0[0].mT.matmul($0[1].mT)
        }
    }

    func testViewsAndIndexing() {
        let x = randn([3, 4, 2], seed: 20)
        gradCheck("reshape", [x]) { $0[0].reshape([4, -1]) * 2 }
        gradCheck("permute", [x]) { $0[0].permute([2, 0, 1]).contiguous() * 1.5 }
        gradCheck("transpose+reshape", [x]) { $0[0].transpose(0, 1).reshape([-1]) }
        gradCheck("slice step", [x]) { $0[0].slice(1, 1, 4, step: 2) }
        gradCheck("select", [x]) { $0[0].select(0, 2) }
        gradCheck("expand", [randn([3, 1], seed: 21)]) { $0[0].expand([2, 3, 4]) }
        gradCheck("unsqueeze/squeeze", [x]) { $0[0].unsqueeze(1).squeeze(1) * $0[0] }
        gradCheck("cat", [randn([2, 3], seed: 22), randn([2, 2], seed: 23)]) { Tensor.cat([$0[0], $0[1]], dim: 1) }
        gradCheck("split", [x]) {
            let p = $0[0].split([1, 3], dim: 1)
            return p[0] * p[1].sum(1, keepDim: true)
        }
        gradCheck("chunk", [x]) {
            let p = $0[0].chunk(2, dim: 2)
            return p[0] * p[1]
        }
        gradCheck("indexSelect repeat", [randn([5, 3], seed: 24)]) { $0[0].indexSelect([4, 0, 4, 2]) }
        gradCheck("gather", [randn([3, 4], seed: 25)]) {
            $0[0].gather(1, index: [3, 1, 0, 0, 2, 2], indexShape: [3, 2])
        }
    }

    func testLossesAndNorms() {
        let logits = randn([4, 5], seed: 26)
        gradCheck("crossEntropy", [logits]) { $0[0].crossEntropy([1, 0, 4, 2]) }
        gradCheck("crossEntropy ignore", [logits]) { $0[0].crossEntropy([1, -100, 4, 2]) }
        gradCheck("mse", [randn([3, 2], seed: 27), randn([3, 2], seed: 28)]) { $0[0].mseLoss($0[1]) }
        let x = randn([3, 6], seed: 29)
        let w = randn([6], seed: 30)
        let b = randn([6], seed: 31)
        gradCheck("layerNorm", [x, w, b]) { $0[0].layerNorm(weight: $0[1], bias: $0[2]) }
        gradCheck("layerNorm no affine", [x]) { $0[0].layerNorm(weight: nil, bias: nil) }
        gradCheck("rmsNorm", [x, w]) { $0[0].rmsNorm(weight: $0[1]) }
        // Rows long enough for the C kernels' 16-lane loops and their tails.
        let xr = randn([3, 37], seed: 129)
        let wr = randn([37], seed: 130)
        gradCheck("layerNorm wide", [xr, wr, randn([37], seed: 131)]) { $0[0].layerNorm(weight: $0[1], bias: $0[2]) }
        gradCheck("rmsNorm wide", [xr, wr]) { $0[0].rmsNorm(weight: $0[1]) }
        let xg = randn([2, 4, 3], seed: 32)
        let wg = randn([4], seed: 33)
        let bg = randn([4], seed: 34)
        gradCheck("groupNorm", [xg, wg, bg]) { $0[0].groupNorm(groups: 2, weight: $0[1], bias: $0[2]) }
        // The fused activations, on groups long enough for the kernel's 16-lane path and its tail.
        let xl = randn([2, 4, 21], seed: 132)
        gradCheck("groupNorm+silu", [xl, wg, bg]) {
            $0[0].groupNorm(groups: 2, weight: $0[1], bias: $0[2], activation: .silu)
        }
        gradCheck("groupNorm+leakyRelu", [xl, wg, bg]) {
            $0[0].groupNorm(groups: 2, weight: $0[1], bias: $0[2], activation: .leakyRelu(0.2))
        }
        gradCheck("groupNorm no affine", [xl]) { $0[0].groupNorm(groups: 4, weight: nil, bias: nil) }
        gradCheck("embedding", [randn([6, 3], seed: 35)]) { $0[0].embedding([5, 1, 1]) }
    }

    func testConvolutionAndPooling() {
        let x = randn([2, 4, 5, 6], seed: 36)
        gradCheck("conv2d stride pad", [x, randn([3, 4, 3, 3], seed: 37), randn([3], seed: 38)]) {
            $0[0].conv2d($0[1], bias: $0[2], stride: (2, 1), padding: (1, 1))
        }
        gradCheck("conv2d groups dilation", [x, randn([6, 2, 2, 2], seed: 39)]) {
            $0[0].conv2d($0[1], dilation: (2, 1), groups: 2)
        }
        gradCheck("conv2d 1x1", [x, randn([2, 4, 1, 1], seed: 40)]) { $0[0].conv2d($0[1]) }
        gradCheck(
            "convTranspose2d", [randn([2, 4, 3, 3], seed: 41), randn([4, 3, 3, 3], seed: 42), randn([3], seed: 43)]
        ) {
            $0[0].convTranspose2d($0[1], bias: $0[2], stride: (2, 2), padding: (1, 1), outputPadding: (1, 0))
        }
        gradCheck("convTranspose2d groups", [randn([1, 4, 3, 2], seed: 44), randn([4, 1, 2, 2], seed: 45)]) {
            $0[0].convTranspose2d($0[1], groups: 2)
        }
        let distinct = Tensor(shape: [1, 2, 4, 4], data: (0..<32).map { Float(($0 * 7) % 32) / 10 })
        gradCheck("maxPool", [distinct]) { $0[0].maxPool2d(kernel: (2, 2)) }
        gradCheck("avgPool pad", [x]) { $0[0].avgPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1)) }
        gradCheck("upsample nearest", [randn([1, 2, 2, 3], seed: 46)]) { $0[0].upsampleNearest(2) }
        gradCheck("upsample nearest ×3", [randn([2, 1, 3, 2], seed: 146)]) { $0[0].upsampleNearest(3) }
        gradCheck("upsample bilinear", [randn([1, 2, 3, 3], seed: 47)]) { $0[0].upsampleBilinear(5, 7) }
    }

    func testSliceGradientsAddedInPlace() {
        // The engine writes slice gradients into their rows of the input's gradient and zeroes only
        // the rows no slice covered; overlapping, strided, cross-dimension and mixed uses add.
        let x = randn([3, 6, 2], seed: 90)
        gradCheck("split, every part", [x]) { i in
            let p = i[0].split([2, 3, 1], dim: 1)
            return (p[0] * 2).sum() + p[1].square().sum() + (p[2] * p[2] * p[2]).sum()
        }
        gradCheck("split, one part", [x]) { i in i[0].split([2, 3, 1], dim: 1)[1].square().sum() }
        gradCheck("split, two of three in reverse", [x]) { i in
            let p = i[0].split([1, 4, 1], dim: 1)
            return p[2].square().sum() * 3 + p[0].exp().sum()
        }
        gradCheck("overlapping slices", [x]) { i in
            i[0].slice(1, 0, 4).square().sum() + (i[0].slice(1, 2, 6) * 1.5).exp().sum()
        }
        gradCheck("slices along two dimensions", [x]) { i in
            i[0].slice(1, 0, 3).square().sum() + i[0].slice(0, 1, 3).exp().sum() + i[0].slice(1, 3, 6).sum()
        }
        gradCheck("strided slices", [x]) { i in
            i[0].slice(1, 0, 6, step: 2).square().sum() + i[0].slice(1, 1, 6, step: 2).exp().sum()
        }
        gradCheck("a slice and the whole", [x]) { i in
            i[0].slice(1, 1, 4).square().sum() + (i[0] * i[0]).sum() + i[0].slice(1, 4, 6).exp().sum()
        }
    }

    /// SwiGLU over the halves of one [.., 2F] projection: the bits of silu(gate)·up on the halves,
    /// and finite-difference gradients (the fused backward writes both halves' gradients).
    func testSwiGLUOverStackedHalves() {
        let x = randn([2, 3, 10], seed: 90)
        let split = x.split([5, 5], dim: 2)
        XCTAssertEqual(x.swigluHalves().toArray(), split[0].swiglu(split[1]).toArray())
        gradCheck("swiglu halves", [randn([4, 6], seed: 91)]) { $0[0].swigluHalves() * 1.5 }
        gradCheck(
            "stacked gate and up", [randn([3, 4], seed: 92), randn([5, 4], seed: 93), randn([5, 4], seed: 94)]
        ) {
            $0[0].matmul(Tensor.cat([$0[1], $0[2]], dim: 0).mT).swigluHalves()
        }
    }

    /// SwiGLU run as the epilogue of the gate/up product (each block of rows activated as soon as the
    /// GEMM finishes it) is the product followed by SwiGLU, bit for bit, forward and gradient: through
    /// the shared-panel path (hundreds of token rows) and the plain split (a few), on 1 and 2 threads.
    func testSwiGLUAsTheEpilogueOfItsProduct() {
        for (rows, width, f) in [(5, 24, 10), (300, 64, 48), (1000, 32, 40)] {
            let x = randn([2, rows, width], seed: UInt64(96 + rows))
            let w = randn([2 * f, width], seed: UInt64(97 + rows))
            let g = randn([2, rows, f], seed: UInt64(98 + rows))
            for threads in [1, 2] {
                Parallel.withThreads(threads) {
                    var outs: [Tensor] = []
                    var grads: [[Float]] = []
                    for epilogue in [true, false] {
                        let xs = x.clone().requiringGrad()
                        let ws = w.clone().requiringGrad()
                        let y: Tensor
                        if epilogue {
                            let h = Tensor.empty([2, rows, f])
                            var covered = [Int](repeating: 0, count: 2 * rows)
                            let lock = NSLock()
                            let gu = xs.matmul(ws.mT) { out, r0, r1 in
                                Tensor.swigluHalvesRows(out, into: h, r0, r1)
                                lock.withLock { for r in r0..<r1 { covered[r] += 1 } }
                            }
                            XCTAssertEqual(covered, [Int](repeating: 1, count: 2 * rows), "every row once")
                            y = gu.swigluHalves(computed: h)
                        } else {
                            y = xs.matmul(ws.mT).swigluHalves()
                        }
                        y.backward(g)
                        outs.append(y)
                        grads.append(xs.grad!.toArray() + ws.grad!.toArray())
                    }
                    let what = "rows \(rows) width \(width) F \(f) threads \(threads)"
                    XCTAssertEqual(outs[0].toArray(), outs[1].toArray(), "output \(what)")
                    XCTAssertEqual(grads[0], grads[1], "gradients \(what)")
                }
            }
        }
    }

    func testResidualAndSwiGLUBackwardAsEpilogues() {
        // The residual added as a product's epilogue.
        gradCheck(
            "matmul adding", [randn([2, 5, 6], seed: 120), randn([4, 6], seed: 121), randn([2, 5, 4], seed: 122)]
        ) {
            $0[0].matmul($0[1].mT, adding: $0[2])
        }
        // A norm's backward adding the gradient its input already has (a residual's), contiguous or not.
        gradCheck(
            "rmsNorm beside a residual",
            [randn([2, 3, 8], seed: 123), randn([8], seed: 124), randn([8, 8], seed: 125)]
        ) {
            $0[0].rmsNorm(weight: $0[1]).matmul($0[2], adding: $0[0])
        }
        gradCheck(
            "layerNorm beside a permuted use",
            [randn([3, 2, 8], seed: 126), randn([8], seed: 127), randn([8], seed: 128)]
        ) {
            ($0[0].permute([1, 0, 2]) * 2).permute([1, 0, 2]) + $0[0].layerNorm(weight: $0[1], bias: $0[2]) * 3
        }
        // SwiGLU's backward as the epilogue of the down projection's input gradient.
        gradCheck(
            "swigluHalvesMatmul",
            [randn([2, 3, 8], seed: 129), randn([5, 4], seed: 130), randn([2, 3, 5], seed: 131)]
        ) {
            i in
            let h = noGrad { i[0].swigluHalves() }
            return i[0].swigluHalvesMatmul(i[1].mT, computed: h, adding: i[2])
        }
        // Bit for bit the separate ops, on the shared-panel path (≥ 256 rows) and the plain one.
        for (rows, width, f) in [(5, 24, 10), (300, 64, 48), (1000, 32, 40)] {
            let gu = randn([2, rows, 2 * f], seed: UInt64(132 + rows))
            let w = randn([width, f], seed: UInt64(133 + rows))
            let r = randn([2, rows, width], seed: UInt64(134 + rows))
            let g = randn([2, rows, width], seed: UInt64(135 + rows))
            for threads in [1, 2] {
                Parallel.withThreads(threads) {
                    var outs: [[Float]] = []
                    var grads: [[Float]] = []
                    for fused in [true, false] {
                        let (gs, ws, rs) = (
                            gu.clone().requiringGrad(), w.clone().requiringGrad(), r.clone().requiringGrad()
                        )
                        let y =
                            fused
                            ? gs.swigluHalvesMatmul(ws.mT, computed: noGrad { gs.swigluHalves() }, adding: rs)
                            : gs.swigluHalves().matmul(ws.mT) + rs
                        y.backward(g)
                        outs.append(y.toArray())
                        grads.append(gs.grad!.toArray() + ws.grad!.toArray() + rs.grad!.toArray())
                    }
                    let what = "rows \(rows) width \(width) F \(f) threads \(threads)"
                    XCTAssertEqual(outs[0], outs[1], "output \(what)")
                    XCTAssertEqual(grads[0], grads[1], "gradients \(what)")
                }
            }
        }
    }

    func testRoPEAttentionAndCheckpoint() {
        let table = RotaryTable(headDim: 4, maxPositions: 8)
        gradCheck("rope", [randn([2, 3, 2, 4], seed: 80)]) { $0[0].rope(table, positions: [2, 0, 7]) }
        // Strided input (a head slice of a fused projection) and strided gradient (a permuted view).
        gradCheck("rope strided", [randn([2, 3, 5, 4], seed: 81)]) {
            $0[0].slice(2, 1, 3).rope(table, positions: [2, 0, 7]).permute([0, 2, 1, 3]) * 1.5
        }
        let table8 = RotaryTable(headDim: 8, maxPositions: 8)
        gradCheck("fused rotary attention", [randn([2, 5, 4, 8], seed: 89)]) {
            Tensor.ropeAttention($0[0], heads: 2, kvHeads: 1, rope: table8, positions: [3, 0, 1, 2, 7], causal: true)
        }
        gradCheck(
            "flash attention",
            [randn([1, 2, 5, 4], seed: 81), randn([1, 1, 5, 4], seed: 82), randn([1, 1, 5, 4], seed: 83)]
        ) {
            Tensor.attention($0[0], $0[1], $0[2], causal: true)
        }
        gradCheck(
            "packed attention",
            [randn([1, 1, 6, 4], seed: 84), randn([1, 1, 6, 4], seed: 85), randn([1, 1, 6, 4], seed: 86)]
        ) {
            Tensor.attention($0[0], $0[1], $0[2], causal: false, cuSeqlens: [0, 2, 3, 6])
        }
        let w = randn([3, 3], seed: 87)
        gradCheck("checkpoint", [randn([4, 3], seed: 88), w]) { i in
            Autograd.checkpoint([i[0]], parameters: [i[1]]) { $0[0].matmul(i[1]).tanh().matmul(i[1]) }
        }
    }

    /// Second order: the gradient of a gradient norm (as in the WGAN-GP penalty) against finite
    /// differences of the first-order gradient norm, through fused ops' composite backward.
    func testGradientOfGradientNorm() {
        let x = randn([3, 4], seed: 50)
        let w1 = randn([4, 5], seed: 51, scale: 0.5)
        let w2 = randn([5, 1], seed: 52, scale: 0.5)
        let lnw = randn([5], seed: 53)
        func critic(_ x: Tensor, _ w1: Tensor, _ w2: Tensor, _ lnw: Tensor) -> Tensor {
            let h = x.matmul(w1).layerNorm(weight: lnw, bias: nil).gelu()
            return (h.softmax(-1) * h).matmul(w2).tanh().sum()
        }
        func penalty(_ ps: [Tensor]) -> Double {
            let xi = x.detach().clone().requiringGrad()
            let out = critic(xi, ps[0], ps[1], ps[2])
            let g = Autograd.grad(of: out, wrt: xi)!
            return Double(g.square().sum().item())
        }
        let params = [w1, w2, lnw]
        for p in params {
            p.requiresGrad = true
            p.grad = nil
        }
        let xi = x.detach().clone().requiringGrad()
        let out = critic(xi, w1, w2, lnw)
        let g = Autograd.grad(of: out, wrt: xi, createGraph: true)!
        XCTAssertTrue(g.requiresGrad, "createGraph must record the backward")
        g.square().sum().backward()
        let eps: Float = 1e-3
        for (k, p) in params.enumerated() {
            let ga = p.grad!.toArray()
            for i in 0..<p.count {
                let old = p.data[i]
                p.data[i] = old + eps
                let lp = penalty(params)
                p.data[i] = old - eps
                let lm = penalty(params)
                p.data[i] = old
                let num = (lp - lm) / (2 * Double(eps))
                XCTAssertEqual(Double(ga[i]), num, accuracy: 3e-3 + 3e-2 * abs(num), "param \(k) element \(i)")
            }
        }
    }

    func testSecondOrderThroughConvAndCrossEntropy() {
        let x = randn([1, 2, 4, 4], seed: 60)
        let w = randn([3, 2, 3, 3], seed: 61, scale: 0.4)
        func f(_ x: Tensor, _ w: Tensor) -> Tensor {
            let y = x.conv2d(w, padding: (1, 1)).silu().reshape([3, 16]).mT
            return y.crossEntropy(Array(repeating: 1, count: 16)) + y.rmsNorm(weight: nil).sum() * 0.1
        }
        w.requiresGrad = true
        let xi = x.clone().requiringGrad()
        let g = Autograd.grad(of: f(xi, w), wrt: xi, createGraph: true)!
        g.square().sum().backward()
        let ga = w.grad!.toArray()
        let eps: Float = 1e-3
        func pen() -> Double {
            let xi = x.clone().requiringGrad()
            return Double(Autograd.grad(of: f(xi, w), wrt: xi)!.square().sum().item())
        }
        for i in stride(from: 0, to: w.count, by: 3) {
            let old = w.data[i]
            w.data[i] = old + eps
            let lp = pen()
            w.data[i] = old - eps
            let lm = pen()
            w.data[i] = old
            let num = (lp - lm) / (2 * Double(eps))
            XCTAssertEqual(Double(ga[i]), num, accuracy: 3e-3 + 3e-2 * abs(num), "w element \(i)")
        }
    }

    func testAccumulationNoGradAndClipping() {
        let w = randn([3], seed: 70).requiringGrad()
        (w * 2).sum().backward()
        (w * 3).sum().backward()
        assertClose(w.grad!.toArray(), [5, 5, 5], "gradients accumulate across backward calls")
        let y = noGrad { w * 2 }
        XCTAssertFalse(y.requiresGrad)
        XCTAssertNil(y.gradFn)
        let a = Tensor([3, 0]).requiringGrad()
        let b = Tensor([0, 4]).requiringGrad()
        a.grad = Tensor([3, 0])
        b.grad = Tensor([0, 4])
        let norm = Autograd.clipGradNorm([a, b], maxNorm: 1)
        XCTAssertEqual(norm, 5, accuracy: 1e-5)
        XCTAssertEqual(Kernels.sumSquares(a.grad!) + Kernels.sumSquares(b.grad!), 1, accuracy: 1e-4)
        let c = Tensor([0.1]).requiringGrad()
        c.grad = Tensor([0.1])
        XCTAssertEqual(Autograd.clipGradNorm([c], maxNorm: 1), 0.1, accuracy: 1e-6)
        XCTAssertEqual(c.grad!.item(), 0.1, accuracy: 1e-7, "below the threshold nothing is scaled")
    }
}

/// The fused LSTM and GRU cells: equal to the cells written in core ops, forwards and backwards, and
/// against finite differences (first and, through the composite fallback, second order).
final class FusedRecurrentCellTests: XCTestCase {
    func assertClose(_ a: Tensor, _ b: Tensor, _ what: String, tol: Float = 1e-5) {
        let x = a.toArray()
        let y = b.toArray()
        XCTAssertEqual(x.count, y.count, what)
        let worst = zip(x, y).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
        XCTAssertLessThan(worst, tol, what)
    }

    func testLSTMCellMatchesTheComposite() {
        let gates = randn([5, 4 * 7], seed: 11) * 2
        let c = randn([5, 7], seed: 12)
        let fused = Tensor.lstmCell(gates: gates, c: c)
        let ref = Tensor.lstmCellComposite(gates: gates, c: c)
        assertClose(fused.h, ref.h, "h")
        assertClose(fused.c, ref.c, "c'")
        gradCheck("fused lstm cell", [gates, c]) { i in
            let (h, cn) = Tensor.lstmCell(gates: i[0], c: i[1])
            return h * 2 + cn
        }
        // Gradients through h only, through c′ only, and through both, equal the composite's.
        for use in 0..<3 {
            let g1 = gates.detach().requiringGrad()
            let c1 = c.detach().requiringGrad()
            let g2 = gates.detach().requiringGrad()
            let c2 = c.detach().requiringGrad()
            let w = randn([5, 7], seed: 13)
            let a = Tensor.lstmCell(gates: g1, c: c1)
            let b = Tensor.lstmCellComposite(gates: g2, c: c2)
            let la = use == 0 ? a.h * w : use == 1 ? a.c * w : a.h * w + a.c
            let lb = use == 0 ? b.h * w : use == 1 ? b.c * w : b.h * w + b.c
            la.sum().backward()
            lb.sum().backward()
            assertClose(g1.grad!, g2.grad!, "∂gates (\(use))")
            assertClose(c1.grad!, c2.grad!, "∂c (\(use))")
        }
    }

    func testGRUCellMatchesTheComposite() {
        let xg = randn([4, 3 * 6], seed: 21) * 2
        let hg = randn([4, 3 * 6], seed: 22)
        let h = randn([4, 6], seed: 23)
        assertClose(Tensor.gruCell(xg: xg, hg: hg, h: h), Tensor.gruCellComposite(xg: xg, hg: hg, h: h), "h'")
        gradCheck("fused gru cell", [xg, hg, h]) { i in Tensor.gruCell(xg: i[0], hg: i[1], h: i[2]) }
        let a = [xg, hg, h].map { $0.detach().requiringGrad() }
        let b = [xg, hg, h].map { $0.detach().requiringGrad() }
        let w = randn([4, 6], seed: 24)
        (Tensor.gruCell(xg: a[0], hg: a[1], h: a[2]) * w).sum().backward()
        (Tensor.gruCellComposite(xg: b[0], hg: b[1], h: b[2]) * w).sum().backward()
        for k in 0..<3 { assertClose(a[k].grad!, b[k].grad!, "input \(k)") }
    }

    /// Second order goes through the composite: ∂‖∂L/∂gates‖²/∂c of the fused cell equals the composite's.
    func testSecondOrderThroughTheFallback() {
        func penalty(_ fused: Bool) -> [Float] {
            let gates = randn([2, 4 * 3], seed: 31).requiringGrad()
            let c = randn([2, 3], seed: 32).requiringGrad()
            let (h, cn) = fused ? Tensor.lstmCell(gates: gates, c: c) : Tensor.lstmCellComposite(gates: gates, c: c)
            let g = Autograd.grad(of: (h.tanh() + cn).sum(), wrt: gates, createGraph: true)!
            g.square().sum().backward()
            return c.grad!.toArray()
        }
        let a = penalty(true)
        let b = penalty(false)
        for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 1e-5) }
    }
}
