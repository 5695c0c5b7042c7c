import ArgumentParser
import Compute
import Foundation
import Labs
import Models
import Playground

extension GANData: ExpressibleByArgument {}
extension GANNorm: ExpressibleByArgument {}
extension VQData: ExpressibleByArgument {}

/// Options every image-lab training command shares: length, saving, output.
struct ImageTrainOptions: ParsableArguments {
    @OptionGroup var common: CommonOptions
    @Option(help: "Training steps (generator steps for the GANs).") var steps: Int?
    @Option(help: "Learning rate (Adam).") var lr: Float?
    @Option(help: "Batch size.") var batch: Int?
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Session directory to save into (config.json and model.safetensors, atomically).") var out: String?
    @Flag(help: "Replace a session already saved in --out.") var force = false
    @Option(help: "Save every N steps (with --out).") var checkpointEvery: Int?
    @Option(help: "Report (and probe) every N steps.") var logEvery = 50
    @Option(help: "Write the final view as a PNG.") var png: String?
    @Flag(help: "Print JSON lines (start, step events, done).") var json = false

    func validate() throws {
        if let s = steps, !(s >= 1 && s <= 10_000_000) { throw ValidationError("--steps must be 1…10000000, got \(s)") }
        if let b = batch, !(b >= 1 && b <= 4096) { throw ValidationError("--batch must be 1…4096, got \(b)") }
        if let l = lr, !(l > 0 && l <= 1) { throw ValidationError("--lr must be in (0, 1], got \(l)") }
        if let e = checkpointEvery, e < 1 { throw ValidationError("--checkpoint-every must be ≥ 1, got \(e)") }
        guard logEvery >= 1 && logEvery <= 1_000_000 else { throw ValidationError("--log-every must be ≥ 1") }
    }

    /// Runs a lab to its end: progress or JSON step events, periodic and final saves, Ctrl-C stops at a
    /// step boundary and saves. `event` describes the lab at a logged step; `line` is the text form.
    func run<L: SteppedSession>(
        _ lab: L, total: Int, label: String, event: (L) -> [String: Any], line: (L) -> String
    ) throws -> Double {
        let lock: SessionDirectory.Lock?
        do { lock = try out.map { try SessionDirectory.lock($0) } } catch let e as CheckpointError {
            throw CLIError(e.description)
        }
        defer { withExtendedLifetime(lock) {} }
        installInterruptHandler()
        let progress = Progress(total: total, label: label, enabled: !json)
        let start = Date()
        var lastSave: Int?
        func save() throws {
            guard let o = out else { return }
            do { try lab.save(to: o) } catch { throw CLIError("\(error)") }
            lastSave = lab.step
            if json { print(JSONLine.encode(["type": "saved", "step": lab.step, "directory": o])) }
        }
        while !lab.isFinished {
            do { try lab.advance() } catch let e as SessionError {
                progress.finish()
                throw CLIError(
                    e.reason + (lastSave.flatMap { s in out.map { "; the save of step \(s) in \($0) is kept" } } ?? ""))
            }
            let s = lab.step
            if s % logEvery == 0 || lab.isFinished {
                if json {
                    var o = event(lab)
                    o["type"] = "step"
                    o["step"] = s
                    print(JSONLine.encode(o))
                } else {
                    progress.update(s, detail: line(lab))
                }
            } else if !json {
                progress.update(s)
            }
            if let e = checkpointEvery, s % e == 0 { try save() }
            if interruptRequested != 0 || StandardOutput.failed { break }
        }
        progress.finish()
        try StandardOutput.check()
        if lastSave != lab.step { try save() }
        if interruptRequested != 0 {
            throw CLIError("interrupted at step \(lab.step)" + (out.map { "; saved to \($0)" } ?? ""))
        }
        return Date().timeIntervalSince(start)
    }

    func prepare() throws {
        try common.apply()
        if let o = out {
            do { try SessionDirectory.prepareNew(o, replace: force) } catch let e as CheckpointError {
                throw CLIError(e.description)
            }
        }
    }

    /// Draws and writes the figure only when --png was given.
    func writePNG(_ draw: @autoclosure () -> (Int, Int, [UInt8])) throws {
        guard let p = png else { return }
        let image = draw()
        do { try PNGExport.write(p, width: image.0, height: image.1, rgb: image.2) } catch {
            throw CLIError("\(error)")
        }
    }
}

/// `orrery train gan|wgan|wgan-gp`.
struct GANTrainOptions: ParsableArguments {
    @OptionGroup var train: ImageTrainOptions
    @Option(help: "Data: ring8, grid25, swiss-roll, two-moons (2-D points), glyphs or shapes (images).")
    var data: GANData = .ring8
    @Option(help: "MLP width (2-D) or base channel count nf (images).") var width: Int?
    @Option(help: "MLP hidden layers (2-D data).") var depth: Int?
    @Option(help: "Noise dimension.") var latent: Int?
    @Option(help: "Normalisation in the conv nets: batch, group or none.") var norm: GANNorm?
    @Option(help: "Critic steps per generator step.") var criticSteps: Int?
    @Option(help: "Glyph image size (16 or 28).") var imageSize: Int?
    @Option(help: "WGAN weight-clipping bound.") var clip: Float?
    @Option(name: .customLong("lambda"), help: "WGAN-GP gradient-penalty weight.") var lambda: Float?

    func run(_ objective: GANObjective) throws {
        try train.prepare()
        var c = GANConfig.preset(objective, data: data)
        c.seed = train.seed
        if let v = train.steps { c.steps = v }
        if let v = train.lr { c.lr = v }
        if let v = train.batch { c.batch = v }
        if let v = width { c.width = v }
        if let v = depth { c.depth = v }
        if let v = latent { c.latent = v }
        if let v = norm { c.norm = v }
        if let v = criticSteps { c.criticSteps = v }
        if let v = imageSize { c.imageSize = v }
        if let v = clip { c.clip = v }
        if let v = lambda { c.lambda = v }
        let lab: GANLab
        do { lab = try GANLab(c) } catch { throw CLIError("\(error)") }
        lab.probeEvery = train.logEvery
        lab.gridSize = 48
        let s = lab.session
        let params = s.parameterCount
        if train.json {
            print(
                JSONLine.encode([
                    "type": "start", "objective": objective.rawValue, "data": c.data.rawValue, "model": s.describe,
                    "generator_parameters": params.generator, "critic_parameters": params.critic, "steps": c.steps,
                ]))
        } else {
            print(
                "\(objective.rawValue) on \(c.data.rawValue): \(s.describe); G \(params.generator), "
                    + "D \(params.critic) parameters; \(c.steps) steps × \(c.criticSteps) critic steps, batch \(c.batch)"
            )
        }
        func event(_ l: GANLab) -> [String: Any] {
            var o: [String: Any] = [
                "loss_d": Double(l.session.lossD.last ?? .nan), "loss_g": Double(l.session.lossG.last ?? .nan),
            ]
            if let h = l.session.history.last, h.step == l.step {
                o["critic_estimate"] = h.estimate
                o["exact_w1"] = h.exact
                o["modes_hit"] = h.modes
                o["high_quality"] = h.quality
            }
            return o
        }
        func line(_ l: GANLab) -> String {
            var t = String(format: "D %.3f G %.3f", l.session.lossD.last ?? .nan, l.session.lossG.last ?? .nan)
            if let h = l.session.history.last {
                t += String(format: " · estimate %.3f exact W1 %.3f · modes %d", h.estimate, h.exact, h.modes)
            }
            return t
        }
        let secs = try train.run(lab, total: c.steps, label: objective.rawValue, event: event, line: line)
        var done = event(lab)
        done["type"] = "done"
        done["step"] = lab.step
        done["seconds"] = secs
        done["ms_per_step"] = secs * 1000 / Double(max(1, lab.step))
        if !c.data.isImage, let h = lab.session.history.last {
            done["modes_total"] = c.data.plane?.modes.count ?? 0
            done["high_quality"] = h.quality
        }
        if train.json {
            print(JSONLine.encode(done))
        } else {
            print(
                String(
                    format: "%d steps in %.1f s (%.1f ms/step)", lab.step, secs, secs * 1000 / Double(max(1, lab.step)))
            )
            if let h = lab.session.history.last {
                print(
                    String(
                        format: "critic estimate %.3f, exact W1 %.3f, modes hit %d of %d, high-quality %.0f%%",
                        h.estimate, h.exact, h.modes, c.data.plane?.modes.count ?? 0, h.quality * 100))
            }
            if let o = train.out { print("saved to \(o)") }
        }
        var snap = GANSnapshot()
        lab.publish(into: &snap)
        let title = "\(objective.rawValue) on \(c.data.rawValue), step \(lab.step)"
        if let p = snap.plane {
            try train.writePNG(ImageExport.planePNG(p, title: title))
        } else {
            try train.writePNG(
                ImageExport.gridPNG(snap.samples, columns: 8, scale: c.imageSize <= 16 ? 4 : 3, title: title))
        }
        if let p = train.png, !train.json { print("view written to \(p)") }
    }
}

struct TrainGAN: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gan", abstract: "Train a GAN (non-saturating loss) on 2-D points or images.")
    @OptionGroup var options: GANTrainOptions
    func run() throws { try options.run(.gan) }
}

struct TrainWGAN: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wgan", abstract: "Train a WGAN (weight clipping); its critic estimates W1.")
    @OptionGroup var options: GANTrainOptions
    func run() throws { try options.run(.wgan) }
}

struct TrainWGANGP: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wgan-gp", abstract: "Train a WGAN-GP (gradient penalty through gradients of gradients).")
    @OptionGroup var options: GANTrainOptions
    func run() throws { try options.run(.wganGP) }
}

/// `orrery train vqvae|vqgan`.
struct VQTrainOptions: ParsableArguments {
    @OptionGroup var train: ImageTrainOptions
    @Option(help: "Data: glyphs (16×16 grey) or shapes (32×32 colour).") var data: VQData = .shapes
    @Option(help: "Encoder/decoder channels.") var width: Int?
    @Option(help: "Codebook size K.") var codes: Int?
    @Option(help: "Code dimension D.") var codeDim: Int?
    @Option(help: "Commitment weight β.") var beta: Float?
    @Flag(help: "Train the codebook with the codebook loss instead of EMA updates.") var noEma = false
    @Flag(help: "Never restart dead codes.") var noRestart = false
    @Option(help: "Steps without use after which a code is dead (and restarted).") var deadAfter: Int?
    @Option(help: "VQGAN: the step the discriminator starts at.") var discStart: Int?

    func run(_ mode: VQMode) throws {
        try train.prepare()
        var c = VQConfig.preset(mode, data: data)
        c.seed = train.seed
        if let v = train.steps { c.steps = v }
        if let v = train.lr { c.lr = v }
        if let v = train.batch { c.batch = v }
        if let v = width { c.width = v }
        if let v = codes { c.codes = v }
        if let v = codeDim { c.codeDim = v }
        if let v = beta { c.beta = v }
        if let v = deadAfter { c.deadAfter = v }
        if let v = discStart { c.discStart = v }
        c.ema = !noEma
        c.restart = !noRestart
        let lab: VQLab
        do { lab = try VQLab(c) } catch { throw CLIError("\(error)") }
        lab.probeEvery = train.logEvery
        let s = lab.session
        if train.json {
            print(
                JSONLine.encode([
                    "type": "start", "mode": mode.rawValue, "data": c.data.rawValue, "model": s.describe,
                    "parameters": s.model.parameterCount, "steps": c.steps,
                ]))
        } else {
            print("\(s.describe): \(s.model.parameterCount) parameters, \(c.steps) steps, batch \(c.batch)")
        }
        func event(_ l: VQLab) -> [String: Any] {
            let q = l.session.model.quantizer
            let window = l.session.recLoss.suffix(train.logEvery)
            return [
                "rec_loss": Double(window.reduce(0, +)) / Double(max(1, window.count)),
                "perplexity": l.session.perplexity.last ?? 0,
                "codes_used": 1 - q.deadFraction(after: c.deadAfter),
                "dead_fraction": q.deadFraction(after: c.deadAfter),
                "restarts": q.restarts, "adaptive_weight": Double(l.session.adaptiveWeight.last ?? 0),
            ]
        }
        func line(_ l: VQLab) -> String {
            let q = l.session.model.quantizer
            return String(
                format: "rec %.4f · perplexity %.1f · dead %.0f%% · restarts %d", l.session.recLoss.last ?? .nan,
                l.session.perplexity.last ?? 0, q.deadFraction(after: c.deadAfter) * 100, q.restarts)
        }
        let secs = try train.run(lab, total: c.steps, label: mode.rawValue, event: event, line: line)
        let u = s.usage()
        var done = event(lab)
        done["type"] = "done"
        done["step"] = lab.step
        done["seconds"] = secs
        done["codes_used_eval"] = u.used
        done["perplexity_eval"] = u.perplexity
        if train.json {
            print(JSONLine.encode(done))
        } else {
            print(
                String(
                    format:
                        "%d steps in %.1f s; over 512 images: %.0f%% of %d codes used, perplexity %.1f, restarts %d",
                    lab.step, secs, u.used * 100, c.codes, u.perplexity, s.model.quantizer.restarts))
            if let o = train.out { print("saved to \(o)") }
        }
        var snap = VQSnapshot()
        lab.publish(into: &snap)
        try train.writePNG(ImageExport.vqPNG(snap, title: "\(s.describe), step \(lab.step)"))
        if let p = train.png, !train.json { print("view written to \(p)") }
    }
}

struct TrainVQVAE: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vqvae", abstract: "Train a VQ-VAE (codebook usage, perplexity, dead-code restart).")
    @OptionGroup var options: VQTrainOptions
    func run() throws { try options.run(.vqvae) }
}

struct TrainVQGAN: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vqgan", abstract: "Train a VQGAN (VQ autoencoder + patch discriminator, adaptive weight).")
    @OptionGroup var options: VQTrainOptions
    func run() throws { try options.run(.vqgan) }
}

/// `orrery train vq-prior --vq DIR`: a GPT over a trained VQ model's codes.
struct TrainVQPrior: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vq-prior", abstract: "Train a GPT prior over the code indices of a trained VQ model.")
    @OptionGroup var train: ImageTrainOptions
    @Option(help: "The VQ-VAE/VQGAN session directory to learn the codes of.") var vq: String
    @Option(help: "Transformer layers.") var layers = 2
    @Option(help: "Transformer width.") var width = 64
    @Option(help: "Attention heads.") var heads = 4

    func run() throws {
        try train.prepare()
        let vqSession: VQSession
        do { vqSession = try VQLab.loadSession(ImageCheckpoint.directory(vq)) } catch { throw CLIError("\(error)") }
        var c = VQPriorConfig()
        c.vq = vqSession.config
        c.layers = layers
        c.width = width
        c.heads = heads
        c.seed = train.seed
        if let v = train.steps { c.steps = v }
        if let v = train.lr { c.lr = v }
        if let v = train.batch { c.batch = v }
        let session: VQPriorSession
        do { session = try VQPriorSession(c, vq: vqSession.model) } catch { throw CLIError("\(error)") }
        let lab = VQPriorLab(session: session)
        lab.sampleEvery = max(train.logEvery, 100)
        if train.json {
            print(
                JSONLine.encode([
                    "type": "start", "model": session.describe, "parameters": session.prior.parameterCount,
                    "steps": c.steps,
                ]))
        } else {
            print("\(session.describe): \(session.prior.parameterCount) parameters, \(c.steps) steps")
        }
        let secs = try train.run(
            lab, total: c.steps, label: "vq-prior",
            event: { l in ["loss": Double(l.session.losses.last ?? .nan)] },
            line: { l in String(format: "loss %.3f", l.session.losses.last ?? .nan) })
        let evalLoss = Double(session.evalLoss())
        let uniform = Foundation.log(Double(c.vq.codes))
        if train.json {
            print(
                JSONLine.encode([
                    "type": "done", "step": lab.step, "seconds": secs, "loss": evalLoss, "uniform_loss": uniform,
                ]))
        } else {
            print(
                String(
                    format: "%d steps in %.1f s; %.3f nats per code (uniform over %d codes: %.3f)", lab.step, secs,
                    evalLoss, c.vq.codes, uniform))
            if let o = train.out { print("saved to \(o)") }
        }
        let grid = SampleGrid(tensor: session.sample(16, seed: train.seed))
        try train.writePNG(ImageExport.gridPNG(grid, columns: 8, title: "prior samples, step \(lab.step)"))
    }
}
