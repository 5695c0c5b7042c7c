// The language lab's settings before a run: each setting a list of typed choices (no strings looked
// up later), ←/→ to change, Enter to start.
import Labs
import Models
import TerminalUI

public final class LanguageConfigureScreen: SettingsFormScreen {
    public let title = "language lab - configure"
    public var settings: [Setting<LMConfig>]
    public var selected = 0

    public init() {
        func ints(_ name: String, _ values: [Int], _ at: Int, _ set: @escaping (inout LMConfig, Int) -> Void)
            -> Setting<LMConfig>
        {
            Setting(name: name, choices: values.map { v in ("\(v)", { set(&$0, v) }) }, index: at)
        }
        settings = [
            Setting(
                name: "model",
                choices: LMConfig.ModelKind.allCases.map { kind in (kind.rawValue, { $0.model = kind }) }, index: 0),
            ints("steps", [200, 500, 1000, 2000, 5000], 2) { $0.steps = $1 },
            ints("layers", [1, 2, 3, 4, 6], 3) { $0.layers = $1 },
            ints("width", [32, 64, 128, 192, 256], 2) { $0.width = $1 },
            ints("context", [32, 64, 128, 256], 2) { $0.context = $1 },
            ints("batch", [4, 8, 16, 32], 3) { $0.batch = $1 },
            Setting(
                name: "learning rate",
                choices: [Float(3e-4), 1e-3, 3e-3, 1e-2].map { lr in
                    (
                        String(format: "%.0e", lr),
                        {
                            $0.lr = lr
                            $0.minLR = lr / 10
                        }
                    )
                }, index: 2),
            Setting(
                name: "corpus",
                choices: [
                    (
                        "stories",
                        {
                            $0.corpus = .stories
                            $0.corpusDocuments = 4000
                        }
                    ),
                    (
                        "dialogue",
                        {
                            $0.corpus = .dialogue
                            $0.corpusDocuments = 8000
                        }
                    ),
                ], index: 0),
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
        formKeys
            + [
                KeyBinding([.enter], "Enter", "start training", footer: true) { app in
                    guard let me = app.top as? LanguageConfigureScreen else { return }
                    app.startLanguage(me.config)
                },
                KeyBinding([.char("o")], "o", "open a saved session") { app in
                    app.push(SessionPickerScreen(folder: app.exportDirectory))
                },
                KeyBinding([.char("r")], "r", "race: GPT, LSTM and GRU on the same corpus at once", footer: true) {
                    app in
                    guard let me = app.top as? LanguageConfigureScreen else { return }
                    let base = me.config
                    app.start(
                        lab: LabID.race,
                        { RaceRunner.race(base) }, screen: { RaceScreen() })
                },
            ]
    }

    public func render(_ r: Rect, into buf: inout Buffer, _ ctx: RenderContext) {
        var footer =
            "Enter starts training; r races a GPT, an LSTM and a GRU (their preset shapes) on the same corpus, "
            + "context, batch and steps; Esc goes back."
        if let r = ctx.app.language, r.status.get().hasUnsavedWork {
            footer += " A run with unsaved steps is open: starting asks before discarding it."
        }
        renderSettings(
            settings.map { ($0.name, $0.label, $0.choices.map(\.label)) }, selected: selected,
            title: ctx.pick("Language lab — configure", "Language lab - configure"), footer: footer, r, &buf, ctx)
    }
}
