// The language lab while a run trains (or after it finished): loss curves, the attention of a probe
// sentence (GPT) or the latest sample (LSTM/GRU), gradient norms, samples. The run lives in the app,
// not in this screen: leaving with Esc keeps it training, and the home list reopens it.
import Foundation
import Labs
import Models
import TerminalUI

public final class LanguageScreen: Screen {
    public enum Pane: Equatable { case loss, attention }
    public let title = "language lab"
    public var focus: Pane = .loss
    public var layer = 0, head = 0
    /// Log-scale loss axis.
    public var logScale = false
    /// The step profile fills the screen instead of the plots (`p`).
    public var showProfile = false
    /// Steps a profile covers.
    static let profileSteps = 10

    public init() {}

    // MARK: home list

    static func homeStatus(_ app: App) -> String {
        guard let r = app.language else { return "idle" }
        let st = r.status.get()
        let s = r.snapshot.get()
        let phase = phaseWord(st.phase)
        var line = "\(s.model): step \(st.step)/\(s.totalSteps), \(phase)"
        if let l = s.losses.last { line += String(format: ", loss %.3f", l.y) }
        if st.hasUnsavedWork { line += st.savedStep == nil ? ", not saved" : ", saved at step \(st.savedStep ?? 0)" }
        return line
    }

    static func open(_ app: App) {
        if app.language != nil { app.push(LanguageScreen()) } else { app.push(LanguageConfigureScreen()) }
    }

    static func phaseWord(_ p: RunnerStatus.Phase) -> String {
        switch p {
        case .starting: return "starting"
        case .running: return "training"
        case .paused: return "paused"
        case .finished: return "finished"
        case .failed(let why): return "failed: \(why)"
        case .stopped: return "stopped"
        }
    }

    // MARK: keys

    func isGPT(_ app: App) -> Bool { app.language?.snapshot.get().modelKind == .gpt }

    public var keyTable: [KeyBinding] {
        @Sendable func me(_ app: App) -> LanguageScreen? { app.top as? LanguageScreen }
        var keys = [
            KeyBinding([.char(" ")], "space", "pause / resume", footer: true) { app in
                guard let r = app.language else { return }
                r.send(r.status.get().phase == .paused ? .resume : .pause)
            },
            KeyBinding([.char("s")], "s", "draw a sample now") { app in app.language?.send(.lab(.sample)) },
            KeyBinding([.tab], "Tab", "focus the loss plot / the attention map") { app in
                guard let m = me(app) else { return }
                m.focus = m.focus == .loss && m.isGPT(app) ? .attention : .loss
            },
            KeyBinding([.char("g")], "g", "loss axis: linear / log") { app in me(app)?.logScale.toggle() },
            KeyBinding([.char("p")], "p", "profile: where a step's time goes (p again: the plots)", footer: true) {
                app in
                guard let m = me(app), let r = app.language else { return }
                m.showProfile.toggle()
                if m.showProfile { r.send(.lab(.profile(steps: LanguageScreen.profileSteps))) }
            },
            KeyBinding([.char("e")], "e", "export the focused pane as PNG", footer: true) { app in me(app)?.export(app)
            },
            KeyBinding([.char("w")], "w", "save the session", footer: true) { app in app.saveLanguage() },
            KeyBinding([.char("n")], "n", "new run (asks before discarding unsaved steps)") { app in
                app.push(LanguageConfigureScreen())
            },
        ]
        // Layer and head keys exist only where there is attention to look at.
        if let kind = Optional(isGPTTable), kind {
            keys.insert(
                contentsOf: [
                    KeyBinding([.char("l")], "l / L", "next / previous layer") { app in me(app)?.layer += 1 },
                    KeyBinding([.char("L")], "L", "previous layer") { app in me(app)?.layer -= 1 },
                    KeyBinding([.char("h")], "h / H", "next / previous head") { app in me(app)?.head += 1 },
                    KeyBinding([.char("H")], "H", "previous head") { app in me(app)?.head -= 1 },
                ], at: 2)
        }
        return keys
    }

    /// Whether the run on show has attention (set each frame from the snapshot).
    var isGPTTable = true

    public func tick(app: App) { isGPTTable = isGPT(app) }

    // MARK: drawing

    static func lossSeries(_ s: LanguageSnapshot) -> [Series] {
        [
            Series(name: "train", points: s.losses, color: 75),
            Series(name: "validation", points: s.valLosses, color: 214),
        ]
    }

    func attentionMap(_ s: LanguageSnapshot) -> (values: [[Float]], layer: Int, head: Int)? {
        guard !s.attention.isEmpty, !s.attention[0].isEmpty else { return nil }
        let L = s.attention.count
        let H = s.attention[0].count
        let l = ((layer % L) + L) % L
        let h = ((head % H) + H) % H
        return (s.attention[l][h], l, h)
    }

    public func render(_ r: Rect, into buf: inout Buffer, _ ctx: RenderContext) {
        guard let runner = ctx.app.language else { return }
        let s = runner.snapshot.get()
        let st = runner.status.get()
        if case .failed(let why) = st.phase, s.step == 0 {
            for (i, line) in wrap("error: \(why)", width: r.width - 2).prefix(r.height).enumerated() {
                buf.text(r.x + 1, r.y + 1 + i, line, Style(fg: ctx.theme.error))
            }
            return
        }
        if showProfile {
            renderProfile(r, into: &buf, ctx, s, st)
            return
        }
        let (top, bottom) = r.splitTop(r.height * 3 / 5)
        let tc = top.columns([3, 2])
        let plotTitle =
            "loss" + (logScale ? " (log)" : "") + ctx.pick(" — ", " - ") + "\(s.model), \(s.parameters) params"
        let plotArea = buf.box(tc[0], title: plotTitle, glyphs: ctx.glyphs, focused: focus == .loss)
        var plot = LinePlot(series: LanguageScreen.lossSeries(s), logY: logScale, smoothing: 0.6)
        plot.monochrome = ctx.colors == 0
        plot.render(plotArea, into: &buf, ctx.widgets)
        let bc = bottom.columns([3, 2])
        if let map = attentionMap(s) {
            let a = buf.box(
                tc[1], title: "attention layer \(map.layer) head \(map.head)", glyphs: ctx.glyphs,
                focused: focus == .attention)
            let shown = min(map.values.count, max(0, a.height - 1))
            Heatmap(
                values: Array(map.values.suffix(shown)), rowLabels: Array(s.probeTokens.suffix(shown)),
                columnLabels: s.probeTokens, range: (0, 1)
            ).render(a, into: &buf, ctx.widgets)
            let sa = buf.box(bc[0], title: "sample", glyphs: ctx.glyphs)
            TextLog(lines: [
                (
                    s.sample.isEmpty ? "(a sample appears every 100 steps; s for one now)" : s.sample,
                    Style(fg: ctx.theme.text)
                )
            ])
            .render(sa, into: &buf, ctx.widgets)
            if shown < map.values.count {
                buf.text(
                    a.x, a.y + a.height - 1,
                    "rows \(map.values.count - shown + 1)-\(map.values.count) of \(map.values.count)",
                    Style(fg: ctx.theme.faint),
                    maxWidth: a.width)
            }
        } else {
            // LSTM and GRU have no attention: the sample takes that pane, the training log the other.
            let sa = buf.box(tc[1], title: "sample", glyphs: ctx.glyphs)
            TextLog(lines: [
                (
                    s.sample.isEmpty ? "(a sample appears every 100 steps; s for one now)" : s.sample,
                    Style(fg: ctx.theme.text)
                )
            ])
            .render(sa, into: &buf, ctx.widgets)
            let la = buf.box(bc[0], title: "validation loss", glyphs: ctx.glyphs)
            let lines = s.valLosses.suffix(max(1, la.height)).map {
                (String(format: "step %5.0f  %.4f", $0.x, $0.y), Style(fg: ctx.theme.label))
            }
            TextLog(lines: lines.isEmpty ? [("(every 50 steps)", Style(fg: ctx.theme.faint))] : lines).render(
                la, into: &buf, ctx.widgets)
        }
        let ga = buf.box(bc[1], title: "grad norms · lr \(String(format: "%.2e", s.learningRate))", glyphs: ctx.glyphs)
        let (pb, bars) = ga.splitTop(1)
        ProgressBar(fraction: Double(s.step) / Double(max(1, s.totalSteps)), label: LanguageScreen.phaseWord(st.phase))
            .render(pb, into: &buf, ctx.widgets)
        BarChart(items: s.gradNorms).render(bars, into: &buf, ctx.widgets)
    }

    func renderProfile(
        _ r: Rect, into buf: inout Buffer, _ ctx: RenderContext, _ s: LanguageSnapshot, _ st: RunnerStatus
    ) {
        let title =
            "where does a step's time go?" + ctx.pick(" — ", " - ")
            + ctx.pick(s.model, s.model.replacingOccurrences(of: "×", with: "x"))
        let a = buf.box(r, title: title, glyphs: ctx.glyphs, focused: true)
        var notes: [String] = []
        if let e = s.profileError { notes.append("cannot profile: \(e)") }
        if s.profileStepsLeft > 0 {
            switch st.phase {
            case .paused: notes.append("profiling waits for training steps: space resumes the run")
            case .finished, .stopped, .failed:
                notes.append("the run has ended, so there are no steps to profile: n starts a new run")
            default:
                notes.append(
                    "profiling the next \(LanguageScreen.profileSteps) training steps, \(s.profileStepsLeft) to go"
                        + (s.limits == nil ? " (measuring this machine's limits first)" : ""))
            }
        }
        var area = a
        for n in notes {
            for line in wrap(n, width: area.width).prefix(2) where area.height > 0 {
                _ = buf.text(area.x, area.y, line, Style(fg: ctx.theme.warning), maxWidth: area.width)
                area = Rect(x: area.x, y: area.y + 1, width: area.width, height: area.height - 1)
            }
        }
        if let p = s.profile, let l = s.limits {
            StepProfileView(profile: p, limits: l).render(area, into: &buf, ctx)
        } else if notes.isEmpty {
            _ = buf.text(area.x, area.y, "no profile yet", Style(fg: ctx.theme.faint), maxWidth: area.width)
        }
    }

    public func statusFields(app: App) -> [(String, String)] {
        guard let r = app.language else { return [] }
        let s = r.snapshot.get()
        let st = r.status.get()
        var fields = [
            ("step", "\(s.step)/\(s.totalSteps)"), ("", LanguageScreen.phaseWord(st.phase)),
            ("loss", s.losses.last.map { String(format: "%.4f", $0.y) } ?? "-"),
            ("tok/s", String(format: "%.0f", s.tokensPerSecond)),
            ("tensors", String(format: "%.0f MB", Double(s.tensorBytes) / 1e6)),
            ("rss", String(format: "%.0f MB", Double(ResidentMemory.bytes()) / 1e6)),
        ]
        if s.skippedSteps > 0 { fields.append(("skipped", "\(s.skippedSteps)")) }
        return fields
    }

    public func click(x: Int, y: Int, area: Rect, app: App) {
        let (top, _) = area.splitTop(area.height * 3 / 5)
        let tc = top.columns([3, 2])
        if tc[1].contains(x: x, y: y) && isGPT(app) {
            focus = .attention
        } else if tc[0].contains(x: x, y: y) {
            focus = .loss
        }
    }

    func export(_ app: App) {
        guard let r = app.language else { return }
        let s = r.snapshot.get()
        do {
            if focus == .attention, let map = attentionMap(s) {
                let (w, h, px) = PNGExport.heatmap(
                    map.values, title: "\(s.model) step \(s.step): attention, layer \(map.layer) head \(map.head)",
                    rowLabels: s.probeTokens, columnLabels: s.probeTokens)
                let path = app.exportDirectory + "/orrery-attention-L\(map.layer)H\(map.head)-step\(s.step).png"
                try PNGExport.write(path, width: w, height: h, rgb: px)
                app.status = "wrote \(path)"
            } else {
                let (w, h, px) = PNGExport.plot(
                    LanguageScreen.lossSeries(s), title: "loss: \(s.model), step \(s.step)", logY: logScale)
                let path = app.exportDirectory + "/orrery-loss-step\(s.step).png"
                try PNGExport.write(path, width: w, height: h, rgb: px)
                app.status = "wrote \(path)"
            }
        } catch { app.status = "\(error)" }
    }
}

/// The process's resident memory (Linux: /proc/self/statm), to show beside the tensor bytes.
enum ResidentMemory {
    static func bytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let parts = text.split(separator: " ")
        guard parts.count > 1, let pages = Int(parts[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
