import Compute
import Labs
import Models
import XCTest

final class ShippedImageModelTests: XCTestCase {
    /// Pixel spread within and across images, and the difference between two seeds' samples.
    func check(_ a: SampleGrid, _ b: SampleGrid, _ what: String) {
        XCTAssertEqual(a.count, b.count)
        let mean = a.pixels.reduce(0, +) / Float(a.pixels.count)
        let variance = a.pixels.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(a.pixels.count)
        XCTAssertGreaterThan(
            variance.squareRoot(), 0.1, "\(what): not blank or constant (std \(variance.squareRoot()))")
        XCTAssertGreaterThan(mean, 0.02, "\(what): not black")
        XCTAssertLessThan(mean, 0.98, "\(what): not white")
        // Images differ from each other within a grid…
        let n = a.channels * a.side * a.side
        let first = Array(a.pixels[0..<n])
        let others = (1..<a.count).map { Array(a.pixels[($0 * n)..<(($0 + 1) * n)]) }
        XCTAssertTrue(others.contains { zip($0, first).map { abs($0 - $1) }.reduce(0, +) / Float(n) > 0.05 }, what)
        // …and across seeds.
        let diff = zip(a.pixels, b.pixels).map { abs($0 - $1) }.reduce(0, +) / Float(a.pixels.count)
        XCTAssertGreaterThan(diff, 0.05, "\(what): seeds 1 and 2 give different samples")
    }

    func testShippedGANSamplesAreImagesAndDifferAcrossSeeds() throws {
        let lab = try ShippedImageModels.gan()
        XCTAssertTrue(lab.isFinished, "the shipped GAN is a finished run")
        let c = lab.session.config
        XCTAssertEqual(c.data, .glyphs)
        var r1 = RNG(seed: 1)
        var r2 = RNG(seed: 2)
        let a = SampleGrid(tensor: lab.session.sample(Tensor.randn([16, c.latent], rng: &r1)))
        let b = SampleGrid(tensor: lab.session.sample(Tensor.randn([16, c.latent], rng: &r2)))
        check(a, b, "shipped GAN")
    }

    func testShippedVQGANPriorSamplesAreImagesAndDifferAcrossSeeds() throws {
        let s = try ShippedImageModels.vqPrior()
        XCTAssertEqual(s.config.vq.mode, .vqgan)
        XCTAssertEqual(s.config.vq.data, .shapes)
        let a = SampleGrid(tensor: s.sample(8, seed: 1))
        let b = SampleGrid(tensor: s.sample(8, seed: 2))
        check(a, b, "shipped VQGAN prior")
        // The prior has learned the codes: its loss is far below a uniform guess.
        XCTAssertLessThan(Double(s.evalLoss(32)), 0.8 * Foundation.log(Double(s.config.vq.codes)))
    }

    func testShippedDDPMSamplesAreGlyphLikeAndDifferAcrossSeeds() throws {
        let s = try DiffusionCheckpoint.shippedOr(nil)
        XCTAssertEqual(s.config.data, .glyphs)
        var settings = DenoiseSettings()
        settings.steps = 25
        func draw(_ seed: UInt64) -> SampleGrid {
            let run = s.run(count: 8, settings: settings, seed: seed)
            run.jump(to: run.stepCount)
            return SampleGrid(tensor: run.frame.xt)
        }
        let a = draw(1)
        check(a, draw(2), "shipped DDPM")
        // Glyphs are mostly background with some ink: most pixels dark, a real fraction bright.
        let ink = Double(a.pixels.filter { $0 > 0.5 }.count) / Double(a.pixels.count)
        XCTAssertGreaterThan(ink, 0.05, "ink")
        XCTAssertLessThan(ink, 0.5, "mostly background")
    }
}
