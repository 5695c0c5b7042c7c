import ArgumentParser
import Compute
import Foundation
import Labs
import Models
import Playground

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a trained model against an independent judge (a figure the README reports).",
        subcommands: [EvalTextToImage.self, EvalOAD.self])
}

/// `orrery eval text-to-image`: caption agreement of a text-conditioned diffusion model.
struct EvalTextToImage: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "text-to-image",
        abstract:
            "Draw samples for every \"a <colour> <shape>\" caption and count how often a classifier trained on the "
            + "shapes dataset agrees with the caption's colour and shape.")
    @OptionGroup var common: CommonOptions
    @Option(help: "A text-conditioned diffusion session directory (default: the shipped text-to-shapes model).")
    var checkpoint: String?
    @Option(help: "Samples per caption (24 captions).") var perPrompt = 10
    @Option(help: "Sampling steps (DDIM, eta 0).") var steps = 50
    @Option(help: "Classifier-free guidance scale.") var guidance: Float = 3
    @Option(help: "Random seed of the samples.") var seed: UInt64 = 1
    @Flag(help: "JSON: one object per caption, then a summary.") var json = false

    func validate() throws {
        guard (1...256).contains(perPrompt) else { throw ValidationError("--per-prompt must be 1…256") }
        guard (1...1000).contains(steps) else { throw ValidationError("--steps must be 1…1000") }
        guard guidance >= 0 && guidance <= 50 else { throw ValidationError("--guidance must be 0…50") }
    }

    func run() throws {
        try common.apply()
        let session: DiffusionSession
        do { session = try DiffusionCheckpoint.shippedOr(checkpoint, .ldmShapes) } catch { throw CLIError("\(error)") }
        var settings = DenoiseSettings()
        settings.steps = steps
        settings.guidance = guidance
        let progress = Progress(total: CaptionAgreement.prompts.count, label: "captions", enabled: !json)
        let start = Date()
        let result: CaptionAgreement
        do {
            result = try CaptionAgreement.measure(
                session, perPrompt: perPrompt, settings: settings, seed: seed, progress: { progress.update($0) })
        } catch { throw CLIError("\(error)") }
        progress.finish()
        let secs = Date().timeIntervalSince(start)
        if json {
            for r in result.rows {
                print(
                    JSONLine.encode([
                        "type": "caption", "prompt": r.prompt, "samples": r.samples, "colour": r.colourAgree,
                        "shape": r.shapeAgree, "both": r.bothAgree,
                    ]))
            }
            print(
                JSONLine.encode([
                    "type": "done", "samples": result.samples, "colour_agreement": result.colour,
                    "shape_agreement": result.shape, "agreement": result.both,
                    "classifier_colour_accuracy": result.classifierColour,
                    "classifier_shape_accuracy": result.classifierShape, "guidance": Double(guidance),
                    "reconstruction_colour_accuracy": result.reconstructionColour ?? NSNull(),
                    "reconstruction_shape_accuracy": result.reconstructionShape ?? NSNull(),
                    "steps": steps, "seconds": secs,
                ]))
            return
        }
        print("\(session.describe)")
        print("caption               colour  shape  both")
        for r in result.rows {
            print(
                r.prompt.padding(toLength: 20, withPad: " ", startingAt: 0)
                    + String(format: "  %5d  %5d  %4d   of %d", r.colourAgree, r.shapeAgree, r.bothAgree, r.samples))
        }
        print(
            String(
                format: "agreement on %d samples (DDIM %d, guidance %.1f): colour %.1f %%, shape %.1f %%, both %.1f %%",
                result.samples, steps, Double(guidance), 100 * result.colour, 100 * result.shape, 100 * result.both))
        print(
            String(
                format: "the judge on held-out real images: colour %.1f %%, shape %.1f %% (%.1f s)",
                100 * result.classifierColour, 100 * result.classifierShape, secs))
        if let c = result.reconstructionColour, let sh = result.reconstructionShape {
            print(
                String(
                    format:
                        "the judge on the autoencoder's reconstructions (the ceiling): colour %.1f %%, shape %.1f %%",
                    100 * c, 100 * sh))
        }
    }
}
