// The sequence lab: online action detection, live. The held-out stream scrolls right to left with
// "now" at the right edge: the true actions, then each detector's predicted class for each frame as
// it arrived (OadTR and its recurrent baseline on the same frames), OadTR's anticipated classes for
// the next ℓ frames right of now beside the truth, the attention of its task token over the history
// window, and each detector's per-class probability traces. Below: the training losses and the
// held-out scores (mAP, accuracy, detection latency, anticipation accuracy).
import Foundation
import Labs
import Models
import TerminalUI

extension LabID {
    public static let sequence = "sequence"
}

public final class SequenceScreen: Screen {
    public let title = "Sequence lab"
    /// Playing the held-out stream, and how many frames per tenth of a second.
    public var playing = true
    public var speed = 2
    var lastPlay = Date.distantPast
    public init() {}

    static func runner(_ app: App) -> SequenceRunner? { app.runners[LabID.sequence] as? SequenceRunner }

    static func homeStatus(_ app: App) -> String {
        guard let r = runner(app) else { return "shipped OadTR and GRU detectors; or train your own" }
        let s = r.snapshot.get()
        let st = r.status.get()
        var t = "\(s.config.models.map(\.title).joined(separator: " vs ")): step \(st.step)/\(s.totalSteps), "
        t += LanguageScreen.phaseWord(st.phase)
        let maps = s.detectors.compactMap { d in d.lastEval.map { String(format: "\(d.kind.title) mAP %.3f", $0.mAP) } }
        if !maps.isEmpty { t += ", " + maps.joined(separator: ", ") }
        return t
    }

    /// Reopens the running session, or opens the shipped detectors.
    static func open(_ app: App) {
        if runner(app) != nil {
            app.push(SequenceScreen())
        } else {
            openShipped(app)
        }
    }

    static func openShipped(_ app: App) {
        app.start(
            lab: LabID.sequence,
            {
                SequenceRunner.sequence(
                    loading: {
                        let lab = try ShippedSequenceModels.detectors()
                        lab.evaluate()
                        return lab
                    }, config: SequenceLabConfig(), savedIn: nil,
                    shipped: true)
            }, screen: { SequenceScreen() })
    }

    public var keyTable: [KeyBinding] {
        [
            KeyBinding([.char("p")], "p", "play / pause the stream", footer: true) { app in
                guard let me = app.top as? SequenceScreen else { return }
                me.playing.toggle()
            },
            KeyBinding([.right, .char(".")], "→ .", ascii: "Right .", "one frame forward (while paused)") { app in
                guard let me = app.top as? SequenceScreen, let r = SequenceScreen.runner(app) else { return }
                me.playing = false
                r.send(.lab(.play(frames: 1)))
            },
            KeyBinding([.char("+"), .char("=")], "+", "play faster (-: slower)", footer: true) { app in
                guard let me = app.top as? SequenceScreen else { return }
                me.speed = min(32, me.speed * 2)
            },
            KeyBinding([.char("-")], "-", "play slower") { app in
                guard let me = app.top as? SequenceScreen else { return }
                me.speed = max(1, me.speed / 2)
            },
            KeyBinding([.char("r")], "r", "rewind the stream to its first frame") { app in
                SequenceScreen.runner(app)?.send(.lab(.rewind))
            },
            KeyBinding([.char(" ")], "space", "pause / resume training", footer: true) { app in
                guard let r = SequenceScreen.runner(app) else { return }
                r.send(r.status.get().phase == .paused ? .resume : .pause)
            },
            KeyBinding([.char("v")], "v", "score every detector on the held-out stream now") { app in
                SequenceScreen.runner(app)?.send(.lab(.evaluate))
                app.status = "scoring on the held-out stream…"
            },
            KeyBinding([.char("e")], "e", "export the stream view as PNG", footer: true) { app in
                guard let r = SequenceScreen.runner(app) else { return }
                SequenceScreen.export(r.snapshot.get(), app: app)
            },
            KeyBinding([.char("w")], "w", "save the session") { app in app.save(lab: LabID.sequence) },
            KeyBinding([.char("n")], "n", "new training run (asks before discarding unsaved steps)", footer: true) {
                app in app.push(SequenceConfigureScreen())
            },
        ]
    }

    static func export(_ s: SequenceSnapshot, app: App) {
        let base = app.exportDirectory + "/orrery-oad-step\(s.step)-frame\(max(0, s.now))"
        do {
            let img = ImageExport.streamPNG(s)
            try PNGExport.write(base + ".png", width: img.0, height: img.1, rgb: img.2)
            var wrote = [base + ".png"]
            let series = s.detectors.enumerated().compactMap { i, d -> Series? in
                d.evals.count < 2
                    ? nil
                    : Series(
                        name: d.kind.title, points: d.evals.map { ($0.step, $0.mAP) },
                        color: SequenceScreen.detectorColour(i))
            }
            if !series.isEmpty {
                let plot = PNGExport.plot(series, title: "held-out per-frame mAP vs training step")
                try PNGExport.write(base + "-map.png", width: plot.0, height: plot.1, rgb: plot.2)
                wrote.append(base + "-map.png")
            }
            app.status = "wrote " + wrote.joined(separator: " and ")
        } catch { app.status = "\(error)" }
    }

    public func tick(app: App) {
        guard playing, let r = SequenceScreen.runner(app), Date().timeIntervalSince(lastPlay) >= 0.1 else { return }
        lastPlay = Date()
        r.send(.lab(.play(frames: speed)))
    }

    /// Terminal colour of action class k (twins share a hue family, as in the PNG).
    static func classColour(_ k: Int) -> Color { [240, 160, 208, 34, 37, 33, 135][max(0, min(6, k))] }
    static func detectorColour(_ i: Int) -> Color { [45, 208, 141][i % 3] }
    /// The character of class k without colour: · for background, 1…6 for the actions.
    static func classChar(_ k: Int, unicode: Bool) -> Unicode.Scalar {
        k == 0 ? (unicode ? "·" : ".") : Unicode.Scalar(UInt8(48 + k))
    }

    public func render(_ r: Rect, into buf: inout Buffer, _ ctx: RenderContext) {
        guard let runner = SequenceScreen.runner(ctx.app) else { return }
        let s = runner.snapshot.get()
        let phase = runner.status.get().phase
        if case .starting = phase, s.detectors.isEmpty {
            buf.text(r.x + 2, r.y + 1, "building the streams and the detectors…", Style(fg: ctx.theme.dim))
            return
        }
        let lowerH = r.height >= 22 ? max(7, r.height * 2 / 7) : max(0, r.height - 14)
        let (top, bottom) = r.splitTop(r.height - lowerH)
        let ell = s.config.oad.oadtr.anticipation
        let title =
            "held-out stream · frame \(max(0, s.now)) · " + (playing ? "playing ×\(speed)" : "paused")
            + " · " + ctx.pick("now ▸ ahead", "now > ahead")
        let inner = buf.box(top, title: title, glyphs: ctx.glyphs, focused: true)
        drawStream(s, inner, ell: ell, &buf, ctx)
        guard bottom.height >= 5 else { return }
        let cols = bottom.columns([1, 1])
        let lArea = buf.box(cols[0], title: "training loss", glyphs: ctx.glyphs)
        let series = s.detectors.enumerated().map { i, d in
            Series(name: d.kind.title, points: d.losses, color: SequenceScreen.detectorColour(i))
        }
        if series.allSatisfy({ $0.points.isEmpty }) {
            buf.text(
                lArea.x, lArea.y, "trained for \(s.step) steps; n trains anew", Style(fg: ctx.theme.dim),
                maxWidth: lArea.width)
        } else {
            var lp = LinePlot(series: series)
            lp.smoothing = 0.9
            lp.monochrome = ctx.colors == 0
            lp.render(lArea, into: &buf, ctx.widgets)
        }
        let sArea = buf.box(cols[1], title: "held-out scores (per-frame)", glyphs: ctx.glyphs)
        drawScores(s, sArea, &buf, ctx)
    }

    /// The bands, the attention row, the legend and the probability traces.
    func drawStream(_ s: SequenceSnapshot, _ a: Rect, ell: Int, _ buf: inout Buffer, _ ctx: RenderContext) {
        guard a.width > 20, a.height > 2 else { return }
        let labelW = 7
        let ahead = min(ell, max(0, (a.width - labelW) / 6))
        let shownW = a.width - labelW - ahead - 1
        let nowX = a.x + labelW + shownW  // the separator column
        let colour = ctx.colors > 0
        func cell(_ x: Int, _ y: Int, _ k: Int) {
            if colour && k > 0 {
                buf.set(
                    x, y, ctx.glyphs.unicode ? "█" : Unicode.Scalar(UInt8(48 + k)),
                    Style(fg: SequenceScreen.classColour(k)))
            } else {
                buf.set(
                    x, y, SequenceScreen.classChar(k, unicode: ctx.glyphs.unicode),
                    Style(fg: k == 0 ? ctx.theme.faint : ctx.theme.text, bold: k > 0))
            }
        }
        func band(_ y: Int, _ label: String, _ classes: [Int], labelColour: Color) {
            buf.text(a.x, y, label, Style(fg: labelColour), maxWidth: labelW - 1)
            let shown = classes.suffix(shownW)
            let x0 = nowX - shown.count
            for (i, k) in shown.enumerated() { cell(x0 + i, y, k) }
            buf.set(nowX, y, ctx.glyphs.vertical, Style(fg: ctx.theme.accent))
        }
        var y = a.y
        band(y, "truth", s.recentLabels, labelColour: ctx.theme.text)
        for (k, label) in s.futureLabels.prefix(ahead).enumerated() where label >= 0 { cell(nowX + 1 + k, y, label) }
        y += 1
        for (i, d) in s.detectors.enumerated() where y < a.y + a.height {
            band(y, d.kind.title, d.recent.map { argmax($0) }, labelColour: SequenceScreen.detectorColour(i))
            if d.kind == .oadtr {
                for (k, p) in s.anticipated.prefix(ahead).enumerated() { cell(nowX + 1 + k, y, argmax(p)) }
            }
            y += 1
        }
        // The task token's attention over the last T frames (aligned with the bands' columns).
        if !s.attention.isEmpty && y < a.y + a.height {
            buf.text(a.x, y, "attn", Style(fg: ctx.theme.dim))
            let hi = max(s.attention.max() ?? 1, 1e-6)
            let ramp = ctx.glyphs.ramp
            for (i, w) in s.attention.enumerated() {
                let x = nowX - s.attention.count + i
                guard x >= a.x + labelW else { continue }
                let level = min(ramp.count - 1, Int((w / hi) * Float(ramp.count - 1) + 0.5))
                buf.set(x, y, level == 0 ? (ctx.glyphs.unicode ? "·" : ".") : ramp[level], Style(fg: ctx.theme.accent))
            }
            buf.set(nowX, y, ctx.glyphs.vertical, Style(fg: ctx.theme.accent))
            if ahead > 0 { buf.text(nowX + 1, y, "ahead", Style(fg: ctx.theme.dim), maxWidth: ahead) }
            y += 1
        }
        // Legend.
        if y < a.y + a.height {
            var x = a.x
            for (k, name) in ActionStream.classNames.enumerated() {
                let text = (k == 0 ? "" : " ") + name
                guard x + text.count + 2 <= a.x + a.width else { break }
                cell(x, y, k)
                x += 1
                x += buf.text(x, y, text, Style(fg: ctx.theme.dim)) + 1
            }
            y += 1
        }
        // What the rows mean, when a row can be spared for it.
        let rowsLeft = a.y + a.height - y
        let n = max(1, s.detectors.count)
        if rowsLeft >= 1 && ((rowsLeft - 1) / n >= 4 || rowsLeft / n < 4) {
            let T = s.attention.count
            buf.text(
                a.x, y,
                "attn: where OadTR looks in its last \(T) frames \(ctx.pick("·", "-")) ahead: next \(ahead), truth / OadTR",
                Style(fg: ctx.theme.faint), maxWidth: a.width)
            y += 1
        }
        // Probability traces, one plot per detector, sharing what rows are left.
        let left = a.y + a.height - y
        guard left >= 4, !s.detectors.isEmpty else { return }
        let each = left / s.detectors.count
        guard each >= 4 else { return }
        for (i, d) in s.detectors.enumerated() {
            let area = Rect(x: a.x, y: y + i * each, width: a.width - ahead - 1, height: each)
            buf.text(area.x, area.y, "\(d.kind.title) p(class)", Style(fg: SequenceScreen.detectorColour(i)))
            let plotArea = Rect(x: area.x, y: area.y + 1, width: area.width, height: area.height - 1)
            let shown = d.recent.suffix(shownW)
            let base = s.now - shown.count + 1
            var series: [Series] = []
            for k in 1..<ActionStream.classes {
                series.append(
                    Series(
                        name: ActionStream.classNames[k],
                        // Without colour, markers at p ≈ 0 would cover the bottom row: only p ≥ 0.05.
                        points: shown.enumerated().map { (Double(base + $0.offset), Double($0.element[k])) }
                            .filter { ctx.colors > 0 || $0.1 >= 0.05 },
                        color: SequenceScreen.classColour(k)))
            }
            var plot = LinePlot(series: series)
            plot.monochrome = ctx.colors == 0
            // The window's frames on x (aligned with the bands above), probabilities 0…1 on y.
            plot.xRange = Double(s.now - shownW + 1)...Double(max(s.now, s.now - shownW + 2))
            plot.yRange = 0...1
            plot.render(plotArea, into: &buf, ctx.widgets)
        }
    }

    func drawScores(_ s: SequenceSnapshot, _ a: Rect, _ buf: inout Buffer, _ ctx: RenderContext) {
        guard a.height >= 1 else { return }
        buf.text(a.x, a.y, "model    mAP   acc  latency  missed", Style(fg: ctx.theme.dim), maxWidth: a.width)
        var y = a.y + 1
        for (i, d) in s.detectors.enumerated() where y < a.y + a.height {
            buf.text(a.x, y, d.kind.title, Style(fg: SequenceScreen.detectorColour(i), bold: true))
            if let e = d.lastEval {
                let latency = e.latency.isFinite ? String(format: "%5.1f fr", e.latency) : "    - fr"
                buf.text(
                    a.x + 6, y,
                    String(format: "%6.3f %5.3f ", e.mAP, e.accuracy) + latency
                        + String(format: " %5.1f%%", e.missed * 100),
                    Style(fg: ctx.theme.text), maxWidth: a.width - 6)
            } else {
                buf.text(a.x + 6, y, "not scored yet (v scores now)", Style(fg: ctx.theme.dim), maxWidth: a.width - 6)
            }
            y += 1
        }
        if let d = s.detectors.first(where: { $0.kind == .oadtr }), let e = d.lastEval, !e.anticipation.isEmpty,
            y < a.y + a.height
        {
            // Compact: per cent right at +1, +2, … (the whole list fits 80 columns for ℓ = 8).
            let text =
                "ahead +1…+\(e.anticipation.count): "
                + e.anticipation.map { String(format: "%.0f", $0 * 100) }.joined(separator: " ") + "%"
            y += buf.wrapped(a.x, y, text, width: a.width, maxLines: a.y + a.height - y, Style(fg: ctx.theme.label))
        }
        // AP per class, when there is room for the header and every detector.
        let scored = s.detectors.enumerated().filter { $0.element.lastEval != nil }
        if !scored.isEmpty, y + 1 + scored.count < a.y + a.height - 1, a.width >= 6 + 6 * 6 {
            let names = ActionStream.classNames.dropFirst().map {
                String($0.prefix(5)).padding(toLength: 6, withPad: " ", startingAt: 0)
            }
            buf.text(a.x, y, "AP    " + names.joined(), Style(fg: ctx.theme.dim), maxWidth: a.width)
            y += 1
            for (i, d) in scored {
                buf.text(a.x, y, d.kind.title, Style(fg: SequenceScreen.detectorColour(i)))
                let ap = d.lastEval!.perClass.dropFirst().map { $0.map { String(format: "%.3f ", $0) } ?? "  -   " }
                buf.text(a.x + 6, y, ap.joined(), Style(fg: ctx.theme.text), maxWidth: a.width - 6)
                y += 1
            }
        }
        if y < a.y + a.height {
            let params = s.detectors.map { "\($0.kind.title) \($0.parameters)" }.joined(separator: ", ")
            y += buf.wrapped(
                a.x, y, "parameters: " + params, width: a.width, maxLines: a.y + a.height - y, Style(fg: ctx.theme.dim))
        }
        if y < a.y + a.height, let last = s.detectors.first?.evals.last {
            buf.text(a.x, y, "scored at step \(Int(last.step))", Style(fg: ctx.theme.dim), maxWidth: a.width)
        }
    }

    public func statusFields(app: App) -> [(String, String)] {
        guard let r = SequenceScreen.runner(app) else { return [] }
        let s = r.snapshot.get()
        let st = r.status.get()
        var f: [(String, String)] = [("step", "\(s.step)/\(s.totalSteps)"), ("", LanguageScreen.phaseWord(st.phase))]
        f.append(("frame", "\(max(0, s.now))"))
        for d in s.detectors { if let e = d.lastEval { f.append((d.kind.title, String(format: "mAP %.3f", e.mAP))) } }
        return f
    }
}

extension Buffer {
    /// Word-wrapped text in `width` columns, at most `maxLines` lines; returns the lines used.
    @discardableResult
    mutating func wrapped(_ x: Int, _ y: Int, _ s: String, width: Int, maxLines: Int, _ style: Style) -> Int {
        guard width > 0, maxLines > 0 else { return 0 }
        let lines = wrap(s, width: width)
        for (i, l) in lines.prefix(maxLines).enumerated() { text(x, y + i, l, style, maxWidth: width) }
        return min(maxLines, lines.count)
    }
}
