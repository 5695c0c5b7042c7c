// The DeepSeek lab's settings: which experiment, the balancing mode (MoE), the budget, the seed, and
// the scaling sweep's grid.
import Labs
import Models
import TerminalUI

public final class DeepSeekConfigureScreen: SettingsFormScreen {
    public let title = "DeepSeek lab - configure"
    public var settings: [Setting<DeepSeekLabConfig>]
    public var selected = 0

    public init(experiment: DeepSeekExperiment = .moe) {
        settings = [
            Setting(
                name: "experiment",
                choices: DeepSeekExperiment.allCases.map { e in (e.title, { $0.experiment = e }) },
                index: DeepSeekExperiment.allCases.firstIndex(of: experiment) ?? 0),
            Setting(
                name: "balancing (MoE)",
                choices: MoEBalancing.allCases.map { b in (b.rawValue, { $0.balancing = b }) },
                index: MoEBalancing.allCases.firstIndex(of: .auxFree) ?? 0),
            Setting(
                name: "MTP depth", choices: [1, 2, 3].map { d in ("\(d)", { $0.mtpDepth = d }) }, index: 1),
            Setting(
                name: "steps", choices: [200, 600, 1500, 3000].map { n in ("\(n)", { $0.steps = n }) }, index: 1),
            Setting(
                name: "corpus",
                choices: [("stories", { $0.corpus = .stories }), ("dialogue", { $0.corpus = .dialogue })], index: 0),
            Setting(
                name: "sweep (scaling)",
                choices: [
                    (
                        "1e11…1e12 → 3e12",
                        {
                            $0.sweep.budgets = [1e11, 3e11, 1e12]
                            $0.predict = 3e12
                        }
                    ),
                    (
                        "3e10…3e11 → 1e12 (quick)",
                        {
                            $0.sweep.budgets = [3e10, 1e11, 3e11]
                            $0.predict = 1e12
                        }
                    ),
                ], index: 0),
            Setting(
                name: "seed",
                choices: [UInt64(1), 2, 3, 4].map { s in
                    (
                        "\(s)",
                        {
                            $0.seed = s
                            $0.sweep.seed = s
                        }
                    )
                }, index: 0),
        ]
    }

    public var config: DeepSeekLabConfig {
        var c = DeepSeekLabConfig()
        for s in settings { s.choices[s.index].apply(&c) }
        c.sweep.corpus = c.corpus
        return c
    }

    public var keyTable: [KeyBinding] {
        formKeys + [
            KeyBinding([.enter], "Enter", "start the experiment", footer: true) { app in
                guard let me = app.top as? DeepSeekConfigureScreen else { return }
                let config = me.config
                app.start(lab: LabID.deepSeek, { DeepSeekRunner.deepSeek(config) }, screen: { DeepSeekScreen() })
            }
        ]
    }

    static func describe(_ c: DeepSeekLabConfig) -> String {
        switch c.experiment {
        case .moe:
            return "A \(c.layers)×\(c.width) GPT whose feed-forward layers are DeepSeekMoE: 8 routed experts (top-2) "
                + "and 1 shared, the active parameters of the dense GPT, balanced by \(c.balancing.rawValue); "
                + "\(c.steps) steps. Watch each layer's expert load, the biases, and where each probe token goes; "
                + "run it again with another balancing mode to compare."
        case .fp8:
            return "Two \(c.layers)×\(c.width) GPTs on the same seed and batches, one in FP32 and one with every "
                + "block's GEMM inputs through E4M3 (1×128 activation tiles, 128×128 weight blocks), \(c.steps) "
                + "steps each, in turn. Watch the two loss curves, their gap, and a layer's activations on the "
                + "E4M3 grid."
        case .mtp:
            return "A \(c.layers)×\(c.width) GPT with \(c.mtpDepth) multi-token-prediction module(s), \(c.steps) "
                + "steps; every \(c.probeEvery) steps the first module drafts for self-speculative decoding "
                + "(acceptance, speed-up, same text as greedy) and the chained modules' acceptance at each draft "
                + "position is measured. Beside it: the KV cache and decode speed of MHA, GQA and MLA."
        case .scaling:
            let b = c.sweep.budgets.map { String(format: "%.0e", $0) }.joined(separator: ", ")
            return "GPTs of width \(c.sweep.widths.map(String.init).joined(separator: "/")) (2 layers) at compute "
                + "budgets \(b) FLOPs on \(c.corpus): IsoFLOP minima, power laws for the optimal model and the "
                + "loss, then the predicted run at " + String(format: "%.0e", c.predict ?? 0)
                + " trained and measured. Takes minutes."
        }
    }

    public func render(_ r: Rect, into buf: inout Buffer, _ ctx: RenderContext) {
        renderSettings(
            settings.map { ($0.name, $0.label, $0.choices.map(\.label)) }, selected: selected,
            title: ctx.pick("DeepSeek lab — configure", "DeepSeek lab - configure"),
            footer: DeepSeekConfigureScreen.describe(config) + " Enter starts; Esc goes back.", r, &buf, ctx)
    }
}
