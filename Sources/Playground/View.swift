// view(state) → Buffer: one function per screen, widgets from TerminalUI, numbers from snapshots.
import Foundation
import TerminalUI

extension App {
    public static let keys: [ScreenID: [(String, String)]] = [
        .home: [("↑/↓ j/k", "choose a lab"), ("Enter", "open it"), ("?", "help"), ("q", "quit")],
        .configure: [("↑/↓", "choose a setting"), ("←/→", "change it"), ("Enter", "start training"), ("Esc", "back")],
        .language: [("space", "pause / resume"), ("l / L", "next / previous layer"), ("h / H", "next / previous head"),
                    ("Tab", "focus loss plot / attention"), ("e", "export the focused pane as PNG"), ("s", "new sample"),
                    ("w", "save the session"), ("Esc", "home"), ("q", "quit (asks to save)")],
        .chat: [("type, Enter", "ask"), ("←/→", "attention head"), ("↑/↓", "attention layer"), ("e", "export heatmap (empty input)"),
                ("Esc", "home")],
        .lesson: [("space", "play / pause"), ("←/→", "step back / forward"), ("Esc", "home")],
    ]

    func view(into buf: inout Buffer) {
        let g = backend.glyphs, colors = backend.colors
        if buf.width < App.minWidth || buf.height < App.minHeight {
            let msg = "enlarge the terminal: \(App.minWidth)×\(App.minHeight) needed, now \(buf.width)×\(buf.height)"
            for (i, line) in wrap(msg, width: buf.width).prefix(buf.height).enumerated() { buf.text(0, i, line, Style(fg: 214)) }
            return
        }
        let (main, status) = buf.area.splitBottom(1)
        switch state.screen {
        case .home: viewHome(main, &buf, g)
        case .configure: viewConfigure(main, &buf, g)
        case .language: viewLanguage(main, &buf, g, colors)
        case .chat: viewChat(main, &buf, g, colors)
        case .lesson: viewLesson(main, &buf, g, colors)
        }
        statusBar(status, &buf)
        if state.help { overlay(title: "keys", lines: (App.keys[state.screen] ?? []).map { "\($0.0.padding(toLength: 14, withPad: " ", startingAt: 0)) \($0.1)" }, &buf, g) }
        if state.confirmQuit { overlay(title: "quit", lines: ["Training is running.", "Save the session before quitting?", "", "y: save and quit   n: quit   any other key: stay"], &buf, g) }
    }

    func overlay(title: String, lines: [String], _ buf: inout Buffer, _ g: Glyphs) {
        let w = min(buf.width - 4, (lines.map(\.count).max() ?? 10) + 4), h = min(buf.height - 2, lines.count + 2)
        let r = Rect(x: (buf.width - w) / 2, y: (buf.height - h) / 2, width: w, height: h)
        buf.fill(r, " ", Style(bg: 235))
        let inner = buf.box(r, title: title, glyphs: g, focused: true)
        for (i, l) in lines.prefix(inner.height).enumerated() { buf.text(inner.x + 1, inner.y + i, l, Style(fg: 252, bg: 235), maxWidth: inner.width - 1) }
    }

    func statusBar(_ r: Rect, _ buf: inout Buffer) {
        var fields: [(String, String)] = []
        switch state.screen {
        case .language:
            if let s = language?.snapshot.get() {
                fields = [("step", "\(s.step)/\(s.totalSteps)"), ("loss", s.losses.last.map { String(format: "%.4f", $0.y) } ?? "–"),
                          ("tok/s", String(format: "%.0f", s.tokensPerSecond)), ("mem", String(format: "%.0f MB", Double(s.memoryBytes) / 1e6)),
                          ("elapsed", String(format: "%.0fs", s.elapsed))]
                if s.paused { fields.append(("", "PAUSED")) }
            }
        case .chat:
            let s = chat.snapshot.get()
            fields = [("model", s.modelName.isEmpty ? "loading" : s.modelName), ("layer", "\(s.layer)"), ("head", "\(s.head)"),
                      ("tok/s", String(format: "%.0f", s.tokensPerSecond))]
        default: fields = [("orrery", ""), ("?", "help"), ("q", "quit")]
        }
        StatusBar(fields: fields, message: state.status).render(r, into: &buf)
    }

    func viewHome(_ r: Rect, _ buf: inout Buffer, _ g: Glyphs) {
        let inner = buf.box(r, title: "Orrery — watch neural networks learn", glyphs: g, focused: true)
        buf.text(inner.x + 2, inner.y + 1, "Labs", Style(fg: 252, bold: true))
        for (i, lab) in App.labs.enumerated() {
            let y = inner.y + 3 + i * 2
            let sel = i == state.selected
            buf.text(inner.x + 2, y, (sel ? "▶ " : "  ") + lab.title, Style(fg: sel ? 45 : 252, bold: sel))
            buf.text(inner.x + 24, y, lab.summary, Style(fg: 246), maxWidth: inner.width - 26)
            buf.text(inner.x + 24, y + 1, status(of: lab.screen), Style(fg: 114), maxWidth: inner.width - 26)
        }
        buf.text(inner.x + 2, inner.y + inner.height - 1, "Enter opens a lab · ? keys · q quits", Style(fg: 240))
    }

    /// One line per lab on the home screen: what it is doing now.
    func status(of screen: ScreenID) -> String {
        switch screen {
        case .configure, .language:
            guard let s = language?.snapshot.get() else { return "idle" }
            if let e = s.error { return "error: \(e)" }
            return "\(s.model): step \(s.step)/\(s.totalSteps)" + (s.finished ? ", finished" : s.paused ? ", paused" : ", training")
                + (s.losses.last.map { String(format: ", loss %.3f", $0.y) } ?? "")
        case .chat:
            let s = chat.snapshot.get()
            if let e = s.error { return "error: \(e)" }
            return s.modelName.isEmpty ? "model not loaded yet" : "\(s.modelName), \(s.turns.count) turns"
        case .lesson: return "step \(state.lesson.index + 1) of \(state.lesson.steps.count)"
        case .home: return ""
        }
    }

    func viewConfigure(_ r: Rect, _ buf: inout Buffer, _ g: Glyphs) {
        let inner = buf.box(r, title: "Language lab — configure", glyphs: g, focused: true)
        for (i, f) in state.fields.enumerated() {
            let sel = i == state.field
            let y = inner.y + 1 + i
            buf.text(inner.x + 2, y, (sel ? "▶ " : "  ") + f.name, Style(fg: sel ? 45 : 252, bold: sel))
            buf.text(inner.x + 22, y, "◀ \(f.value) ▶", Style(fg: sel ? 229 : 250, bold: sel))
            buf.text(inner.x + 38, y, "range: " + f.values.joined(separator: " · "), Style(fg: 240), maxWidth: inner.width - 40)
        }
        buf.text(inner.x + 2, inner.y + state.fields.count + 2, "Enter starts training · Esc goes back", Style(fg: 240))
    }

    func viewLanguage(_ r: Rect, _ buf: inout Buffer, _ g: Glyphs, _ colors: Int) {
        guard let l = language else { return }
        let s = l.snapshot.get()
        if let e = s.error { buf.text(r.x + 1, r.y + 1, "error: \(e)", Style(fg: 196), maxWidth: r.width - 2); return }
        let (top, bottom) = r.splitTop(r.height * 3 / 5)
        let tc = top.columns([3, 2])
        let plotArea = buf.box(tc[0], title: "loss — \(s.model), \(s.parameters) params", glyphs: g, focused: state.focus == 0)
        LinePlot(series: lossSeries(s), smoothing: 0.6).render(plotArea, into: &buf, glyphs: g)
        if let map = attentionMap(s) {
            let a = buf.box(tc[1], title: "attention layer \(map.layer) head \(map.head)", glyphs: g, focused: state.focus == 1)
            Heatmap(values: map.values, rowLabels: s.probeTokens, columnLabels: s.probeTokens, range: (0, 1)).render(a, into: &buf, glyphs: g, colors: colors)
        } else {
            let a = buf.box(tc[1], title: "gradient norms by layer", glyphs: g, focused: state.focus == 1)
            BarChart(items: s.gradNorms).render(a, into: &buf, glyphs: g)
        }
        let bc = bottom.columns([3, 2])
        let sa = buf.box(bc[0], title: "sample", glyphs: g)
        TextLog(lines: [(s.sample.isEmpty ? "(a sample appears every 100 steps; s for one now)" : s.sample, Style(fg: 252))]).render(sa, into: &buf)
        let ga = buf.box(bc[1], title: "grad norms · lr \(String(format: "%.2e", s.learningRate))", glyphs: g)
        let (pb, bars) = ga.splitTop(1)
        ProgressBar(fraction: Double(s.step) / Double(max(1, s.totalSteps)), label: "steps").render(pb, into: &buf, glyphs: g)
        BarChart(items: s.gradNorms).render(bars, into: &buf, glyphs: g)
        if !s.message.isEmpty && state.status.hasPrefix("saving") { state.status = s.message }
    }

    func viewChat(_ r: Rect, _ buf: inout Buffer, _ g: Glyphs, _ colors: Int) {
        let s = chat.snapshot.get()
        let cols = r.columns([3, 2])
        let left = buf.box(cols[0], title: "chat", glyphs: g, focused: true)
        let (log, input) = left.splitBottom(1)
        if let e = s.error { buf.text(log.x, log.y, "error: \(e)", Style(fg: 196), maxWidth: log.width) }
        else if s.turns.isEmpty && s.pending == nil {
            buf.text(log.x, log.y, "Ask about numbers (what is 3 plus 4?) or the world (where is Ana?).", Style(fg: 244), maxWidth: log.width)
        }
        ChatTranscript(turns: s.turns, pending: s.pending).render(Rect(x: log.x, y: log.y + 1, width: log.width, height: log.height - 1), into: &buf)
        InputLine(prompt: "you> ", text: state.chatInput, active: true).render(input, into: &buf)
        let hm = buf.box(cols[1], title: "attention of the generated token · L\(s.layer) H\(s.head)", glyphs: g)
        if s.attention.isEmpty { buf.text(hm.x, hm.y, "appears while an answer streams", Style(fg: 244), maxWidth: hm.width) }
        else { Heatmap(values: s.attention, rowLabels: s.attentionLabels, columnLabels: s.attentionLabels, range: (0, 1)).render(hm, into: &buf, glyphs: g, colors: colors) }
    }

    func viewLesson(_ r: Rect, _ buf: inout Buffer, _ g: Glyphs, _ colors: Int) {
        let ls = state.lesson, st = ls.current
        let cols = r.columns([1, 1])
        let left = buf.box(cols[0], title: "scores of row \(st.row), key tile \(st.tile) (keys \(st.keys.lowerBound)…\(st.keys.upperBound - 1))", glyphs: g, focused: true)
        // Score grid: the current row and tile highlighted.
        for i in 0..<min(ls.n, left.height - 1) {
            for j in 0..<min(ls.n, (left.width - 4) / 3) {
                let v = ls.scores[i][j]
                let inTile = i == st.row && st.keys.contains(j)
                let done = i < st.row || (i == st.row && j < st.keys.lowerBound)
                let txt = v.isFinite ? String(format: "%+.0f", v * 2) : " ·"
                let style = inTile ? Style(fg: 16, bg: 220, bold: true) : (done ? Style(fg: 114) : (v.isFinite ? Style(fg: 246) : Style(fg: 238)))
                buf.text(left.x + 1 + j * 3, left.y + i, txt.padding(toLength: 3, withPad: " ", startingAt: 0), style)
            }
        }
        buf.text(left.x + 1, left.y + left.height - 1, "(2× score, rounded; yellow: the tile being folded in)", Style(fg: 240), maxWidth: left.width - 1)
        let right = buf.box(cols[1], title: "online softmax: running max m and normaliser l", glyphs: g)
        let lines: [(String, Style)] = [
            ("step \(ls.index + 1) of \(ls.steps.count)" + (state.lessonPlaying ? "  ▶ playing" : "  ❚❚ paused"), Style(fg: 252, bold: true)),
            ("", .plain),
            (String(format: "m: %8.4f → %8.4f", st.maxBefore, st.maxAfter), Style(fg: 229)),
            (String(format: "l: %8.4f → %8.4f", st.sumBefore, st.sumAfter), Style(fg: 229)),
            (String(format: "output rescaled by exp(m_old − m_new) = %.4f", st.rescale), Style(fg: 114)),
            ("", .plain),
            ("l_new = l·exp(m_old − m_new) + Σ exp(s − m_new)", Style(fg: 246)),
            ("o_new = o·exp(m_old − m_new) + Σ exp(s − m_new)·v", Style(fg: 246)),
            ("the N×N matrix never exists: one tile at a time,", Style(fg: 246)),
            ("and only m + log l is kept for the backward pass.", Style(fg: 246)),
        ]
        TextLog(lines: lines).render(Rect(x: right.x + 1, y: right.y, width: right.width - 1, height: min(lines.count + 1, right.height)), into: &buf)
        let hist = ls.steps.prefix(ls.index + 1).filter { $0.row == st.row }
        let bars = hist.map { (label: "tile \($0.tile)", value: Double($0.sumAfter)) }
        let barArea = Rect(x: right.x + 1, y: right.y + lines.count + 1, width: right.width - 1, height: right.height - lines.count - 1)
        if !barArea.isEmpty {
            buf.text(barArea.x, barArea.y, "l after each tile of row \(st.row):", Style(fg: 250))
            BarChart(items: bars, color: 214).render(Rect(x: barArea.x, y: barArea.y + 1, width: barArea.width, height: barArea.height - 1), into: &buf, glyphs: g)
        }
    }
}
