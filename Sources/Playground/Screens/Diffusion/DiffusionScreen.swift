// The diffusion lab's step-through: x_t and the predicted x̂_0 side by side for a batch from the
// shipped text-to-shapes latent model (m: the glyph DDPM; or a session directory). → steps, ← goes
// back through the kept history; at any step b branches with another sampler / η, g/G with less or
// more guidance, p with another prompt; Tab switches branches, w shows where each prompt word looks
// (cross-attention), e exports. Each step is one or two UNet evaluations (milliseconds to tens of
// milliseconds), so it runs on the UI thread when asked.
import Compute
import Foundation
import Labs
import Models
import TerminalUI

extension LabID {
    public static let diffusion = "diffusion"
}

public final class DiffusionScreen: Screen {
    public let title = "diffusion lab"
    /// The two shipped models (or a session directory's): m switches.
    var model: DiffusionCheckpoint.Shipped
    let checkpoint: String?
    var session: DiffusionSession?
    var run: DenoisingRun?
    var failure: String?
    /// The settings a new branch takes, in turn.
    static let variants: [(String, DiffusionSampler, Double)] = [
        ("DDIM η=0", .ddim, 0), ("DDIM η=0.5", .ddim, 0.5), ("DDPM", .ddpm, 0),
    ]
    static let guidanceSteps: [Float] = [0, 1, 1.5, 2, 3, 4, 5, 7.5, 10]
    var variant = 0
    /// Editing a prompt (typed keys are text; Enter branches with it, Esc cancels).
    var editing = false
    var field = TextField(maxCharacters: 80)
    /// Right pane: x̂_0, or where prompt word `word` looks.
    var word: Int?

    public init(checkpoint: String? = nil, model: DiffusionCheckpoint.Shipped = .ldmShapes) {
        self.checkpoint = checkpoint
        self.model = model
        load()
    }

    func load() {
        do {
            let s = try DiffusionCheckpoint.shippedOr(checkpoint, model)
            session = s
            var settings = DenoiseSettings()
            if s.config.text != nil {
                settings.prompt = "a red circle"
                settings.guidance = 3
            }
            let r = s.run(count: 8, settings: settings, seed: 1)
            r.predict()
            run = r
            failure = nil
        } catch {
            session = nil
            run = nil
            failure = "\(error)"
        }
        variant = 0
        word = nil
    }

    static func top(_ app: App) -> DiffusionScreen? { app.top as? DiffusionScreen }

    /// Opens the lab where it was left (Esc goes back home; the run and its branches stay).
    static func open(_ app: App) { app.push(app.kept(LabID.diffusion) { DiffusionScreen() }) }

    /// The home list's line: where the kept run stands, if the lab was opened.
    static func homeStatus(_ app: App) -> String {
        guard let s = app.keptScreens[LabID.diffusion] as? DiffusionScreen, let r = s.run else {
            return "text-to-shapes latent model and glyph DDPM, shipped"
        }
        return "step \(r.position)/\(r.stepCount), branch \(r.current + 1)/\(r.branches.count)"
    }

    public var capturesText: Bool { editing }

    public func input(_ key: Key, app: App) -> Bool {
        if field.edit(key) { return true }
        switch key {
        case .escape:
            editing = false
            app.status = "prompt unchanged"
        case .enter:
            let text = field.submit().trimmingCharacters(in: .whitespaces)
            editing = false
            guard let s = session else { return true }
            do {
                try s.validate(prompt: text.isEmpty ? nil : text)
                rebranch(app) { $0.prompt = text.isEmpty ? nil : text }
                word = nil
            } catch CaptionTokenizer.TokenizeError.unknownWord(let w, _) {
                app.status = "\"\(w)\" unknown: use colours, shapes, small/large, places"
            } catch { app.status = "\(error)" }
        default: return false
        }
        return true
    }

    /// Branches at the current step with changed settings.
    func rebranch(_ app: App, _ change: (inout DenoiseSettings) -> Void) {
        guard let r = run else { return }
        guard !r.isFinished else {
            app.status = "no steps left to change: go back (Left, Home), then branch"
            return
        }
        let old = r.branch.settings
        var s = old
        change(&s)
        moved { $0.branch(with: s) }
        // Only what changed, so the status line keeps it at 80 columns.
        var what: [String] = []
        if s.sampler != old.sampler || s.eta != old.eta {
            what.append(
                DiffusionScreen.variants.first { $0.1 == s.sampler && (s.sampler == .ddpm || $0.2 == s.eta) }?.0
                    .replacingOccurrences(of: "η", with: "eta") ?? s.sampler.rawValue)
        }
        if s.guidance != old.guidance { what.append(String(format: "guidance %.1f", Double(s.guidance))) }
        if s.prompt != old.prompt { what.append(s.prompt.map { "\"\($0)\"" } ?? "no prompt") }
        app.status = "branch \(r.branches.count): " + (what.isEmpty ? "same settings" : what.joined(separator: ", "))
    }

    static func describe(_ s: DenoiseSettings, ascii: Bool) -> String {
        let name =
            variants.first { $0.1 == s.sampler && (s.sampler == .ddpm || $0.2 == s.eta) }?.0
            ?? "\(s.sampler.rawValue) η=\(s.eta)"
        var out = ascii ? name.replacingOccurrences(of: "η", with: "eta") : name
        if let p = s.prompt { out += String(format: ", \"%@\", guidance %.1f", p, Double(s.guidance)) }
        return out
    }

    public var keyTable: [KeyBinding] {
        [
            KeyBinding([.right, .char("l")], "→ l", ascii: "Right l", "one denoising step", footer: true) { app in
                DiffusionScreen.top(app)?.moved { $0.step() }
            },
            KeyBinding([.left, .char("h")], "← h", ascii: "Left h", "one step back (history kept)", footer: true) {
                app in
                DiffusionScreen.top(app)?.moved { $0.back() }
            },
            KeyBinding([.end], "End", "run to the end") { app in
                DiffusionScreen.top(app)?.moved { $0.jump(to: $0.stepCount) }
            },
            KeyBinding([.home], "Home", "back to pure noise") { app in
                DiffusionScreen.top(app)?.run?.jump(to: 0)
            },
            KeyBinding([.char("b")], "b", "branch here with the next sampler (DDIM eta 0, eta 0.5, DDPM)", footer: true)
            {
                app in
                guard let me = DiffusionScreen.top(app) else { return }
                me.variant = (me.variant + 1) % DiffusionScreen.variants.count
                let (_, sampler, eta) = DiffusionScreen.variants[me.variant]
                me.rebranch(app) {
                    $0.sampler = sampler
                    $0.eta = eta
                }
            },
            KeyBinding([.char("g")], "g", "branch here with less guidance") { app in
                DiffusionScreen.top(app)?.changeGuidance(app, up: false)
            },
            KeyBinding([.char("G")], "G", "branch here with more guidance", footer: true) { app in
                DiffusionScreen.top(app)?.changeGuidance(app, up: true)
            },
            KeyBinding([.char("p")], "p", "branch here with another prompt", footer: true) { app in
                guard let me = DiffusionScreen.top(app), let r = me.run else { return }
                guard me.session?.config.text != nil else {
                    app.status = "this model takes no prompt: m switches to the text-to-shapes model"
                    return
                }
                guard !r.isFinished else {
                    app.status = "no steps left to change: go back (Left, Home), then branch"
                    return
                }
                me.field = TextField(maxCharacters: 80)
                me.editing = true
                app.status = "Enter: branch, Esc: keep"
            },
            KeyBinding([.char("w")], "w", "right pane: where each prompt word looks, or the prediction") { app in
                DiffusionScreen.top(app)?.nextWord(app)
            },
            KeyBinding([.tab], "Tab", "next branch", footer: true) { app in
                DiffusionScreen.top(app)?.moved { $0.select(branch: ($0.current + 1) % $0.branches.count) }
            },
            KeyBinding([.char("m")], "m", "switch model: text-to-shapes latent model / glyph DDPM") { app in
                guard let me = DiffusionScreen.top(app), me.checkpoint == nil else { return }
                me.model = me.model == .ldmShapes ? .ddpmGlyphs : .ldmShapes
                me.load()
                app.status = me.failure ?? (me.model == .ldmShapes ? "text-to-shapes model" : "glyph DDPM (no prompt)")
            },
            KeyBinding(
                [.char("e")], "e", "export x_t and the prediction now, and the branch's filmstrip, as PNG", footer: true
            ) {
                app in
                DiffusionScreen.top(app)?.export(app)
            },
        ]
    }

    func changeGuidance(_ app: App, up: Bool) {
        guard let r = run, session?.config.text != nil, r.branch.settings.prompt != nil else {
            app.status = "guidance needs a prompt (p; m switches to the text-to-shapes model)"
            return
        }
        let g = r.branch.settings.guidance
        let steps = DiffusionScreen.guidanceSteps
        let next = up ? steps.first { $0 > g + 1e-4 } : steps.last { $0 < g - 1e-4 }
        guard let v = next else {
            app.status = String(format: "guidance is already %.1f", Double(g))
            return
        }
        rebranch(app) { $0.guidance = v }
    }

    func nextWord(_ app: App) {
        guard let r = run, let p = r.branch.settings.prompt else {
            app.status = "attention maps need a prompt"
            return
        }
        let words = CaptionTokenizer.words(of: p)
        let n = (word ?? -1) + 1
        word = n < words.count ? n : nil
        app.status = word.map { "right pane: where \"\(words[$0])\" looks" } ?? "right pane: predicted x0"
    }

    /// Changes the run's position, then asks the model at the new frame (render only reads).
    func moved(_ change: (DenoisingRun) -> Void) {
        guard let r = run else { return }
        change(r)
        if !r.isFinished { r.predict() }
    }

    func export(_ app: App) {
        guard let r = run else { return }
        r.predict()
        let x0 = r.frame.x0Image ?? r.frame.xtImage
        let base = app.exportDirectory + "/orrery-denoise-branch\(r.current + 1)-step\(r.position)"
        do {
            let xt = ImageExport.gridPNG(
                SampleGrid(tensor: r.frame.xtImage), columns: 8, title: "x_t, step \(r.position), t = \(r.frame.t)")
            try PNGExport.write(base + "-xt.png", width: xt.0, height: xt.1, rgb: xt.2)
            let xh = ImageExport.gridPNG(
                SampleGrid(tensor: x0), columns: 8, title: "predicted x0 at step \(r.position)")
            try PNGExport.write(base + "-x0.png", width: xh.0, height: xh.1, rgb: xh.2)
            // Filmstrip: the first image of every kept frame of this branch, left to right.
            let frames = r.branch.frames
            let side = frames[0].xtImage.shape[2]
            let ch = frames[0].xtImage.shape[1]
            var px: [Float] = []
            for f in frames { px += Array(f.xtImage.toArray()[0..<(ch * side * side)]) }
            let strip = SampleGrid(
                count: frames.count, channels: ch, side: side,
                pixels: px.map { Swift.min(1, Swift.max(0, ($0 + 1) / 2)) })
            let fs = ImageExport.gridPNG(
                strip, columns: Swift.min(frames.count, 26), scale: 2, title: "filmstrip, branch \(r.current + 1)")
            try PNGExport.write(base + "-filmstrip.png", width: fs.0, height: fs.1, rgb: fs.2)
            app.status = "wrote \(base)-xt.png, -x0.png, -filmstrip.png"
        } catch { app.status = "\(error)" }
    }

    public func render(_ area: Rect, into buf: inout Buffer, _ ctx: RenderContext) {
        guard let r = run, let s = session else {
            let inner = buf.box(area, title: "diffusion lab", glyphs: ctx.glyphs, focused: true)
            buf.text(
                inner.x + 1, inner.y + 1, failure ?? "no model", Style(fg: ctx.theme.error), maxWidth: inner.width - 2)
            return
        }
        let (top, bottom) = area.splitTop(area.height - min(9, area.height / 3))
        let cols = top.columns([1, 1])
        let f = r.frame
        let tText = f.t >= 0 ? "t=\(f.t)" : "done"
        let sep = ctx.pick(" · ", " | ")
        let title =
            cols[0].width >= 34
            ? "x_t\(sep)step \(r.position)/\(r.stepCount)\(sep)\(tText)" : "x_t \(r.position)/\(r.stepCount) \(tText)"
        let left = buf.box(cols[0], title: title, glyphs: ctx.glyphs, focused: true)
        drawGrid(SampleGrid(tensor: f.xtImage), left, &buf, ctx, maxColumns: 4, atLeast: 4)
        let words = r.branch.settings.prompt.map { CaptionTokenizer.words(of: $0) } ?? []
        if let w = word, w < words.count {
            // Where the word looks: the cross-attention of this frame's conditional pass (of the last
            // step once finished) over x̂_0.
            let right = buf.box(cols[1], title: "where \"\(words[w])\" looks (cross-attention)", glyphs: ctx.glyphs)
            let seen = r.branch.frames[...r.position].last { $0.attention != nil }
            if let a = seen?.attention {
                let base = SampleGrid(tensor: f.x0Image ?? f.xtImage)
                drawGrid(base.attentionOverlay(a, token: w), right, &buf, ctx, maxColumns: 4, atLeast: 4)
            }
        } else {
            let right = buf.box(cols[1], title: "predicted x0", glyphs: ctx.glyphs)
            if let x0 = f.x0Image {
                drawGrid(SampleGrid(tensor: x0), right, &buf, ctx, maxColumns: 4, atLeast: 4)
            } else if r.isFinished {
                buf.text(right.x + 1, right.y, "finished: x_t is the sample", Style(fg: ctx.theme.dim))
            }
        }
        let info = buf.box(
            bottom, title: "branch \(r.current + 1)/\(r.branches.count) · \(s.title)", glyphs: ctx.glyphs)
        if editing {
            InputLine(prompt: "prompt> ", field: field, active: true).render(
                Rect(x: info.x + 1, y: info.y, width: info.width - 2, height: 1), into: &buf, ctx.widgets)
        } else {
            var line =
                DiffusionScreen.describe(r.branch.settings, ascii: !ctx.glyphs.unicode) + ", \(r.stepCount) steps"
            if let p = r.branch.parent { line += ", from \(p.branch + 1) at \(p.frame)" }
            buf.text(info.x + 1, info.y, line, Style(fg: ctx.theme.text), maxWidth: info.width - 2)
        }
        let plots = Rect(x: info.x, y: info.y + 1, width: info.width, height: info.height - 1).columns([1, 1])
        // Two columns apart, so that the SNR curve's last dots do not run into the other plot.
        let snrArea = Rect(x: plots[0].x, y: plots[0].y, width: plots[0].width - 2, height: plots[0].height)
        let changeArea = plots[1]
        // The whole plan's signal-to-noise ratio, and where the run is now.
        let ts = r.branch.timesteps.enumerated().map {
            (Double($0.offset), log10(max(1e-6, s.schedule.snr($0.element))))
        }
        var snrSeries = [Series(name: "log10 SNR", points: ts, color: 75)]
        if r.position < ts.count { snrSeries.append(Series(name: "now", points: [ts[r.position]], color: 226)) }
        var snr = LinePlot(series: snrSeries)
        snr.monochrome = ctx.colors == 0
        snr.render(snrArea, into: &buf, ctx.widgets)
        let changes = r.stepChanges.enumerated().map { (Double($0.offset + 1), $0.element) }
        var changeSeries = [Series(name: ctx.pick("‖x_{t-1} − x_t‖", "|x_t-1 - x_t|"), points: changes, color: 208)]
        if r.position >= 1 && r.position <= changes.count {
            changeSeries.append(Series(name: "now", points: [changes[r.position - 1]], color: 226))
        }
        var ch = LinePlot(series: changeSeries)
        ch.monochrome = ctx.colors == 0
        ch.render(changeArea, into: &buf, ctx.widgets)
    }

    public func statusFields(app: App) -> [(String, String)] {
        guard let r = run else { return [] }
        return [
            ("step", "\(r.position)/\(r.stepCount)"), ("t", r.frame.t >= 0 ? "\(r.frame.t)" : "done"),
            ("branch", "\(r.current + 1)/\(r.branches.count)"),
        ]
    }
}
