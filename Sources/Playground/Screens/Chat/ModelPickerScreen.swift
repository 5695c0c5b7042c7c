// Picks the chat lab's model: the model shipped in the binary (or the session given on the command
// line), GGUF files given with --model, and every GGUF file in the model cache. Enter loads the chosen
// one (the conversation starts over); Esc keeps the current one.
import Foundation
import Labs
import TerminalUI

public final class ModelPickerScreen: Screen {
    public let title = "chat model"
    public let choices: [ModelSource]
    public var selected = 0

    public init(choices: [ModelSource], current: ModelSource?) {
        self.choices = choices
        selected = current.flatMap { choices.firstIndex(of: $0) } ?? 0
    }

    static func label(_ m: ModelSource) -> (String, String) {
        switch m {
        case .shipped: return ("the shipped tiny chat model", "a 4-layer GPT trained by Orrery on its dialogue corpus")
        case .directory(let d): return (d, "a language-lab session")
        case .gguf(let f):
            let size = (try? FileManager.default.attributesOfItem(atPath: f)[.size] as? Int) ?? 0
            return (
                URL(fileURLWithPath: f).lastPathComponent,
                String(format: "GGUF, %.0f MB — %@", Double(size ?? 0) / 1e6, f)
            )
        }
    }

    public var keyTable: [KeyBinding] {
        @Sendable func me(_ app: App) -> ModelPickerScreen? { app.top as? ModelPickerScreen }
        return [
            KeyBinding([.up], "↑/↓", ascii: "Up/Down", "choose a model") { app in
                guard let m = me(app), !m.choices.isEmpty else { return }
                m.selected = (m.selected + m.choices.count - 1) % m.choices.count
            },
            KeyBinding([.down], "↓", ascii: "Down", "next model") { app in
                guard let m = me(app), !m.choices.isEmpty else { return }
                m.selected = (m.selected + 1) % m.choices.count
            },
            KeyBinding([.enter], "Enter", "chat with it (the conversation starts over)", footer: true) { app in
                guard let m = me(app), m.selected < m.choices.count else { return }
                let choice = m.choices[m.selected]
                app.pop()
                if choice != app.chat.source {
                    app.chat.switchModel(to: choice)
                    app.status = "loading \(ModelPickerScreen.label(choice).0)"
                }
            },
        ]
    }

    public func render(_ r: Rect, into buf: inout Buffer, _ ctx: RenderContext) {
        let inner = buf.box(r, title: "Chat with which model?", glyphs: ctx.glyphs, focused: true)
        var y = inner.y + 1
        for (i, c) in choices.enumerated() where y + 1 < inner.y + inner.height {
            let sel = i == selected
            let (name, detail) = ModelPickerScreen.label(c)
            buf.text(
                inner.x + 2, y, (sel ? ctx.pick("▶ ", "> ") : "  ") + elide(name, inner.width - 5, ctx),
                Style(fg: sel ? ctx.theme.accent : ctx.theme.text, bold: sel))
            buf.text(inner.x + 4, y + 1, elide(detail, inner.width - 5, ctx), Style(fg: ctx.theme.dim))
            y += 2
        }
        if ModelCache.ggufFiles().isEmpty && y + 2 < inner.y + inner.height {
            for (i, line) in wrap(
                "No GGUF models in \(ModelCache.directory). Fetch SmolLM2-135M-Instruct (98 MB) with "
                    + "'orrery models pull smollm2', or start with 'orrery --model FILE.gguf'.",
                width: inner.width - 4
            ).enumerated() where y + 1 + i < inner.y + inner.height {
                buf.text(inner.x + 2, y + 1 + i, line, Style(fg: ctx.theme.dim))
            }
        }
    }
}
