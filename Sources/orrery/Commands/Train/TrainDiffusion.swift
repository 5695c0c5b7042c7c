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
        try TrainDDPM.go(session, train: train, label: "ddpm")
    }

    /// Trains a diffusion session to its end (progress or JSON events, saves), then writes samples
    /// when --png is given.
    static func go(_ session: DiffusionSession, train: ImageTrainOptions, label: String) throws {
        let c = session.config
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
            lab, total: c.steps, label: label, event: { l in ["loss": mean(l)] },
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
            var images: [Tensor] = []
            var title = "\(label) samples (DDIM 50), step \(lab.step)"
            if c.text != nil {
                // One row per prompt: colour × shape captions, guidance 3.
                settings.guidance = 3
                let prompts = ["a red circle", "a blue square", "a green triangle", "a yellow star"]
                for p in prompts {
                    settings.prompt = p
                    let run = session.run(count: 8, settings: settings, seed: train.seed)
                    run.jump(to: run.stepCount)
                    images.append(run.frame.xtImage)
                }
                title += ": " + prompts.joined(separator: " / ")
            } else {
                let run = session.run(count: 16, settings: settings, seed: train.seed)
                run.jump(to: run.stepCount)
                images.append(run.frame.xtImage)
            }
            try train.writePNG(
                ImageExport.gridPNG(SampleGrid(tensor: Tensor.cat(images, dim: 0)), columns: 8, title: title))
        }
    }
}

/// `orrery train ldm`: latent diffusion on shapes — stage 1 trains a small KL autoencoder (or takes
/// a VQ autoencoder), stage 2 a UNet in its latent space, conditioned on the captions.
struct TrainLDM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ldm",
        abstract:
            "Train a text-conditioned latent diffusion model on shapes (a KL autoencoder, then a UNet in its latent space)."
    )
    @OptionGroup var train: ImageTrainOptions
    @Option(help: "Use this VQ autoencoder (a vq-prior or vqvae/vqgan session directory) instead of training a KL one.")
    var autoencoder: String?
    @Option(help: "Stage 1: KL autoencoder steps.") var aeSteps = 3000
    @Option(help: "Stage 1: latent channels.") var latentChannels = 4
    @Option(help: "Stage 1: weight of the KL term.") var klWeight: Float = 1e-4
    @Option(help: "Beta schedule: linear, scaled-linear or cosine.") var schedule: BetaSchedule = .cosine
    @Option(help: "What the UNet predicts: epsilon or v.") var prediction: PredictionType = .epsilon
    @Option(help: "Diffusion timesteps T.") var timesteps = 1000
    @Option(help: "UNet base width (a multiple of 8).") var base = 64
    @Flag(help: "No text conditioning (an unconditional latent model).") var noText = false
    @Option(help: "Fraction of captions dropped in training (classifier-free guidance's null condition).")
    var conditionDropout: Float = 0.1
    @Option(help: "Text encoder width.") var textWidth = 64
    @Option(help: "Text encoder layers.") var textLayers = 2
    @Option(help: "Training images.") var datasetSize = 8192

    func validate() throws {
        guard (1...1_000_000).contains(aeSteps) else { throw ValidationError("--ae-steps must be 1…1000000") }
        guard (1...64).contains(latentChannels) else { throw ValidationError("--latent-channels must be 1…64") }
        guard klWeight >= 0 && klWeight <= 10 else { throw ValidationError("--kl-weight must be 0…10") }
        guard (64...100_000).contains(datasetSize) else { throw ValidationError("--dataset-size must be 64…100000") }
    }

    func run() throws {
        try train.prepare()
        var c = DiffusionConfig()
        c.data = .shapes
        c.schedule = schedule
        c.prediction = prediction
        c.timesteps = timesteps
        c.base = base
        c.seed = train.seed
        c.datasetSize = datasetSize
        c.steps = 6000
        c.batch = 64
        if !noText {
            var t = TextConditioning()
            t.dropout = conditionDropout
            t.encoder.width = textWidth
            t.encoder.layers = textLayers
            c.text = t
        }
        if let v = train.steps { c.steps = v }
        if let v = train.lr { c.lr = v }
        if let v = train.batch { c.batch = v }
        let ae: LatentCodec
        do {
            if let dir = autoencoder {
                let vq: VQAutoencoder
                if let p = try? VQPriorLab.load(from: dir) {
                    vq = p.vq
                } else {
                    vq = try VQLab.load(from: dir).session.model
                }
                ae = vq
                c.latent = LatentSpace(vq: vq.config)
            } else {
                var k = KLAutoencoderConfig()
                k.latentChannels = latentChannels
                k.klWeight = klWeight
                c.latent = LatentSpace(kl: k)
                try c.validate()
                let progress = Progress(total: aeSteps, label: "autoencoder", enabled: !train.json)
                let start = Date()
                var recent: [Float] = []
                ae = try KLAutoencoderTraining.train(k, datasetSize: datasetSize, steps: aeSteps, seed: train.seed) {
                    step, rec, kl in
                    recent.append(rec)
                    if step % train.logEvery == 0 || step == aeSteps {
                        let mean = recent.reduce(0, +) / Float(max(1, recent.count))
                        recent = []
                        if train.json {
                            print(
                                JSONLine.encode([
                                    "type": "autoencoder", "step": step, "reconstruction": Double(mean),
                                    "kl": Double(kl),
                                ]))
                        }
                    }
                    progress.update(step)
                    try StandardOutput.check()
                }
                progress.finish()
                if !train.json {
                    print(String(format: "autoencoder: %d steps in %.1f s", aeSteps, Date().timeIntervalSince(start)))
                }
            }
        } catch let e as CLIError { throw e } catch { throw CLIError("\(error)") }
        let session: DiffusionSession
        do { session = try DiffusionSession(c, autoencoder: ae) } catch { throw CLIError("\(error)") }
        try TrainDDPM.go(session, train: train, label: "ldm")
    }
}

/// `orrery denoise`: step through a denoising run, printing or saving x_t and x̂_0 along the way.
struct Denoise: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sample from a trained diffusion model step by step (x_t and the predicted x̂_0 at each step).")
    @OptionGroup var common: CommonOptions
    @Option(
        help: ArgumentHelp(
            "A diffusion session directory (default: a model shipped in the binary: the text-to-shapes latent "
                + "model with --prompt, the glyph DDPM without)."))
    var checkpoint: String?
    @Option(help: "A caption to draw, e.g. \"a red circle\" (text-conditioned models).") var prompt: String?
    @Option(help: "Classifier-free guidance scale (default: 3 with a prompt; 1 is the conditional model alone).")
    var guidance: Float?
    @Option(help: "Save the cross-attention map of this prompt word (with --out), e.g. red.") var attention: String?
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
        if let g = guidance, !(g >= 0 && g <= 50) { throw ValidationError("--guidance must be 0…50, got \(g)") }
        if guidance != nil && prompt == nil { throw ValidationError("--guidance needs --prompt") }
        if let p = prompt, CaptionTokenizer.words(of: p).isEmpty {
            throw ValidationError("--prompt has no words")
        }
        if let w = attention {
            guard let p = prompt else { throw ValidationError("--attention needs --prompt") }
            guard out != nil else { throw ValidationError("--attention needs --out DIR") }
            guard CaptionTokenizer.words(of: p).contains(w.lowercased()) else {
                throw ValidationError("--attention \(w): the word is not in the prompt \"\(p)\"")
            }
        }
        let p = grid.lowercased().split(separator: "x").map { Int($0) }
        guard p.count == 2, let c = p[0], let r = p[1], (1...16).contains(c), (1...16).contains(r) else {
            throw ValidationError("--grid takes COLUMNSxROWS with 1…16 each, e.g. 4x2; got \"\(grid)\"")
        }
    }

    func run() throws {
        try common.apply()
        let session: DiffusionSession
        do {
            session = try DiffusionCheckpoint.shippedOr(checkpoint, prompt == nil ? .ddpmGlyphs : .ldmShapes)
            try session.validate(prompt: prompt)
        } catch { throw CLIError("\(error)") }
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
        settings.prompt = prompt
        settings.guidance = guidance ?? (prompt == nil ? 1 : 3)
        let run = session.run(count: cols * rows, settings: settings, seed: seed)
        // The cross-attention of the conditional passes, summed over the steps (the map is scaled).
        var lastAttention: Tensor?
        var attentionSteps = 0
        let start = Date()
        let progress = Progress(total: run.stepCount, label: "denoise", enabled: !json && !ascii)
        func save(_ k: Int) throws {
            guard let o = out else { return }
            run.predict()
            for (name, t) in [("xt", run.frame.xtImage), ("x0", run.frame.x0Image ?? run.frame.xtImage)] {
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
            if attention != nil {
                run.predict()
                if let a = run.frame.attention {
                    lastAttention = lastAttention.map { sum in noGrad { sum + a } } ?? a
                    attentionSteps += 1
                }
            }
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
                        SampleGrid(tensor: run.frame.xtImage), columns: cols, colour: TerminalArt.colourAllowed)
                    {
                        print(l)
                    }
                }
            }
            progress.update(k)
            try StandardOutput.check()
        }
        progress.finish()
        let final = SampleGrid(tensor: run.frame.xtImage)
        if let o = out {
            let title =
                "\(sampler.rawValue), \(steps) steps, seed \(seed)"
                + (prompt.map { ", \"\($0)\", guidance \(settings.guidance)" } ?? "")
            let img = ImageExport.gridPNG(final, columns: cols, title: title)
            do {
                try PNGExport.write(o + "/final.png", width: img.0, height: img.1, rgb: img.2)
                if let w = attention?.lowercased(), let a = lastAttention, let p = prompt,
                    let pos = CaptionTokenizer.position(of: w, in: p)
                {
                    let map = final.attentionOverlay(a, token: pos)
                    let png = ImageExport.gridPNG(
                        map, columns: cols,
                        title: "where \"\(w)\" looks (cross-attention, mean of \(attentionSteps) steps)")
                    try PNGExport.write(o + "/attention-\(w).png", width: png.0, height: png.1, rgb: png.2)
                }
            } catch { throw CLIError("\(error)") }
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
            if let p = prompt { print("\"\(p)\", guidance \(settings.guidance): \(session.describe)") }
            print(
                String(format: "%d images, %d steps in %.2f s", final.count, k, secs)
                    + (out.map { "; PNGs in \($0)" } ?? ""))
        }
    }
}
