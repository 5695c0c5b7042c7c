import Compute
import Foundation
import Models
import NN
import TestSupport
import XCTest

final class DiffusionScheduleTests: XCTestCase {
    /// ᾱ is the running product of 1 − β; the posterior's coefficients and variance equal their closed
    /// forms; the cosine schedule follows f(t)/f(0) where β is not clipped; SNR falls.
    func testScheduleQuantitiesEqualTheirClosedForms() {
        for kind in BetaSchedule.allCases {
            let s = NoiseSchedule(kind, steps: 1000)
            var prod = 1.0
            for t in 0..<1000 {
                prod *= 1 - s.betas[t]
                XCTAssertEqual(s.alphaBar(t), prod, accuracy: 1e-12)
            }
            XCTAssertEqual(s.alphaBar(-1), 1)
            for t in [0, 1, 10, 500, 999] {
                let (c0, ct, v) = s.posterior(t)
                let ab = s.alphaBar(t)
                let abp = t == 0 ? 1 : s.alphaBar(t - 1)
                let beta = 1 - ab / abp
                XCTAssertEqual(c0, beta * abp.squareRoot() / (1 - ab), accuracy: 1e-9, "\(kind) t \(t)")
                XCTAssertEqual(ct, (1 - abp) * (1 - beta).squareRoot() / (1 - ab), accuracy: 1e-9)
                XCTAssertEqual(v, beta * (1 - abp) / (1 - ab), accuracy: 1e-12)
            }
            let snr = (0..<1000).map { s.snr($0) }
            XCTAssertTrue(zip(snr, snr.dropFirst()).allSatisfy { $0 > $1 }, "\(kind): SNR falls")
        }
        let lin = NoiseSchedule(.linear, steps: 1000)
        XCTAssertEqual(lin.betas.first!, 1e-4, accuracy: 1e-12)
        XCTAssertEqual(lin.betas.last!, 0.02, accuracy: 1e-12)
        let cos = NoiseSchedule(.cosine, steps: 1000)
        func f(_ t: Double) -> Double { pow(Foundation.cos((t / 1000 + 0.008) / 1.008 * Double.pi / 2), 2) }
        for t in [0, 100, 500, 900] { XCTAssertEqual(cos.alphaBar(t), f(Double(t + 1)) / f(0), accuracy: 1e-9) }
        XCTAssertEqual(lin.timesteps(5), [999, 749, 499, 250, 0])
    }

    /// q(x_t | x_0) has mean √ᾱ x_0 and variance 1 − ᾱ; ε- and v-targets split back into (x_0, ε).
    func testQSampleMomentsAndPredictionTypes() {
        let s = NoiseSchedule(.linear, steps: 1000)
        var rng = RNG(seed: 3)
        let n = 40_000
        let x0 = Tensor.full([n], 0.5)
        for t in [10, 300, 900] {
            let xt = s.qSample(x0, t: t, noise: Tensor.randn([n], rng: &rng)).toArray().map(Double.init)
            let mean = xt.reduce(0, +) / Double(n)
            let variance = xt.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)
            XCTAssertEqual(mean, 0.5 * s.alphaBar(t).squareRoot(), accuracy: 0.02, "t \(t)")
            XCTAssertEqual(variance, 1 - s.alphaBar(t), accuracy: 0.02, "t \(t)")
        }
        let a = Tensor.randn([64], rng: &rng)
        let e = Tensor.randn([64], rng: &rng)
        for type in PredictionType.allCases {
            let xt = s.qSample(a, t: 400, noise: e)
            let (x0, eps) = s.split(s.target(x0: a, noise: e, t: 400, type: type), xt: xt, t: 400, type: type)
            assertClose(x0.toArray(), a.toArray(), atol: 1e-4)
            assertClose(eps.toArray(), e.toArray(), atol: 1e-4)
        }
    }

    /// The ancestral DDPM step equals DDIM with η = 1 on consecutive timesteps (same noise).
    func testDDPMStepIsDDIMWithEtaOne() {
        let s = NoiseSchedule(.cosine, steps: 200)
        var rng = RNG(seed: 5)
        let xt = Tensor.randn([32], rng: &rng)
        let x0 = Tensor.randn([32], rng: &rng)
        let z = Tensor.randn([32], rng: &rng)
        for t in [1, 50, 199] {
            let ab = s.alphaBar(t)
            let eps = (xt - x0 * Float(ab.squareRoot())) / Float((1 - ab).squareRoot())
            let a = DiffusionStep.ddpm(s, xt: xt, x0: x0, t: t, noise: z)
            let b = DiffusionStep.ddim(s, x0: x0, eps: eps, t: t, next: t - 1, eta: 1, noise: z)
            assertClose(a.toArray(), b.toArray(), atol: 1e-4)
        }
    }
}

final class DenoisingRunTests: XCTestCase {
    /// The exact ε-predictor for data x_0 ~ N(μ, σ²) per element (and a "prompt" that shifts μ):
    /// E[ε | x_t] = √(1−ᾱ)(x_t − √ᾱ μ) / (ᾱ σ² + 1 − ᾱ).
    func gaussianModel(_ s: NoiseSchedule, mu: Float, sigma: Float) -> DenoisingRun.Model {
        { xt, t, prompt in
            let ab = Float(s.alphaBar(t))
            let m: Float = prompt == nil ? mu : mu + 1
            let shift: Float = m * ab.squareRoot()
            let denominator: Float = ab * sigma * sigma + 1 - ab
            let scale: Float = (1 - ab).squareRoot() / denominator
            return (xt - shift) * scale
        }
    }

    func moments(_ t: Tensor) -> (Double, Double) {
        let a = t.toArray().map(Double.init)
        let m = a.reduce(0, +) / Double(a.count)
        return (m, (a.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(a.count)).squareRoot())
    }

    /// With the exact model, DDPM (1000 steps) and DDIM (η = 0, 200 and 1000 steps) samples have the
    /// data's mean and standard deviation. (At 50 DDIM steps the deterministic sampler's discretisation
    /// shows: the standard deviation comes out 0.467 instead of 0.5 on the linear schedule.)
    func testSamplersRecoverTheDataDistribution() {
        let s = NoiseSchedule(.linear, steps: 1000)
        for (sampler, steps) in [(DiffusionSampler.ddpm, 1000), (.ddim, 200), (.ddim, 1000)] {
            var cfg = DenoiseSettings()
            cfg.sampler = sampler
            cfg.steps = steps
            cfg.clipSample = false  // Gaussian data is not confined to [−1, 1]
            let run = DenoisingRun(
                schedule: s, prediction: .epsilon, shape: [8192], settings: cfg, seed: 1,
                model: gaussianModel(s, mu: 0.3, sigma: 0.5))
            run.jump(to: run.stepCount)
            XCTAssertTrue(run.isFinished)
            let (m, sd) = moments(run.frame.xt)
            XCTAssertEqual(m, 0.3, accuracy: 0.03, "\(sampler) mean")
            XCTAssertEqual(sd, 0.5, accuracy: 0.03, "\(sampler) std")
        }
    }

    /// DDIM η = 0 is deterministic; step then back returns the identical state; a branch with other
    /// settings leaves the original untouched and ends elsewhere; guidance 1 equals the conditional
    /// model alone.
    func testStepBackBranchAndGuidance() {
        let s = NoiseSchedule(.cosine, steps: 100)
        let model = gaussianModel(s, mu: 0, sigma: 0.5)
        var cfg = DenoiseSettings()
        cfg.steps = 20
        cfg.prompt = "up"
        cfg.clipSample = false
        let a = DenoisingRun(schedule: s, prediction: .epsilon, shape: [256], settings: cfg, seed: 7, model: model)
        let b = DenoisingRun(schedule: s, prediction: .epsilon, shape: [256], settings: cfg, seed: 7, model: model)
        a.jump(to: 20)
        b.jump(to: 20)
        XCTAssertEqual(a.frame.xt.toArray(), b.frame.xt.toArray(), "η = 0 is deterministic")
        // Step then back.
        a.jump(to: 8)
        let before = a.frame.xt.toArray()
        a.step()
        XCTAssertNotEqual(a.frame.xt.toArray(), before)
        a.back()
        XCTAssertEqual(a.frame.xt.toArray(), before, "back returns the identical state")
        XCTAssertEqual(a.position, 8)
        // Branch at step 8 with another guidance scale.
        let original = a.branches[0].frames.map { $0.xt.toArray() }
        var other = cfg
        other.guidance = 3
        a.branch(with: other)
        XCTAssertEqual(a.current, 1)
        a.jump(to: 20)
        XCTAssertEqual(a.branches[0].frames.map { $0.xt.toArray() }, original, "the original branch is untouched")
        XCTAssertNotEqual(a.frame.xt.toArray(), original.last!, "the branches end differently")
        XCTAssertEqual(a.branches[1].frames[8].xt.toArray(), original[8], "the branch starts where it left")
        // Guidance 1 equals the conditional model alone.
        let condOnly: DenoisingRun.Model = { x, t, _ in model(x, t, "up") }
        var plain = cfg
        plain.prompt = nil
        let c = DenoisingRun(schedule: s, prediction: .epsilon, shape: [256], settings: plain, seed: 7, model: condOnly)
        c.jump(to: 20)
        XCTAssertEqual(c.frame.xt.toArray(), b.frame.xt.toArray())
        XCTAssertEqual(a.stepChanges.count, 20)
    }
}

final class UNetTests: XCTestCase {
    /// A tiny UNet (with cross-attention) keeps the image's shape and its gradients reach every
    /// parameter; a DDPM on a trivial dataset (two 8×8 patterns) lowers its loss within a test-sized
    /// budget, and its samples move from noise to the data's mean image.
    func testTinyDDPMLearns() {
        var rng = RNG(seed: 1)
        var cfg = UNetConfig()
        cfg.channels = 1
        cfg.size = 8
        cfg.base = 8
        cfg.groups = 4
        cfg.timeDim = 32
        cfg.contextDim = 6
        let net = UNet(cfg, rng: &rng)
        let ctx = Tensor.randn([2, 3, 6], rng: &rng)
        let y = net(Tensor.randn([2, 1, 8, 8], rng: &rng), t: [3, 700], context: ctx)
        XCTAssertEqual(y.shape, [2, 1, 8, 8])
        y.square().sum().backward()
        for (name, p) in net.namedParameters() { XCTAssertNotNil(p.grad, "\(name) gets a gradient") }

        // Data: a left-bright or a top-bright pattern, ±0.8.
        var pixels: [Float] = []
        for i in 0..<64 {
            for p in 0..<64 {
                let bright = i % 2 == 0 ? (p % 8) < 4 : (p / 8) < 4
                pixels.append(bright ? 0.8 : -0.8)
            }
        }
        let data = Tensor(shape: [64, 1, 8, 8], data: pixels)
        cfg.contextDim = nil
        var initRNG = RNG(seed: 2)
        let model = UNet(cfg, rng: &initRNG)
        let s = NoiseSchedule(.cosine, steps: 200)
        func sampleMeanError() -> Double {
            var settings = DenoiseSettings()
            settings.steps = 25
            let run = DenoisingRun(
                schedule: s, prediction: .epsilon, shape: [32, 1, 8, 8], settings: settings, seed: 9
            ) { x, t, _ in model(x, t: [Int](repeating: t, count: 32)) }
            run.jump(to: run.stepCount)
            let samples = run.frame.xt.toArray()
            // The data's mean image is 0 everywhere except the top-left (+0.8) and bottom-right (−0.8)
            // quadrants; compare the samples' mean image with it.
            let dataMean = data.mean(0).toArray()
            var e = 0.0
            for p in 0..<64 {
                let m = (0..<32).reduce(0.0) { $0 + Double(samples[$1 * 64 + p]) } / 32
                e += (m - Double(dataMean[p])) * (m - Double(dataMean[p]))
            }
            return (e / 64).squareRoot()
        }
        let before = sampleMeanError()
        let opt = Adam(model.parameters, lr: 3e-3)
        var losses: [Float] = []
        var trng = RNG(seed: 4)
        for _ in 0..<150 {
            let ids = (0..<16).map { _ in trng.int(below: 64) }
            let (xt, t, target) = s.trainingBatch(data.indexSelect(ids), type: .epsilon, rng: &trng)
            model.zeroGrad()
            let loss = model(xt, t: t).mseLoss(target)
            losses.append(loss.item())
            loss.backward()
            opt.step()
        }
        let first = losses.prefix(20).reduce(0, +) / 20
        let last = losses.suffix(20).reduce(0, +) / 20
        XCTAssertLessThan(last, 0.6 * first, "the loss falls: \(first) → \(last)")
        let after = sampleMeanError()
        XCTAssertLessThan(after, 0.7 * before, "samples approach the data's mean image: \(before) → \(after)")
    }
}
