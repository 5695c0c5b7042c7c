// The GAN lab's settings: objective, data, steps; or open the shipped glyph GAN.
import Labs
import Models
import TerminalUI

public final class GANConfigureScreen: SettingsFormScreen {
    public let title = "GAN lab - configure"
    public var settings: [Setting<GANConfig>]
    public var selected = 0

    public init() {
        settings = [
            Setting(
                name: "objective",
                choices: GANObjective.allCases.map { o in (o.rawValue, { $0.objective = o }) }, index: 2),
            Setting(name: "data", choices: GANData.allCases.map { d in (d.rawValue, { $0.data = d }) }, index: 0),
            Setting(
                name: "steps",
                choices: [0, 300, 1000, 3000, 10000].map { n in
                    (n == 0 ? "preset" : "\(n)", { if n > 0 { $0.steps = n } })
                }, index: 0),
            Setting(
                name: "seed", choices: [UInt64(1), 2, 3, 4].map { s in ("\(s)", { $0.seed = s }) }, index: 0),
        ]
    }

    /// The preset of the chosen objective and data, with the other choices applied.
    public var config: GANConfig {
        var base = GANConfig()
        settings[0].choices[settings[0].index].apply(&base)
        settings[1].choices[settings[1].index].apply(&base)
        var c = GANConfig.preset(base.objective, data: base.data)
        for s in settings.dropFirst(2) { s.choices[s.index].apply(&c) }
        return c
    }

    public var keyTable: [KeyBinding] {
        formKeys + [
            KeyBinding([.enter], "Enter", "start training", footer: true) { app in
                guard let me = app.top as? GANConfigureScreen else { return }
                let config = me.config
                app.start(lab: LabID.gan, { GANRunner.gan(config) }, screen: { GANScreen() })
            },
            KeyBinding(
                [.char("p")], "p", "open the shipped glyph GAN (trained; train it further with space)", footer: true
            ) {
                app in
                var initial = GANSnapshot()
                initial.model = "the shipped glyph GAN"
                app.start(
                    lab: LabID.gan,
                    {
                        GANRunner(title: "GAN lab", initial: initial, loadedIsSaved: true) {
                            try ShippedImageModels.gan()
                        }
                    }, screen: { GANScreen() })
            },
        ]
    }

    public func render(_ r: Rect, into buf: inout Buffer, _ ctx: RenderContext) {
        let c = config
        let what =
            c.data.isImage
            ? "DCGAN on \(c.data.rawValue) (\(c.imageSize)×\(c.imageSize)), \(c.steps) steps"
            : "MLP \(c.depth)×\(c.width) on \(c.data.rawValue): critic field, estimate vs exact W1, coverage"
        renderSettings(
            settings.map { ($0.name, $0.label, $0.choices.map(\.label)) }, selected: selected,
            title: ctx.pick("GAN lab — configure", "GAN lab - configure"),
            footer: "\(c.objective.rawValue): \(what). Enter starts; p opens the shipped glyph GAN; Esc goes back.", r,
            &buf, ctx)
    }
}
