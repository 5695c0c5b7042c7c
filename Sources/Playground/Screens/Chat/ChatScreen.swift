// Chat with the shipped model, a session's, or a real checkpoint (GGUF): a transcript, an input line
// edited by grapheme with history, the attention of the token being generated over the conversation,
// and the next-token strip (the five most likely tokens of the distribution each token was drawn
// from). While the input has the focus, every printable key is text (q, e and ? included); Tab moves
// the focus to the attention map, where the arrows pick layer and head, e exports it and m picks the
// model (Ctrl-O from the input). Esc leaves.
import Foundation
import Labs
import TerminalUI

public final class ChatScreen: Screen {
    public enum Focus: Equatable { case input, attention }
    public let title = "chat"
    public var focus: Focus = .input
    public var field = TextField(maxCharacters: 1000)

    public init() {}

    static func homeStatus(_ app: App) -> String {
        let s = app.chat.snapshot.get()
        if let e = s.error { return "error: \(e)" }
        return s.modelName.isEmpty ? "model not loaded yet" : "\(s.modelName), \(s.turns.count) turns"
    }

    public static func open(_ app: App) {
        app.chat.load()
        app.push(ChatScreen())
    }

    public var capturesText: Bool { focus == .input }

    public func input(_ key: Key, app: App) -> Bool {
        if field.edit(key) { return true }
        switch key {
        case .up: field.historyUp()
        case .down: field.historyDown()
        case .enter:
            guard app.chat.snapshot.get().pending == nil else { return true }
            let q = field.submit()
            if !q.isEmpty { app.chat.ask(q) }
        default: return false
        }
        return true
    }

    public var keyTable: [KeyBinding] {
        @Sendable func me(_ app: App) -> ChatScreen? { app.top as? ChatScreen }
        return [
            KeyBinding([], "type, Enter", "ask (letters are text while the input has the focus)") { _ in },
            KeyBinding([], "←/→ ↑/↓", ascii: "Left/Right Up/Down", "in the input: move the cursor / earlier questions")
            { _ in },
            KeyBinding([], "Ctrl-U", "clear the input") { _ in },
            KeyBinding([.tab], "Tab", "focus the input / the attention map", footer: true) { app in
                guard let m = me(app) else { return }
                m.focus = m.focus == .input ? .attention : .input
            },
            KeyBinding([.right], "→/←", ascii: "Right/Left", "attention map: next / previous head") { app in
                app.chat.selectHead(layerDelta: 0, headDelta: 1)
            },
            KeyBinding([.left], "←", ascii: "Left", "attention map: previous head") { app in
                app.chat.selectHead(layerDelta: 0, headDelta: -1)
            },
            KeyBinding([.up], "↑/↓", ascii: "Up/Down", "attention map: next / previous layer") { app in
                app.chat.selectHead(layerDelta: 1, headDelta: 0)
            },
            KeyBinding([.down], "↓", ascii: "Down", "attention map: previous layer") { app in
                app.chat.selectHead(layerDelta: -1, headDelta: 0)
            },
            KeyBinding(
                [.char("e"), .ctrl("x")], "e", "export the attention map as PNG (Ctrl-X from the input)", footer: true
            ) { app in
                me(app)?.export(app)
            },
            KeyBinding([.char("l"), .ctrl("l")], "l", "logit lens on/off (real models; Ctrl-L from the input)") { app in
                app.chat.toggleLens()
                let s = app.chat.snapshot.get()
                app.status =
                    !s.lensOn
                    ? "logit lens off"
                    : s.pretrained
                        ? "logit lens on: each answer token also decodes every 5th layer"
                        : "logit lens on (shown for real GGUF models)"
            },
            KeyBinding(
                [.char("m"), .ctrl("o")], "m", "pick the model: shipped or a GGUF file (Ctrl-O from the input)",
                footer: true
            ) { app in
                guard app.chat.snapshot.get().pending == nil else {
                    app.status = "wait for the answer to finish"
                    return
                }
                app.push(ModelPickerScreen(choices: app.chat.choices(), current: app.chat.source))
            },
        ]
    }

    public func render(_ r: Rect, into buf: inout Buffer, _ ctx: RenderContext) {
        let s = ctx.app.chat.snapshot.get()
        let cols = r.width >= 100 ? r.columns([3, 2]) : r.rows([3, 2])
        let left = buf.box(cols[0], title: "chat", glyphs: ctx.glyphs, focused: focus == .input)
        let (log, input) = left.splitBottom(1)
        var top = log.y
        if let e = s.error {
            buf.text(log.x, log.y, "error: \(e)", Style(fg: ctx.theme.error), maxWidth: log.width)
            top += 1
        } else if s.loading {
            buf.text(log.x, log.y, elide("loading the model…", log.width, ctx), Style(fg: ctx.theme.dim))
            top += 1
        } else if s.turns.isEmpty && s.pending == nil {
            let hint =
                s.pretrained
                ? "Ask anything: \(s.modelName) is a real instruction-tuned model. m (Ctrl-O) picks another."
                : "Ask about numbers (what is 3 plus 4?) or the world (where is Ana?). Ctrl-O picks a model."
            // Two lines where one is too narrow (80 columns cut the model-picking key off).
            let lines = wrap(hint, width: log.width)
            for (i, line) in lines.prefix(2).enumerated() {
                let last = i == 1 && lines.count > 2
                buf.text(log.x, log.y + i, last ? elide(line + " …", log.width, ctx) : line, Style(fg: ctx.theme.dim))
            }
            top += Swift.min(2, lines.count)
        }
        ChatTranscript(turns: s.turns, pending: s.pending, pendingQuestion: s.pendingQuestion)
            .render(Rect(x: log.x, y: top, width: log.width, height: log.y + log.height - top), into: &buf, ctx.widgets)
        InputLine(prompt: "you> ", field: field, active: focus == .input).render(input, into: &buf, ctx.widgets)
        // The next-token strip under the attention map: five rows and a title when there is room.
        let lensRows = s.lensOn && s.pretrained ? 1 + max(1, s.lens.count) : 0
        let stripRows = cols[1].height >= 16 + lensRows ? 7 + lensRows : (cols[1].height >= 16 ? 7 : 0)
        let (mapArea, stripArea) = stripRows > 0 ? cols[1].splitBottom(stripRows) : (cols[1], cols[1])
        if stripRows > 0 { renderNextTokens(s, stripArea, &buf, ctx) }
        if stripRows == 0 && s.lensOn && s.pretrained {
            // Too short for both: the lens was asked for, so the strip and lens take the map's place.
            renderNextTokens(s, cols[1], &buf, ctx)
            return
        }
        // The layer and head stay in the title when the pane is narrow (the description goes first).
        let layerHead = "L\(s.layer) H\(s.head)"
        let long = "attention of the generated token · " + layerHead
        let hm = buf.box(
            mapArea, title: long.count + 4 <= mapArea.width ? long : "attention · " + layerHead, glyphs: ctx.glyphs,
            focused: focus == .attention)
        if s.attention.isEmpty {
            buf.text(hm.x, hm.y, "appears while an answer streams", Style(fg: ctx.theme.dim), maxWidth: hm.width)
        } else {
            let shown = min(s.attention.count, max(0, hm.height - 1))
            Heatmap(
                values: Array(s.attention.suffix(shown)), rowLabels: Array(s.attentionLabels.suffix(shown)),
                columnLabels: s.attentionLabels, range: (0, 1)
            ).render(hm, into: &buf, ctx.widgets)
        }
    }

    /// The five most likely next tokens, with probability bars.
    func renderNextTokens(_ s: ChatSnapshot, _ r: Rect, _ buf: inout Buffer, _ ctx: RenderContext) {
        let inner = buf.box(r, title: "next token: the 5 most likely", glyphs: ctx.glyphs, focused: false)
        if s.nextTokens.isEmpty {
            buf.text(
                inner.x, inner.y, "appears while an answer streams", Style(fg: ctx.theme.dim), maxWidth: inner.width)
            return
        }
        let labelW = min(14, max(4, inner.width / 3))
        if s.lensOn && s.pretrained && inner.height > 6 {
            let y0 = inner.y + 5
            buf.text(
                inner.x, y0, elide("logit lens: what each layer would say after this token", inner.width, ctx),
                Style(fg: ctx.theme.dim))
            for (i, l) in s.lens.prefix(inner.height - 6).enumerated() {
                let shown = l.text.replacingOccurrences(of: "\n", with: "⏎").replacingOccurrences(of: " ", with: "·")
                buf.text(
                    inner.x, y0 + 1 + i,
                    elide(
                        String(
                            format: "layer %2d  %@  %3.0f%%", l.layer, shown.isEmpty ? "∅" : shown, l.probability * 100),
                        inner.width, ctx),
                    Style(fg: l.layer == s.lens.last?.layer ? ctx.theme.accent : ctx.theme.text))
            }
        }
        for (i, t) in s.nextTokens.prefix(min(5, inner.height)).enumerated() {
            let shown = t.text.replacingOccurrences(of: "\n", with: "⏎").replacingOccurrences(of: " ", with: "·")
            let label = elide(shown.isEmpty ? "∅" : shown, labelW, ctx)
            buf.text(
                inner.x, inner.y + i, label, Style(fg: i == 0 ? ctx.theme.accent : ctx.theme.text), maxWidth: labelW)
            let barW = max(0, inner.width - labelW - 8)
            let filled = Int((Float(barW) * t.probability).rounded())
            let bar =
                String(repeating: ctx.pick("█", "#"), count: filled)
                + String(repeating: ctx.pick("·", "."), count: max(0, barW - filled))
            buf.text(inner.x + labelW + 1, inner.y + i, bar, Style(fg: ctx.theme.dim), maxWidth: barW)
            buf.text(
                inner.x + labelW + 2 + barW, inner.y + i, String(format: "%4.0f%%", t.probability * 100),
                Style(fg: ctx.theme.text), maxWidth: 5)
        }
    }

    public func statusFields(app: App) -> [(String, String)] {
        let s = app.chat.snapshot.get()
        return [
            ("model", s.modelName.isEmpty ? "loading" : s.modelName), ("layer", "\(s.layer)"), ("head", "\(s.head)"),
            ("tok/s", String(format: "%.0f", s.tokensPerSecond)),
        ]
    }

    public func click(x: Int, y: Int, area: Rect, app: App) {
        let cols = area.width >= 100 ? area.columns([3, 2]) : area.rows([3, 2])
        if cols[0].contains(x: x, y: y) { focus = .input } else if cols[1].contains(x: x, y: y) { focus = .attention }
    }

    func export(_ app: App) {
        let s = app.chat.snapshot.get()
        guard !s.attention.isEmpty else {
            app.status = "no attention to export yet"
            return
        }
        let (w, h, px) = PNGExport.heatmap(
            s.attention, title: "\(s.modelName): attention of the generated tokens, layer \(s.layer) head \(s.head)",
            rowLabels: [], columnLabels: s.attentionLabels)
        let path = app.exportDirectory + "/orrery-chat-attention-L\(s.layer)H\(s.head).png"
        do {
            try PNGExport.write(path, width: w, height: h, rgb: px)
            app.status = "wrote \(path)"
        } catch { app.status = "\(error)" }
    }
}
