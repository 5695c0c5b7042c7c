import CPNG
import Foundation
import TestSupport
import Formats
import XCTest

final class ImageLabCLITests: XCTestCase {
    /// `train wgan-gp` on the ring: JSON events with the critic estimate, the exact W1 and coverage,
    /// a done event, a session directory, and a PNG of the plane.
    func testTrainWGANGPJSONAndPNG() throws {
        let dir = try temporaryDirectory("cli-gan")
        let r = try run([
            "train", "wgan-gp", "--data", "ring8", "--steps", "40", "--log-every", "20", "--json", "--out",
            dir + "/s", "--png", dir + "/plane.png",
        ])
        XCTAssertEqual(r.code, 0, r.err)
        let lines = jsonLines(r.out)
        XCTAssertEqual(lines.first?["type"] as? String, "start")
        let steps = lines.filter { $0["type"] as? String == "step" }
        XCTAssertEqual(steps.count, 2)
        XCTAssertNotNil(steps.last?["exact_w1"] as? Double)
        XCTAssertNotNil(steps.last?["critic_estimate"] as? Double)
        XCTAssertEqual(lines.last?["type"] as? String, "done")
        XCTAssertEqual(lines.last?["modes_total"] as? Int, 8)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/s/CURRENT"))
        var w: Int32 = 0
        var h: Int32 = 0
        XCTAssertEqual(png_read_size(dir + "/plane.png", &w, &h), 0)
        XCTAssertGreaterThan(w, 400)
    }

    /// VQ-VAE → prior → samples, all from the command line, each stage reading the previous directory.
    func testVQVAEThenPriorThenSample() throws {
        let dir = try temporaryDirectory("cli-vq")
        let a = try run([
            "train", "vqvae", "--data", "glyphs", "--steps", "30", "--batch", "8", "--codes", "16", "--json", "--out",
            dir + "/vq",
        ])
        XCTAssertEqual(a.code, 0, a.err)
        let done = jsonLines(a.out).last!
        XCTAssertEqual(done["type"] as? String, "done")
        XCTAssertNotNil(done["perplexity_eval"] as? Double)
        let b = try run(["train", "vq-prior", "--vq", dir + "/vq", "--steps", "20", "--json", "--out", dir + "/prior"])
        XCTAssertEqual(b.code, 0, b.err)
        let pd = jsonLines(b.out).last!
        XCTAssertLessThan(pd["loss"] as? Double ?? 99, pd["uniform_loss"] as? Double ?? 0, "the prior beats uniform")
        let c = try run([
            "sample", "vqgan", "--checkpoint", dir + "/prior", "--grid", "3x2", "--png", dir + "/s.png", "--json",
        ])
        XCTAssertEqual(c.code, 0, c.err)
        XCTAssertEqual(jsonLines(c.out).last?["images"] as? Int, 6)
        // A prior directory is not a GAN, a missing one is named, a bad grid is refused.
        let d = try run(["sample", "gan", "--checkpoint", dir + "/prior"])
        XCTAssertNotEqual(d.code, 0)
        XCTAssertTrue(d.err.contains("not the gan lab") || d.err.contains("format"), d.err)
        let e = try run(["sample", "gan", "--checkpoint", dir + "/nothing-here"])
        XCTAssertNotEqual(e.code, 0)
        XCTAssertEqual(e.err.split(separator: "\n").count, 1, e.err)
        let f = try run(["sample", "gan", "--grid", "0x3"])
        XCTAssertNotEqual(f.code, 0)
        XCTAssertTrue(f.err.contains("--grid"), f.err)
    }

    /// The shipped glyph GAN draws on first use: ASCII art without a terminal, a PNG on request;
    /// different seeds give different images; text sampling is still the default of `sample`.
    func testShippedGANSamples() throws {
        let dir = try temporaryDirectory("cli-shipped")
        let a = try run(["sample", "gan", "--grid", "4x1", "--seed", "1"])
        XCTAssertEqual(a.code, 0, a.err)
        XCTAssertTrue(a.out.contains("@"), "ink in the ASCII art")
        XCTAssertFalse(a.out.contains("\u{1B}["), "no colour codes without a terminal")
        let b = try run(["sample", "gan", "--grid", "4x1", "--seed", "2"])
        XCTAssertNotEqual(a.out, b.out, "seeds differ")
        let p = try run(["sample", "gan", "--png", dir + "/g.png", "--json"])
        XCTAssertEqual(p.code, 0, p.err)
        XCTAssertEqual(jsonLines(p.out).last?["images"] as? Int, 64)
        let t = try run(["sample", "--prompt", "Once", "--max-tokens", "5", "--json"])
        XCTAssertEqual(t.code, 0, t.err)
        XCTAssertEqual(jsonLines(t.out).last?["type"] as? String, "done")
    }
}

final class DiffusionCLITests: XCTestCase {
    /// `train ddpm` saves a session; `denoise` steps through it, writes x_t and x̂_0 PNGs every K steps
    /// and a final grid, and reports each step; bad flags are one-line errors.
    func testTrainDDPMThenDenoise() throws {
        let dir = try temporaryDirectory("cli-ddpm")
        let a = try run([
            "train", "ddpm", "--steps", "6", "--batch", "4", "--base", "8", "--timesteps", "50", "--json", "--out",
            dir + "/s",
        ])
        XCTAssertEqual(a.code, 0, a.err)
        XCTAssertEqual(jsonLines(a.out).last?["type"] as? String, "done")
        let b = try run([
            "denoise", "--checkpoint", dir + "/s", "--steps", "6", "--png-every", "3", "--out", dir + "/frames",
            "--grid", "2x1", "--json",
        ])
        XCTAssertEqual(b.code, 0, b.err)
        let lines = jsonLines(b.out)
        XCTAssertEqual(lines.filter { $0["type"] as? String == "step" }.count, 6)
        XCTAssertEqual(lines.last?["images"] as? Int, 2)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/frames").sorted()
        XCTAssertEqual(
            files, ["final.png", "step0000-x0.png", "step0000-xt.png", "step0003-x0.png", "step0003-xt.png"])
        let c = try run(["denoise", "--checkpoint", dir + "/s", "--png-every", "2"])
        XCTAssertNotEqual(c.code, 0)
        XCTAssertTrue(c.err.contains("--out"), c.err)
        let d = try run(["denoise", "--checkpoint", dir + "/nothing"])
        XCTAssertNotEqual(d.code, 0)
        XCTAssertEqual(d.err.split(separator: "\n").count, 1, d.err)
    }

    /// `orrery export half` writes the same tensors as float16 (half the bytes) that load back within
    /// float16's rounding; a diffusion session with its weights in float16 samples as before.
    func testExportHalf() throws {
        let dir = try temporaryDirectory("cli-half")
        let a = try run([
            "train", "ddpm", "--steps", "2", "--batch", "2", "--base", "8", "--timesteps", "20", "--out", dir + "/s",
        ])
        XCTAssertEqual(a.code, 0, a.err)
        let step = try XCTUnwrap(
            try FileManager.default.contentsOfDirectory(atPath: dir + "/s").first { $0.hasPrefix("step-") })
        let model = dir + "/s/" + step + "/model.safetensors"
        let b = try run(["export", "half", model, dir + "/half.safetensors", "--json"])
        XCTAssertEqual(b.code, 0, b.err)
        let done = try XCTUnwrap(jsonLines(b.out).last)
        let inBytes = try XCTUnwrap(done["input_bytes"] as? Int)
        let outBytes = try XCTUnwrap(done["output_bytes"] as? Int)
        XCTAssertLessThan(Double(outBytes), 0.55 * Double(inBytes))
        XCTAssertLessThan(done["max_relative_error"] as? Double ?? 1, 1e-3)
        let f32 = try SafetensorsFile(path: model)
        let f16 = try SafetensorsFile(path: dir + "/half.safetensors")
        XCTAssertEqual(f16.entries.map(\.name), f32.entries.map(\.name))
        XCTAssertTrue(f16.entries.allSatisfy { $0.dtype == .F16 })
        for e in f32.entries {
            let x = try f32.tensor(e).toArray()
            let y = try f16.tensor(e.name).toArray()
            for (p, q) in zip(x, y) { XCTAssertEqual(p, q, accuracy: 1e-3 * Swift.max(1, abs(p))) }
        }
        // The session loads and samples with float16 weights.
        try FileManager.default.removeItem(atPath: model)
        try FileManager.default.copyItem(atPath: dir + "/half.safetensors", toPath: model)
        let c = try run(["denoise", "--checkpoint", dir + "/s", "--steps", "3", "--grid", "1x1", "--json"])
        XCTAssertEqual(c.code, 0, c.err)
        let d = try run(["export", "half", dir + "/missing.safetensors", dir + "/x.safetensors"])
        XCTAssertNotEqual(d.code, 0)
        XCTAssertEqual(d.err.split(separator: "\n").count, 1, d.err)
    }

    /// `orrery denoise --prompt` draws with the shipped text-to-shapes model and saves where a word
    /// looks; unknown words and prompts to a model without text are one-line errors.
    func testDenoiseWithAPromptAndTheCaptionCheck() throws {
        let dir = try temporaryDirectory("cli-prompt")
        let a = try run([
            "denoise", "--prompt", "a red circle", "--steps", "10", "--grid", "2x1", "--out", dir, "--attention", "red",
            "--json",
        ])
        XCTAssertEqual(a.code, 0, a.err)
        XCTAssertEqual(jsonLines(a.out).filter { $0["type"] as? String == "step" }.count, 10)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        XCTAssertEqual(files, ["attention-red.png", "final.png"])
        let b = try run(["denoise", "--prompt", "a pink circle", "--steps", "2"])
        XCTAssertNotEqual(b.code, 0)
        XCTAssertEqual(b.err.split(separator: "\n").count, 1, b.err)
        XCTAssertTrue(b.err.contains("pink"), b.err)
        let c = try run(["denoise", "--prompt", "a red circle", "--attention", "blue", "--out", dir])
        XCTAssertNotEqual(c.code, 0)
        XCTAssertTrue(c.err.contains("not in the prompt"), c.err)
        let d = try run(["eval", "text-to-image", "--per-prompt", "1", "--steps", "8", "--json"])
        XCTAssertEqual(d.code, 0, d.err)
        let lines = jsonLines(d.out)
        XCTAssertEqual(lines.filter { $0["type"] as? String == "caption" }.count, 24)
        let done = try XCTUnwrap(lines.last)
        XCTAssertEqual(done["samples"] as? Int, 24)
        XCTAssertNotNil(done["agreement"] as? Double)
        XCTAssertGreaterThan(done["classifier_colour_accuracy"] as? Double ?? 0, 0.9)
    }
}
