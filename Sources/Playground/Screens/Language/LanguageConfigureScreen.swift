// The language lab's settings before a run: each setting a list of typed choices (no strings looked
// up later), ←/→ to change, Enter to start.
import Labs
import Models
import TerminalUI

public final class LanguageConfigureScreen: Screen {
    /// One setting: its choices, each a label and what it does to the configuration.
    public struct Setting {
        public let name: String
        public let choices: [(label: String, apply: (inout LMConfig) -> Void)]
        public var index: Int
        public var label: String { choices[index].label }
    }

    public let title = "language lab · configure"
    public var settings: [Setting]
    public var selected = 0

    public init() {
        func ints(_ name: String, _ values: [Int], _ at: Int, _ set: @escaping (inout LMConfig, Int) -> Void) -> Setting {
            Setting(name: name, choices: values.map { v in ("\(v)", { set(&$0, v) }) }, index: at)
        }
        settings = [
            Setting(name: "model", choices: LMConfig.ModelKind.allCases.map { kind in (kind.rawValue, { $0.model = kind }) }, index: 0),
            ints("steps", [200, 500, 1000, 2000, 5000], 2) { $0.steps = $1 },
            ints("layers", [1, 2, 3, 4, 6], 3) { $0.layers = $1 },
            ints("width", [32, 64, 128, 192, 256], 2) { $0.width = $1 },
            ints("context", [32, 64, 128, 256], 2) { $0.context = $1 },
            ints("batch", [4, 8, 16, 32], 3) { $0.batch = $1 },
            Setting(name: "learning rate", choices: [Float(3e-4), 1e-3, 3e-3, 1e-2].map { lr in
                (String(format: "%.0e", lr), { $0.lr = lr; $0.minLR = lr / 10 })
            }, index: 2),
            Setting(name: "corpus", choices: [("stories", { $0.corpus = "stories"; $0.corpusDocuments = 4000 }),
                                              ("dialogue", { $0.corpus = "dialogue"; $0.corpusDocuments = 8000 })], index: 0),
        ]
    }

    /// The configuration the settings describe.
    public var config: LMConfig {
        var c = LMConfig()
        c.evalEvery = 50
        c.checkpointEvery = 100
        for s in settings { s.choices[s.index].apply(&c) }
        return c
    }

    public var keyTable: [KeyBinding] {
        [
            KeyBinding([.up], "↑/↓", ascii: "Up/Down", "choose a setting") { app in
                guard let me = app.top as? LanguageConfigureScreen else { return }
                me.selected = (me.selected + me.settings.count - 1) % me.settings.count
            },
            KeyBinding([.down], "↓", ascii: "Down", "next setting") { app in
                guard let me = app.top as? LanguageConfigureScreen else { return }
                me.selected = (me.selected + 1) % me.settings.count
            },
            KeyBinding([.left], "←/→", ascii: "Left/Right", "change it") { app in
                guard let me = app.top as? LanguageConfigureScreen else { return }
                me.settings[me.selected].index = max(0, me.settings[me.selected].index - 1)
            },
            KeyBinding([.right], "→", ascii: "Right", "next value") { app in
                guard let me = app.top as? LanguageConfigureScreen else { return }
                let s = me.settings[me.selected]
                me.settings[me.selected].index = min(s.choices.count - 1, s.index + 1)
            },
            KeyBinding([.enter], "Enter", "start training", footer: true) { app in
                guard let me = app.top as? LanguageConfigureScreen else { return }
                app.startLanguage(me.config)
            },
        ]
    }

    public func render(_ r: Rect, into buf: inout Buffer, _ ctx: RenderContext) {
        let inner = buf.box(r, title: ctx.pick("Language lab — configure", "Language lab - configure"), glyphs: ctx.glyphs, focused: true)
        let valueX = inner.x + 18, rangeX = inner.x + 34
        for (i, s) in settings.enumerated() {
            let sel = i == selected
            let y = inner.y + 1 + i
            buf.text(inner.x + 2, y, (sel ? ctx.pick("▶ ", "> ") : "  ") + s.name, Style(fg: sel ? 45 : 252, bold: sel))
            buf.text(valueX, y, ctx.pick("◀ \(s.label) ▶", "< \(s.label) >"), Style(fg: sel ? 229 : 250, bold: sel))
            let range = s.choices.map(\.label).joined(separator: ctx.pick(" · ", " "))
            buf.text(rangeX, y, elide(range, inner.x + inner.width - rangeX - 1, ctx), Style(fg: 240))
        }
        let y = inner.y + settings.count + 2
        buf.text(inner.x + 2, y, "Enter starts training; Esc goes back.", Style(fg: 240), maxWidth: inner.width - 3)
        if let r = ctx.app.language, r.status.get().hasUnsavedWork {
            buf.text(inner.x + 2, y + 1, elide("A run with unsaved steps is open: starting asks before discarding it.",
                                               inner.width - 3, ctx), Style(fg: 214))
        }
    }
}
