import ArgumentParser
import Compute
import Foundation
import Labs
import Models
import Playground

extension DiffusionData: ExpressibleByArgument {}
extension BetaSchedule: ExpressibleByArgument {}
extension PredictionType: ExpressibleByArgument {}
extension DiffusionSampler: ExpressibleByArgument {}

/// `orrery train ddpm`: a pixel-space DDPM.
struct TrainDDPM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ddpm", abstract: "Train a pixel-space DDPM (UNet, epsilon or v prediction) on glyphs or shapes.")
    @OptionGroup var train: ImageTrainOptions
    @Option(help: "Data: glyphs (16×16 grey) or shapes (32×32 colour).") var data: DiffusionData = .glyphs
    @Option(help: "Beta schedule: linear, scaled-linear or cosine.") var schedule: BetaSchedule = .cosine
    @Option(help: "What the UNet predicts: epsilon or v.") var prediction: PredictionType = .epsilon
    @Option(help: "Diffusion timesteps T.") var timesteps = 1000
    @Option(help: "UNet base width (a multiple of 8).") var base = 32

    func run() throws {
        try train.prepare()
        var c = DiffusionConfig()
        c.data = data
        c.schedule = schedule
        c.prediction = prediction
        c.timesteps = timesteps
        c.base = base
        c.seed = train.seed
        if let v = train.steps { c.steps = v }
        if let v = train.lr { c.lr = v }
        if let v = train.batch { c.batch = v }
        let session: DiffusionSession
        do { session = try DiffusionSession(c) } catch { throw CLIError("\(error)") }
        let lab = DiffusionLab(session: session)
        if train.json {
            print(
                JSONLine.encode([
                    "type": "start", "model": session.describe, "parameters": session.model.parameterCount,
                    "steps": c.steps,
                ]))
        } else {
            print("\(session.describe): \(session.model.parameterCount) parameters, \(c.steps) steps, batch \(c.batch)")
        }
        let window = train.logEvery
        func mean(_ l: DiffusionLab) -> Double {
            let w = l.session.losses.suffix(window)
            return Double(w.reduce(0, +)) / Double(max(1, w.count))
        }
        let secs = try train.run(
            lab, total: c.steps, label: "ddpm", event: { l in ["loss": mean(l)] },
            line: { l in String(format: "loss %.4f", mean(l)) })
        if train.json {
            print(JSONLine.encode(["type": "done", "step": lab.step, "seconds": secs, "loss": mean(lab)]))
        } else {
            print(String(format: "%d steps in %.1f s, loss %.4f", lab.step, secs, mean(lab)))
            if let o = train.out { print("saved to \(o)") }
        }
        if train.png != nil {
            var settings = DenoiseSettings()
            settings.steps = 50
            let run = session.run(count: 16, settings: settings, seed: train.seed)
            run.jump(to: run.stepCount)
            try train.writePNG(
                ImageExport.gridPNG(
                    SampleGrid(tensor: run.frame.xt), columns: 8, title: "DDPM samples (DDIM 50), step \(lab.step)"))
        }
    }
}

/// `orrery denoise`: step through a denoising run, printing or saving x_t and x̂_0 along the way.
struct Denoise: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sample from a trained diffusion model step by step (x_t and the predicted x̂_0 at each step).")
    @OptionGroup var common: CommonOptions
    @Option(help: "A diffusion session directory (default: the glyph DDPM shipped in the binary).")
    var checkpoint: String?
    @Option(help: "Sampler: ddpm (ancestral) or ddim.") var sampler: DiffusionSampler = .ddim
    @Option(help: "Sampling steps.") var steps = 50
    @Option(help: "DDIM's eta (0: deterministic).") var eta = 0.0
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Grid as COLUMNSxROWS.") var grid = "4x2"
    @Option(help: "Save x_t and x̂_0 as PNGs every K steps (with --out).") var pngEvery: Int?
    @Option(help: "Directory for the PNGs.") var out: String?
    @Flag(help: "Print x_t at each saved step (and the final images) as terminal art.") var ascii = false
    @Flag(help: "JSON lines: a step event per step, then done.") var json = false

    func validate() throws {
        guard steps >= 1 && steps <= 10_000 else { throw ValidationError("--steps must be 1…10000, got \(steps)") }
        guard eta >= 0 && eta <= 10 else { throw ValidationError("--eta must be 0…10, got \(eta)") }
        if let k = pngEvery, k < 1 { throw ValidationError("--png-every must be ≥ 1") }
        if pngEvery != nil && out == nil { throw ValidationError("--png-every needs --out DIR") }
        let p = grid.lowercased().split(separator: "x").map { Int($0) }
        guard p.count == 2, let c = p[0], let r = p[1], (1...16).contains(c), (1...16).contains(r) else {
            throw ValidationError("--grid takes COLUMNSxROWS with 1…16 each, e.g. 4x2; got \"\(grid)\"")
        }
    }

    func run() throws {
        try common.apply()
        let session: DiffusionSession
        do { session = try DiffusionCheckpoint.shippedOr(checkpoint) } catch { throw CLIError("\(error)") }
        let p = grid.lowercased().split(separator: "x").compactMap { Int($0) }
        let (cols, rows) = (p[0], p[1])
        if let o = out {
            do { try FileManager.default.createDirectory(atPath: o, withIntermediateDirectories: true) } catch {
                throw CLIError("cannot create \(o): \(error.localizedDescription)")
            }
        }
        var settings = DenoiseSettings()
        settings.sampler = sampler
        settings.steps = steps
        settings.eta = eta
        let run = session.run(count: cols * rows, settings: settings, seed: seed)
        let start = Date()
        let progress = Progress(total: run.stepCount, label: "denoise", enabled: !json && !ascii)
        func save(_ k: Int) throws {
            guard let o = out else { return }
            let (x0, _) = run.predict()
            for (name, t) in [("xt", run.frame.xt), ("x0", x0)] {
                let img = ImageExport.gridPNG(
                    SampleGrid(tensor: t), columns: cols, title: "\(name) at step \(k) (t = \(run.frame.t))")
                do {
                    try PNGExport.write(
                        o + String(format: "/step%04d-%@.png", k, name), width: img.0, height: img.1, rgb: img.2)
                } catch { throw CLIError("\(error)") }
            }
        }
        var k = 0
        if let e = pngEvery, k % e == 0 { try save(0) }
        while !run.isFinished {
            run.step()
            k += 1
            if json {
                print(
                    JSONLine.encode([
                        "type": "step", "step": k, "t": run.frame.t, "change": run.stepChanges.last ?? 0,
                    ]))
            }
            if let e = pngEvery, k % e == 0 || run.isFinished {
                if !run.isFinished { try save(k) }
                if ascii {
                    print("step \(k), t = \(run.frame.t)")
                    for l in ImageExport.text(
                        SampleGrid(tensor: run.frame.xt), columns: cols, colour: TerminalArt.colourAllowed)
                    {
                        print(l)
                    }
                }
            }
            progress.update(k)
            try StandardOutput.check()
        }
        progress.finish()
        let final = SampleGrid(tensor: run.frame.xt)
        if let o = out {
            let img = ImageExport.gridPNG(
                final, columns: cols, title: "\(sampler.rawValue), \(steps) steps, seed \(seed)")
            do { try PNGExport.write(o + "/final.png", width: img.0, height: img.1, rgb: img.2) } catch {
                throw CLIError("\(error)")
            }
        }
        let secs = Date().timeIntervalSince(start)
        if json {
            print(
                JSONLine.encode([
                    "type": "done", "steps": k, "seconds": secs, "images": final.count,
                    "samples_per_s": Double(final.count) / max(secs, 1e-9),
                ]))
        } else {
            if ascii || out == nil {
                for l in ImageExport.text(final, columns: cols, colour: TerminalArt.colourAllowed) { print(l) }
            }
            print(
                String(format: "%d images, %d steps in %.2f s", final.count, k, secs)
                    + (out.map { "; PNGs in \($0)" } ?? ""))
        }
    }
}
