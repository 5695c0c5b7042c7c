// The classifier playground's settings: dataset, depth, width, activation, learning rate, steps.
import Labs
import Models
import TerminalUI

public final class ClassifierConfigureScreen: SettingsFormScreen {
    public let title = "classifier playground - configure"
    public var settings: [Setting<ClassifierConfig>]
    public var selected = 0

    public init() {
        func ints(_ name: String, _ values: [Int], _ at: Int, _ set: @escaping (inout ClassifierConfig, Int) -> Void)
            -> Setting<ClassifierConfig>
        {
            Setting(name: name, choices: values.map { v in ("\(v)", { set(&$0, v) }) }, index: at)
        }
        settings = [
            Setting(
                name: "dataset", choices: ToyDataset.allCases.map { d in (d.rawValue, { $0.dataset = d }) }, index: 0),
            ints("hidden layers", [1, 2, 3, 4], 1) { $0.layers = $1 },
            ints("width", [2, 4, 8, 16, 32, 64], 5) { $0.width = $1 },
            Setting(
                name: "activation",
                choices: ClassifierConfig.Activation.allCases.map { a in (a.rawValue, { $0.activation = a }) },
                index: 0),
            Setting(
                name: "learning rate",
                choices: [Float(0.003), 0.01, 0.03, 0.1].map { lr in
                    (String(format: "%g", lr), { $0.lr = lr })
                }, index: 1),
            ints("steps", [300, 1000, 1500, 3000, 10000], 2) { $0.steps = $1 },
        ]
    }

    public var config: ClassifierConfig {
        var c = ClassifierConfig()
        for s in settings { s.choices[s.index].apply(&c) }
        return c
    }

    public var keyTable: [KeyBinding] {
        formKeys
            + [
                KeyBinding([.enter], "Enter", "start training", footer: true) { app in
                    guard let me = app.top as? ClassifierConfigureScreen else { return }
                    let config = me.config
                    app.start(
                        lab: LabID.classifier,
                        { ClassifierRunner.classifier(config) }, screen: { ClassifierScreen() })
                }
            ]
    }

    public func render(_ r: Rect, into buf: inout Buffer, _ ctx: RenderContext) {
        let dataset = config.dataset
        renderSettings(
            settings.map { ($0.name, $0.label, $0.choices.map(\.label)) }, selected: selected,
            title: ctx.pick("Classifier playground — configure", "Classifier playground - configure"),
            footer: "\(dataset.rawValue): \(dataset.summary). Enter starts; Esc goes back.", r, &buf, ctx)
    }
}
