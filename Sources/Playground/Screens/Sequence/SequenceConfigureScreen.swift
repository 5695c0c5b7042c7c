// The sequence lab's settings: which detectors train side by side, OadTR's ablation, the budget.
import Labs
import Models
import TerminalUI

public final class SequenceConfigureScreen: SettingsFormScreen {
    public let title = "Sequence lab - configure"
    public var settings: [Setting<SequenceLabConfig>]
    public var selected = 0

    public init() {
        let pairs: [(String, [OADModelKind])] = [
            ("OadTR+GRU", [.oadtr, .gru]), ("OadTR+LSTM", [.oadtr, .lstm]), ("all three", [.oadtr, .gru, .lstm]),
            ("OadTR", [.oadtr]),
        ]
        settings = [
            Setting(name: "detectors", choices: pairs.map { p in (p.0, { $0.models = p.1 }) }, index: 0),
            Setting(
                name: "ablation",
                choices: OADAblation.allCases.map { a in (a.rawValue, { $0.oad.oadtr = a.apply($0.oad.oadtr) }) },
                index: 0),
            Setting(
                name: "steps",
                choices: [300, 1000, 1500, 3000, 10000].map { n in ("\(n)", { $0.oad.steps = n }) }, index: 2),
            Setting(
                name: "seed", choices: [UInt64(1), 2, 3, 4].map { s in ("\(s)", { $0.oad.seed = s }) }, index: 0),
        ]
    }

    public var config: SequenceLabConfig {
        var c = SequenceLabConfig()
        for s in settings { s.choices[s.index].apply(&c) }
        c.evalEvery = max(50, c.oad.steps / 10)
        return c
    }

    public var keyTable: [KeyBinding] {
        formKeys + [
            KeyBinding([.enter], "Enter", "start training", footer: true) { app in
                guard let me = app.top as? SequenceConfigureScreen else { return }
                let config = me.config
                app.start(lab: LabID.sequence, { SequenceRunner.sequence(config) }, screen: { SequenceScreen() })
            },
            KeyBinding([.char("p")], "p", "open the shipped detectors (OadTR and GRU, trained)", footer: true) { app in
                SequenceScreen.openShipped(app)
            },
        ]
    }

    public func render(_ r: Rect, into buf: inout Buffer, _ ctx: RenderContext) {
        let c = config
        let o = c.oad.oadtr
        let what =
            "OadTR \(o.encoderLayers) encoder layers × \(o.width), history \(o.history) frames, "
            + (o.decoder ? "a decoder anticipating \(o.anticipation) frames" : "no decoder")
            + (o.taskToken ? "" : ", no task token") + (o.positionEncoding ? "" : ", no position encoding")
            + "; recurrent baselines with its parameter count; \(c.oad.steps) steps, each learning from "
            + "\(c.oad.batch) labelled frames."
        renderSettings(
            settings.map { ($0.name, $0.label, $0.choices.map(\.label)) }, selected: selected,
            title: ctx.pick("Sequence lab — configure", "Sequence lab - configure"),
            footer: what + " Enter starts; p opens the shipped detectors; Esc goes back.", r, &buf, ctx)
    }
}
