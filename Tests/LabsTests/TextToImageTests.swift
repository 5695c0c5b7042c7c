import Compute
import Labs
import Models
import XCTest

final class TextToImageTests: XCTestCase {
    func testCaptionTokenizer() throws {
        let tok = CaptionTokenizer(words: ShapeImages.vocabulary, length: 8)
        let ids = try tok.ids("A small red circle at the top left")
        XCTAssertEqual(ids.count, 8)
        XCTAssertEqual(
            ids.map { $0 == 0 ? "" : tok.words[$0 - 1] },
            "a small red circle at the top left".split(separator: " ").map(String.init))
        XCTAssertEqual(try tok.ids("a red circle"), try tok.ids("A red, circle!"))
        XCTAssertEqual(try tok.ids("in the center"), try tok.ids("in the centre"))
        XCTAssertEqual(try tok.ids("a red circle").suffix(5), [0, 0, 0, 0, 0], "padding")
        XCTAssertThrowsError(try tok.ids("a pink circle")) { e in
            XCTAssertEqual(e as? CaptionTokenizer.TokenizeError, .unknownWord("pink", known: tok.words))
            XCTAssertTrue("\(e)".contains("\"pink\""))
        }
        XCTAssertThrowsError(try tok.ids("a a a a a a a a a"))
        XCTAssertEqual(CaptionTokenizer.position(of: "red", in: "a red circle"), 1)
        // Every caption of the dataset fits.
        for c in ShapeImages(count: 64, seed: 3).captions { XCTAssertNoThrow(try tok.ids(c), c) }
    }

    /// The text encoder gives one context token per caption token, and its gradients reach every
    /// parameter through the UNet's cross-attention; a tiny text-conditioned DDPM lowers its loss.
    func testTextConditionedSessionLearnsAndRoundTrips() throws {
        var c = DiffusionConfig()
        c.data = .shapes
        c.base = 16
        c.batch = 8
        c.steps = 40
        c.timesteps = 100
        c.datasetSize = 64
        c.lr = 2e-3
        c.text = TextConditioning()
        c.text!.encoder.width = 16
        c.text!.encoder.layers = 1
        let s = try DiffusionSession(c)
        let ctx = try XCTUnwrap(try s.context(["a red circle", nil]))
        XCTAssertEqual(ctx.shape, [2, 8, 16])
        var first: [Float] = []
        for _ in 0..<40 { first.append(s.trainStep()) }
        XCTAssertTrue(s.textEncoder!.parameters.allSatisfy { $0.grad != nil }, "the text encoder is trained")
        let early = first.prefix(5).reduce(0, +) / 5
        let late = first.suffix(5).reduce(0, +) / 5
        XCTAssertLessThan(late, early * 0.8, "loss \(early) → \(late)")
        XCTAssertThrowsError(try s.validate(prompt: "a pink circle"))
        XCTAssertNoThrow(try s.validate(prompt: "a red circle"))
        // Save and load: the same predictions.
        let dir = NSTemporaryDirectory() + "orrery-t2i-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try DiffusionCheckpoint.save(s, to: dir)
        let l = try DiffusionCheckpoint.load(from: dir)
        var settings = DenoiseSettings()
        settings.steps = 5
        settings.prompt = "a blue star"
        settings.guidance = 2
        let a = s.run(count: 2, settings: settings, seed: 3)
        let b = l.run(count: 2, settings: settings, seed: 3)
        a.jump(to: 5)
        b.jump(to: 5)
        XCTAssertEqual(a.frame.xt.toArray(), b.frame.xt.toArray())
        XCTAssertNotNil(a.branches[0].frames[2].attention, "the cross-attention map is recorded")
        XCTAssertEqual(a.branches[0].frames[2].attention?.shape, [2, 4, 32 * 32, 8])
        // A pixel model takes no prompt.
        var p = DiffusionConfig()
        p.base = 8
        XCTAssertThrowsError(try DiffusionSession(p).validate(prompt: "a red circle"))
    }

    /// Latents of the shipped shapes VQGAN: unit variance after scaling, and decoding the encoded
    /// training images gives back the autoencoder's reconstructions.
    func testLatentSpaceOfTheShippedAutoencoder() throws {
        let ae = try ShippedImageModels.vqPrior().vq
        var c = DiffusionConfig()
        c.data = .shapes
        c.base = 8
        c.datasetSize = 128
        c.latent = LatentSpace(vq: ae.config)
        let s = try DiffusionSession(c, autoencoder: ae)
        let l = try XCTUnwrap(s.config.latent)
        XCTAssertGreaterThan(l.scale, 0)
        XCTAssertGreaterThan(l.limit, 1)
        XCTAssertEqual(s.config.sampleShape, [16, 8, 8])
        let z = s.trainingData().samples
        let v = z.toArray()
        let mean = v.reduce(0, +) / Float(v.count)
        var sq: Float = 0
        for e in v { sq += (e - mean) * (e - mean) }
        let std = (sq / Float(v.count)).squareRoot()
        XCTAssertEqual(std, 1, accuracy: 0.01)
        let images = ShapeImages(count: 128, seed: c.seed &+ 5).images * 2 - 1
        let decoded = s.images(z.slice(0, 0, 4))
        let direct = noGrad { ae.images(ae.latents(images.slice(0, 0, 4))) }.toArray()
        var err: Float = 0
        for (a, b) in zip(decoded.toArray(), direct) { err = Swift.max(err, abs(a - Swift.min(1, Swift.max(-1, b)))) }
        XCTAssertLessThan(err, 1e-3, "decode(latent) is the VQ reconstruction")
        XCTAssertThrowsError(try DiffusionSession(c), "a latent model needs its autoencoder")
    }

    /// Stage 1 of the shipped latent model: a KL autoencoder lowers its reconstruction error within a
    /// few dozen steps, and a latent session built on it denoises latents of its shape.
    func testKLAutoencoderLearnsAndCarriesALatentSession() throws {
        var k = KLAutoencoderConfig()
        k.width = 16
        var recs: [Float] = []
        let ae = try KLAutoencoderTraining.train(k, datasetSize: 128, steps: 60, batch: 16, lr: 3e-3, seed: 2) {
            _, rec, kl in
            recs.append(rec)
            XCTAssertTrue(kl.isFinite && kl >= 0)
        }
        let early = recs.prefix(5).reduce(0, +) / 5
        let late = recs.suffix(5).reduce(0, +) / 5
        XCTAssertLessThan(late, early * 0.7, "reconstruction \(early) → \(late)")
        var c = DiffusionConfig()
        c.data = .shapes
        c.base = 8
        c.batch = 4
        c.datasetSize = 64
        c.latent = LatentSpace(kl: k)
        let s = try DiffusionSession(c, autoencoder: ae)
        XCTAssertEqual(s.config.sampleShape, [4, 8, 8])
        XCTAssertTrue(s.trainStep().isFinite)
        let r = s.run(count: 2, settings: DenoiseSettings(), seed: 1)
        XCTAssertEqual(r.frame.xt.shape, [2, 4, 8, 8])
        XCTAssertEqual(r.frame.xtImage.shape, [2, 3, 32, 32], "frames carry decoded images")
        var other = KLAutoencoderConfig()
        other.latentChannels = 8
        c.latent = LatentSpace(kl: other)
        XCTAssertThrowsError(try DiffusionSession(c, autoencoder: ae), "the autoencoder must match")
    }

    func testTheJudgeReadsColourAndShape() {
        let (_, colour, shape) = ShapesClassifier.trained(seed: 77)
        XCTAssertGreaterThan(colour, 0.97)
        XCTAssertGreaterThan(shape, 0.95)
    }

    /// The shipped text-to-shapes model draws what its prompt says, for a handful of captions.
    func testShippedTextToShapesAgreesWithItsCaptions() throws {
        let s = try DiffusionCheckpoint.shippedOr(nil, .ldmShapes)
        XCTAssertNotNil(s.config.text)
        XCTAssertNotNil(s.config.latent)
        var settings = DenoiseSettings()
        settings.steps = 25
        settings.guidance = 3
        let prompts = CaptionAgreement.prompts.enumerated().filter { $0.offset % 4 == 1 }.map(\.element)
        let r = try CaptionAgreement.measure(s, perPrompt: 4, settings: settings, seed: 5, prompts: prompts)
        XCTAssertEqual(r.samples, 24)
        XCTAssertGreaterThanOrEqual(r.both, 0.7, "\(r.rows.map { "\($0.prompt): \($0.bothAgree)/\($0.samples)" })")
    }
}
