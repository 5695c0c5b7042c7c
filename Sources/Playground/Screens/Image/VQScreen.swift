// The VQ lab: probe images, their reconstructions and code-index maps; the codebook's health (usage
// histogram, perplexity, dead codes, restarts); the losses. Stage 2 — a GPT prior over the codes —
// starts from a saved VQ session (t) and shows decoded samples.
import Foundation
import Labs
import Models
import TerminalUI

extension LabID {
    public static let vq = "vq"
    public static let vqPrior = "vq-prior"
}

public typealias VQPriorRunner = SessionRunner<VQPriorLab>

public final class VQScreen: Screen {
    public let title = "VQ lab"
    public init() {}

    static func runner(_ app: App) -> VQRunner? { app.runners[LabID.vq] as? VQRunner }

    static func homeStatus(_ app: App) -> String {
        var parts: [String] = []
        if let r = runner(app) {
            let s = r.snapshot.get()
            let st = r.status.get()
            var t = "\(s.config.mode.rawValue): step \(st.step)/\(s.totalSteps), \(LanguageScreen.phaseWord(st.phase))"
            if let p = s.perplexity.last { t += String(format: ", perplexity %.1f", p.y) }
            parts.append(t)
        }
        if let p = VQPriorScreen.runner(app) {
            parts.append("prior \(LanguageScreen.phaseWord(p.status.get().phase))")
        }
        return parts.isEmpty ? "idle" : parts.joined(separator: "; ")
    }

    static func open(_ app: App) {
        if runner(app) != nil {
            app.push(VQScreen())
        } else if VQPriorScreen.runner(app) != nil {
            app.push(VQPriorScreen())
        } else {
            app.push(VQConfigureScreen())
        }
    }

    public var keyTable: [KeyBinding] {
        [
            KeyBinding([.char(" ")], "space", "pause / resume", footer: true) { app in
                guard let r = VQScreen.runner(app) else { return }
                r.send(r.status.get().phase == .paused ? .resume : .pause)
            },
            KeyBinding([.char("e")], "e", "export the view as PNG", footer: true) { app in
                guard let r = VQScreen.runner(app) else { return }
                let s = r.snapshot.get()
                let path = app.exportDirectory + "/orrery-\(s.config.mode.rawValue)-step\(s.step).png"
                let img = ImageExport.vqPNG(s, title: "\(s.model), step \(s.step)")
                do {
                    try PNGExport.write(path, width: img.0, height: img.1, rgb: img.2)
                    app.status = "wrote \(path)"
                } catch { app.status = "\(error)" }
            },
            KeyBinding([.char("w")], "w", "save the session", footer: true) { app in app.save(lab: LabID.vq) },
            KeyBinding([.char("t")], "t", "train a GPT prior on the saved model's codes", footer: true) { app in
                guard let r = VQScreen.runner(app) else { return }
                let st = r.status.get()
                guard let dir = st.savedDirectory, st.savedStep == st.step else {
                    app.status = "save first (w): t trains a prior on the saved codes"
                    return
                }
                VQPriorScreen.start(app, vqDirectory: dir)
            },
            KeyBinding([.char("r")], "r", "restart from new random weights") { app in
                VQScreen.runner(app)?.send(.lab(.restart))
            },
            KeyBinding([.char("n")], "n", "new run (asks before discarding unsaved steps)") { app in
                app.push(VQConfigureScreen())
            },
        ]
    }

    public func render(_ r: Rect, into buf: inout Buffer, _ ctx: RenderContext) {
        guard let runner = VQScreen.runner(ctx.app) else { return }
        let s = runner.snapshot.get()
        let cols = r.columns([3, 2])
        let left = buf.box(
            cols[0], title: "original · reconstruction · codes (\(s.model))", glyphs: ctx.glyphs, focused: true)
        VQScreen.drawTriples(s, left, &buf, ctx)
        let (top, bottom) = cols[1].splitTop(cols[1].height / 2)
        let used = s.usage.filter { $0 >= 1e-4 }.count
        let uArea = buf.box(
            top, title: "codebook usage: \(used)/\(s.usage.count) codes, \(s.restarts) restarts", glyphs: ctx.glyphs)
        VQScreen.drawUsage(s.usage, uArea, &buf, ctx)
        let lArea = buf.box(bottom, title: "reconstruction loss and perplexity", glyphs: ctx.glyphs)
        let (la, pa) = lArea.splitTop(lArea.height / 2)
        var lp = LinePlot(series: [Series(name: "rec", points: s.recLoss, color: 75)], logY: true)
        lp.smoothing = 0.9
        lp.monochrome = ctx.colors == 0
        lp.render(la, into: &buf, ctx.widgets)
        var pp = LinePlot(series: [Series(name: "perplexity", points: s.perplexity, color: 208)])
        pp.smoothing = 0.9
        pp.monochrome = ctx.colors == 0
        pp.render(pa, into: &buf, ctx.widgets)
    }

    /// Rows of (original, reconstruction, code map) for as many probe images as fit.
    static func drawTriples(_ s: VQSnapshot, _ area: Rect, _ buf: inout Buffer, _ ctx: RenderContext) {
        let n = s.originals.count
        guard n > 0, area.width >= 8 else { return }
        let side = s.originals.side
        // Three images side by side must fit the width: up to 3× natural size, down to whatever fits
        // (the image views scale down to their cells).
        let k = max(1, min(3, (area.width - 2) / (3 * side)))
        let w = max(4, min(side * k, (area.width - 2) / 3))
        let h = (w + 1) / 2
        let perRow = max(1, (area.width + 2) / (3 * w + 4))
        var y = area.y
        let originals = s.originals.views
        let recons = s.reconstructions.views
        for i in 0..<n {
            let col = i % perRow
            if col == 0 && i > 0 { y += h + 1 }
            guard y + h <= area.y + area.height else { break }
            let x = area.x + col * (3 * w + 4)
            originals[i].render(Rect(x: x, y: y, width: w, height: h), into: &buf, ctx.widgets)
            if i < recons.count {
                recons[i].render(Rect(x: x + w + 1, y: y, width: w, height: h), into: &buf, ctx.widgets)
            }
            if i < s.codeMaps.count {
                codeMap(s.codeMaps[i], Rect(x: x + 2 * w + 2, y: y, width: w, height: h), &buf, ctx)
            }
        }
    }

    /// A code-index map: one colour per code (or the index's last digit without colour).
    static func codeMap(_ m: [Int], _ r: Rect, _ buf: inout Buffer, _ ctx: RenderContext) {
        let g = Int(Double(m.count).squareRoot())
        guard g > 0 else { return }
        if ctx.colors > 0 && ctx.glyphs.unicode {
            var px: [UInt8] = []
            for k in m {
                let c = ImageExport.codeColour(k)
                px += [c.0, c.1, c.2]
            }
            ImageView(width: g, height: g, rgb: px).render(r, into: &buf, ctx.widgets)
        } else {
            for cy in 0..<min(r.height, g) {
                for cx in 0..<min(r.width, g) {
                    let k = m[cy * g + cx]
                    buf.set(r.x + cx, r.y + cy, Unicode.Scalar(UInt8(48 + k % 10)))
                }
            }
        }
    }

    /// The usage histogram as vertical bars, one column per code (dead codes marked at the baseline).
    static func drawUsage(_ usage: [Double], _ area: Rect, _ buf: inout Buffer, _ ctx: RenderContext) {
        guard !usage.isEmpty, area.height >= 2, area.width >= 4 else { return }
        let h = area.height - 1
        let maxU = usage.max() ?? 1
        // Codes per column when there are more codes than columns.
        let per = max(1, (usage.count + area.width - 1) / area.width)
        let columns = (usage.count + per - 1) / per
        for c in 0..<min(columns, area.width) {
            let chunk = usage[(c * per)..<min(usage.count, (c + 1) * per)]
            let u = chunk.reduce(0, +) / Double(chunk.count)
            let x = area.x + c
            if chunk.allSatisfy({ $0 < 1e-4 }) {
                buf.set(x, area.y + h - 1, ctx.glyphs.unicode ? "▁" : "_", Style(fg: ctx.colors > 0 ? 160 : -1))
                continue
            }
            let bar = max(1, Int((u / max(maxU, 1e-12) * Double(h)).rounded()))
            for k in 0..<bar {
                buf.set(x, area.y + h - 1 - k, ctx.glyphs.full, Style(fg: ctx.colors > 0 ? 75 : -1))
            }
        }
        let note = per > 1 ? " (\(per) codes per column)" : ""
        buf.text(
            area.x, area.y + h, "code 0 … \(usage.count - 1)\(note)", Style(fg: ctx.theme.dim), maxWidth: area.width)
    }

    public func statusFields(app: App) -> [(String, String)] {
        guard let r = VQScreen.runner(app) else { return [] }
        let s = r.snapshot.get()
        let st = r.status.get()
        return [
            ("step", "\(s.step)/\(s.totalSteps)"), ("", LanguageScreen.phaseWord(st.phase)),
            ("rec", s.recLoss.last.map { String(format: "%.4f", $0.y) } ?? "-"),
            ("perplexity", s.perplexity.last.map { String(format: "%.1f", $0.y) } ?? "-"),
            ("dead", s.deadFraction.last.map { String(format: "%.0f%%", $0.y * 100) } ?? "-"),
        ]
    }
}

/// Stage 2: the GPT prior's decoded samples and its loss.
public final class VQPriorScreen: Screen {
    public let title = "VQ prior"
    public init() {}

    static func runner(_ app: App) -> VQPriorRunner? { app.runners[LabID.vqPrior] as? VQPriorRunner }

    /// Trains a prior over the codes of the VQ session saved in `vqDirectory`.
    static func start(_ app: App, vqDirectory: String) {
        var initial = VQPriorSnapshot()
        initial.model = "prior over \(vqDirectory)"
        app.start(
            lab: LabID.vqPrior,
            {
                VQPriorRunner(title: "VQ prior", initial: initial) {
                    let vq = try VQLab.loadSession(ImageCheckpoint.directory(vqDirectory))
                    var c = VQPriorConfig()
                    c.vq = vq.config
                    return VQPriorLab(session: try VQPriorSession(c, vq: vq.model))
                }
            }, screen: { VQPriorScreen() })
    }

    /// Opens the shipped VQGAN and its prior (trained; sampling on r).
    static func openShipped(_ app: App) {
        var initial = VQPriorSnapshot()
        initial.model = "the shipped shapes VQGAN"
        app.start(
            lab: LabID.vqPrior,
            {
                VQPriorRunner(title: "VQ prior", initial: initial, loadedIsSaved: true) {
                    VQPriorLab(session: try ShippedImageModels.vqPrior())
                }
            }, screen: { VQPriorScreen() })
    }

    public var keyTable: [KeyBinding] {
        [
            KeyBinding([.char(" ")], "space", "pause / resume", footer: true) { app in
                guard let r = VQPriorScreen.runner(app) else { return }
                r.send(r.status.get().phase == .paused ? .resume : .pause)
            },
            KeyBinding([.char("s")], "s", "draw new samples", footer: true) { app in
                VQPriorScreen.runner(app)?.send(.lab(.resample))
            },
            KeyBinding([.char("e")], "e", "export the samples as PNG", footer: true) { app in
                guard let r = VQPriorScreen.runner(app) else { return }
                let s = r.snapshot.get()
                let path = app.exportDirectory + "/orrery-vq-prior-samples-step\(s.step).png"
                let img = ImageExport.gridPNG(s.samples, columns: 8, scale: 4, title: "\(s.model), step \(s.step)")
                do {
                    try PNGExport.write(path, width: img.0, height: img.1, rgb: img.2)
                    app.status = "wrote \(path)"
                } catch { app.status = "\(error)" }
            },
            KeyBinding([.char("w")], "w", "save the session", footer: true) { app in app.save(lab: LabID.vqPrior) },
            KeyBinding([.char("n")], "n", "new VQ run", footer: true) { app in app.push(VQConfigureScreen()) },
        ]
    }

    public func render(_ r: Rect, into buf: inout Buffer, _ ctx: RenderContext) {
        guard let runner = VQPriorScreen.runner(ctx.app) else { return }
        let s = runner.snapshot.get()
        let cols = r.columns([3, 2])
        let left = buf.box(cols[0], title: "samples: codes from the prior, decoded", glyphs: ctx.glyphs, focused: true)
        drawGrid(s.samples, left, &buf, ctx)
        let (top, bottom) = cols[1].splitTop(cols[1].height / 2)
        let lArea = buf.box(top, title: "prior loss (nats per code) · \(s.model)", glyphs: ctx.glyphs)
        var lp = LinePlot(series: [Series(name: "loss", points: s.losses, color: 75)])
        lp.smoothing = 0.9
        lp.monochrome = ctx.colors == 0
        lp.render(lArea, into: &buf, ctx.widgets)
        let cArea = buf.box(bottom, title: "code map of the first sample", glyphs: ctx.glyphs)
        if let m = s.sampleCodes.first {
            let g = Int(Double(m.count).squareRoot())
            let k = max(1, min(cArea.width / max(1, g), 2 * cArea.height / max(1, g)))
            VQScreen.codeMap(m, Rect(x: cArea.x, y: cArea.y, width: g * k, height: (g * k + 1) / 2), &buf, ctx)
        }
    }

    public func statusFields(app: App) -> [(String, String)] {
        guard let r = VQPriorScreen.runner(app) else { return [] }
        let s = r.snapshot.get()
        let st = r.status.get()
        return [
            ("step", "\(s.step)/\(s.totalSteps)"), ("", LanguageScreen.phaseWord(st.phase)),
            ("loss", s.losses.last.map { String(format: "%.3f", $0.y) } ?? "-"),
        ]
    }
}

public final class VQConfigureScreen: SettingsFormScreen {
    public let title = "VQ lab - configure"
    public var settings: [Setting<VQConfig>]
    public var selected = 0

    public init() {
        settings = [
            Setting(name: "model", choices: VQMode.allCases.map { m in (m.rawValue, { $0.mode = m }) }, index: 0),
            Setting(name: "data", choices: VQData.allCases.map { d in (d.rawValue, { $0.data = d }) }, index: 1),
            Setting(name: "codes", choices: [16, 32, 64, 128, 256].map { k in ("\(k)", { $0.codes = k }) }, index: 2),
            Setting(
                name: "restart dead", choices: [("on", { $0.restart = true }), ("off", { $0.restart = false })],
                index: 0),
            Setting(
                name: "codebook", choices: [("EMA", { $0.ema = true }), ("loss", { $0.ema = false })], index: 0),
            Setting(name: "steps", choices: [300, 1000, 1500, 3000].map { n in ("\(n)", { $0.steps = n }) }, index: 2),
        ]
    }

    public var config: VQConfig {
        var base = VQConfig()
        settings[0].choices[settings[0].index].apply(&base)
        settings[1].choices[settings[1].index].apply(&base)
        var c = VQConfig.preset(base.mode, data: base.data)
        for s in settings.dropFirst(2) { s.choices[s.index].apply(&c) }
        return c
    }

    public var keyTable: [KeyBinding] {
        formKeys + [
            KeyBinding([.enter], "Enter", "start training", footer: true) { app in
                guard let me = app.top as? VQConfigureScreen else { return }
                let config = me.config
                app.start(lab: LabID.vq, { VQRunner.vq(config) }, screen: { VQScreen() })
            },
            KeyBinding([.char("p")], "p", "open the shipped VQGAN and its prior (samples)", footer: true) { app in
                VQPriorScreen.openShipped(app)
            },
        ]
    }

    public func render(_ r: Rect, into buf: inout Buffer, _ ctx: RenderContext) {
        let c = config
        renderSettings(
            settings.map { ($0.name, $0.label, $0.choices.map(\.label)) }, selected: selected,
            title: ctx.pick("VQ lab — configure", "VQ lab - configure"),
            footer:
                "\(c.mode.rawValue) on \(c.data.rawValue) (\(c.imageSize)×\(c.imageSize)), K \(c.codes). "
                + "Enter starts; p opens the shipped VQGAN; Esc goes back.", r, &buf, ctx)
    }
}
