// Does a text-to-image model draw what it is told? A small CNN learns to read a shapes image's colour
// and shape from the dataset itself (clean images, a seed the diffusion model never trained on);
// then the diffusion model draws samples for every "a <colour> <shape>" caption and the classifier
// says how often each sample's colour and shape agree with its caption. The classifier's own accuracy
// on held-out real images is reported beside it, so a weak judge cannot pass for a good model.
import Compute
import Foundation
import Models
import NN

/// Colour and shape of a 32×32 shapes image: three stride-2 convolutions, then two linear heads.
public final class ShapesClassifier: Module {
    public let conv1: Conv2d, conv2: Conv2d, conv3: Conv2d, hidden: Linear, colour: Linear, shape: Linear

    public init(rng: inout RNG) {
        conv1 = Conv2d(3, 16, kernel: 3, stride: 2, padding: 1, rng: &rng)
        conv2 = Conv2d(16, 32, kernel: 3, stride: 2, padding: 1, rng: &rng)
        conv3 = Conv2d(32, 32, kernel: 3, stride: 2, padding: 1, rng: &rng)
        hidden = Linear(32 * 16, 64, rng: &rng)
        colour = Linear(64, ShapeImages.Colour.allCases.count, rng: &rng)
        shape = Linear(64, ShapeImages.Shape.allCases.count, rng: &rng)
    }

    /// Images [N, 3, 32, 32] in [−1, 1] → (colour logits [N, 6], shape logits [N, 4]).
    public func callAsFunction(_ x: Tensor) -> (Tensor, Tensor) {
        let h = conv3(conv2(conv1(x).relu()).relu()).relu()
        let f = hidden(h.reshape([x.shape[0], 32 * 16])).relu()
        return (colour(f), shape(f))
    }

    /// (colour, shape) of each image.
    public func classify(_ x: Tensor) -> [(ShapeImages.Colour, ShapeImages.Shape)] {
        noGrad {
            let (c, s) = self(x)
            return zip(c.argmax(1), s.argmax(1)).map {
                (ShapeImages.Colour.allCases[$0.0], ShapeImages.Shape.allCases[$0.1])
            }
        }
    }

    /// Trains on `count` fresh shapes images (seed `seed`); returns (colour, shape) accuracy on 1024
    /// held-out ones.
    public static func trained(seed: UInt64, count: Int = 4096, steps: Int = 1500) -> (ShapesClassifier, Double, Double)
    {
        var rng = RNG(seed: seed)
        let net = ShapesClassifier(rng: &rng)
        let data = ShapeImages(count: count, seed: seed &+ 101)
        let images = data.images * 2 - 1
        let colours = data.attributes.map { ShapeImages.Colour.allCases.firstIndex(of: $0.colour)! }
        let shapes = data.attributes.map { ShapeImages.Shape.allCases.firstIndex(of: $0.shape)! }
        let opt = Adam(net.parameters, lr: 2e-3)
        for _ in 0..<steps {
            let ids = (0..<64).map { _ in rng.int(below: count) }
            net.zeroGrad()
            let (c, s) = net(images.indexSelect(ids))
            let loss = c.crossEntropy(ids.map { colours[$0] }) + s.crossEntropy(ids.map { shapes[$0] })
            loss.backward()
            opt.step()
        }
        let test = ShapeImages(count: 1024, seed: seed &+ 202)
        let got = net.classify(test.images * 2 - 1)
        let c = zip(got, test.attributes).filter { $0.0.0 == $0.1.colour }.count
        let s = zip(got, test.attributes).filter { $0.0.1 == $0.1.shape }.count
        return (net, Double(c) / 1024, Double(s) / 1024)
    }
}

/// The caption-agreement figure of a text-to-image model.
public struct CaptionAgreement: Sendable {
    public struct Row: Sendable {
        public let prompt: String
        public let samples: Int
        public let colourAgree: Int, shapeAgree: Int, bothAgree: Int
    }
    public let rows: [Row]
    /// The judge's accuracy on held-out real images.
    public let classifierColour: Double, classifierShape: Double
    /// For a latent model, the judge's accuracy on the autoencoder's reconstructions of held-out
    /// images: the most the diffusion model can reach through that decoder.
    public let reconstructionColour: Double?, reconstructionShape: Double?
    public var samples: Int { rows.reduce(0) { $0 + $1.samples } }
    public var colour: Double { Double(rows.reduce(0) { $0 + $1.colourAgree }) / Double(Swift.max(1, samples)) }
    public var shape: Double { Double(rows.reduce(0) { $0 + $1.shapeAgree }) / Double(Swift.max(1, samples)) }
    public var both: Double { Double(rows.reduce(0) { $0 + $1.bothAgree }) / Double(Swift.max(1, samples)) }

    /// The captions checked: every colour × shape, as "a red circle".
    public static var prompts: [(String, ShapeImages.Colour, ShapeImages.Shape)] {
        ShapeImages.Colour.allCases.flatMap { c in
            ShapeImages.Shape.allCases.map { s in ("a \(c.rawValue) \(s.rawValue)", c, s) }
        }
    }

    /// Draws `perPrompt` samples for each caption and judges them. `progress` is told each caption done.
    public static func measure(
        _ session: DiffusionSession, perPrompt: Int, settings: DenoiseSettings, seed: UInt64,
        classifierSeed: UInt64 = 77, prompts: [(String, ShapeImages.Colour, ShapeImages.Shape)]? = nil,
        progress: (Int) -> Void = { _ in }
    ) throws -> CaptionAgreement {
        guard session.config.text != nil, session.config.data == .shapes else {
            throw SessionError.config("caption agreement needs a text-conditioned model of shapes")
        }
        let (judge, cAcc, sAcc) = ShapesClassifier.trained(seed: classifierSeed)
        var rows: [Row] = []
        for (i, (prompt, colour, shape)) in (prompts ?? CaptionAgreement.prompts).enumerated() {
            var s = settings
            s.prompt = prompt
            try session.validate(prompt: prompt)
            let run = session.run(count: perPrompt, settings: s, seed: seed &+ UInt64(i) &* 1000)
            run.jump(to: run.stepCount)
            let got = judge.classify(run.frame.xtImage)
            rows.append(
                Row(
                    prompt: prompt, samples: perPrompt, colourAgree: got.filter { $0.0 == colour }.count,
                    shapeAgree: got.filter { $0.1 == shape }.count,
                    bothAgree: got.filter { $0.0 == colour && $0.1 == shape }.count))
            progress(i + 1)
        }
        var ceiling: (Double, Double)?
        if let ae = session.autoencoder {
            let test = ShapeImages(count: 512, seed: classifierSeed &+ 303)
            let rec = noGrad { ae.images(ae.latents(test.images * 2 - 1)).clamp(min: -1, max: 1) }
            let got = judge.classify(rec)
            ceiling = (
                Double(zip(got, test.attributes).filter { $0.0.0 == $0.1.colour }.count) / 512,
                Double(zip(got, test.attributes).filter { $0.0.1 == $0.1.shape }.count) / 512
            )
        }
        return CaptionAgreement(
            rows: rows, classifierColour: cAcc, classifierShape: sAcc, reconstructionColour: ceiling?.0,
            reconstructionShape: ceiling?.1)
    }
}
