// The home screen: every lab with what it is doing now; Enter opens it (a running session reopens).
import Foundation
import TerminalUI

/// One row of the home list. Adding a lab to the playground is one line in `HomeScreen.labs`.
public struct LabEntry: Sendable {
    public let title: String, summary: String
    /// What the lab is doing now (one line).
    public let status: @Sendable (App) -> String
    public let open: @Sendable (App) -> Void
}

public final class HomeScreen: Screen {
    public var selected = 0
    public let title = "home"

    public static let labs: [LabEntry] = [
        LabEntry(
            title: "Language lab",
            summary: "train a GPT, LSTM or GRU on built-in stories; watch loss, samples, attention",
            status: LanguageScreen.homeStatus, open: LanguageScreen.open),
        LabEntry(
            title: "Chat", summary: "talk to the shipped tiny chat model; see the attention of each generated token",
            status: ChatScreen.homeStatus, open: ChatScreen.open),
        LabEntry(
            title: "Classifier playground",
            summary: "an MLP separates two classes in the plane; watch its decision boundary form",
            status: ClassifierScreen.homeStatus, open: ClassifierScreen.open),
        LabEntry(
            title: "Attention lesson", summary: "FlashAttention's online softmax, tile by tile",
            status: { _ in "an animation of the kernel's trace" }, open: { $0.push(AttentionLessonScreen()) }),
        LabEntry(
            title: "The race", summary: "GPT vs LSTM vs GRU on the same corpus: validation loss vs steps and vs time",
            status: { app in
                guard let r = RaceScreen.runner(app) else { return "idle (start it from the language lab: r)" }
                let st = r.status.get()
                return "step \(st.step)/\(r.snapshot.get().steps), \(LanguageScreen.phaseWord(st.phase))"
            },
            open: { app in
                if RaceScreen.runner(app) != nil { app.push(RaceScreen()) } else { app.push(LanguageConfigureScreen()) }
            }),
        LabEntry(
            title: "GAN lab",
            summary: "GAN, WGAN, WGAN-GP: the critic over the plane, its W1 estimate vs the exact W1; glyph samples",
            status: GANScreen.homeStatus, open: GANScreen.open),
        LabEntry(
            title: "VQ lab",
            summary: "VQ-VAE / VQGAN: codebook usage, perplexity, dead-code restart; a GPT prior over the codes",
            status: VQScreen.homeStatus, open: VQScreen.open),
    ]

    public init() {}

    public var keyTable: [KeyBinding] {
        [
            KeyBinding([.up, .char("k")], "↑/↓ j/k", ascii: "Up/Down j/k", "choose a lab") { app in
                (app.top as? HomeScreen)?.move(-1)
            },
            KeyBinding([.down, .char("j")], "↓ j", ascii: "Down j", "next lab") { app in
                (app.top as? HomeScreen)?.move(1)
            },
            KeyBinding([.enter], "Enter", "open it (a running session reopens)", footer: true) { app in
                guard let home = app.top as? HomeScreen else { return }
                HomeScreen.labs[home.selected].open(app)
            },
        ]
    }

    func move(_ d: Int) { selected = (selected + d + HomeScreen.labs.count) % HomeScreen.labs.count }

    public func render(_ r: Rect, into buf: inout Buffer, _ ctx: RenderContext) {
        let inner = buf.box(
            r, title: ctx.pick("Orrery — watch neural networks learn", "Orrery - watch neural networks learn"),
            glyphs: ctx.glyphs, focused: true)
        buf.text(inner.x + 2, inner.y + 1, "Labs", Style(fg: ctx.theme.text, bold: true))
        // Wide terminals: title and summary side by side; 80 columns: the summary below the title.
        let wide = inner.width >= 100
        let (first, rowHeight) = HomeScreen.rows(r)
        for (i, lab) in HomeScreen.labs.enumerated() {
            let y = first + i * rowHeight
            let sel = i == selected
            buf.text(
                inner.x + 2, y, (sel ? ctx.pick("▶ ", "> ") : "  ") + lab.title,
                Style(fg: sel ? ctx.theme.accent : ctx.theme.text, bold: sel))
            let x = wide ? inner.x + 24 : inner.x + 4
            let dy = wide ? 0 : 1
            let room = inner.x + inner.width - x - 1
            buf.text(x, y + dy, elide(lab.summary, room, ctx), Style(fg: ctx.theme.dim), maxWidth: room)
            buf.text(x, y + dy + 1, elide(lab.status(ctx.app), room, ctx), Style(fg: ctx.theme.good), maxWidth: room)
        }
    }

    public func statusFields(app: App) -> [(String, String)] { [("orrery", "")] }

    /// The row of each lab on screen (the same geometry `render` uses).
    static func rows(_ area: Rect) -> (first: Int, height: Int) {
        let inner = area.inner
        return (inner.y + 3, inner.width >= 100 ? 2 : 3)
    }

    public func click(x: Int, y: Int, area: Rect, app: App) {
        let (first, height) = HomeScreen.rows(area)
        let i = (y - first) / height
        guard y >= first, i >= 0, i < HomeScreen.labs.count else { return }
        selected = i
        HomeScreen.labs[i].open(app)
    }
}

/// `s` cut to `width` cells with an ellipsis, so a cut line says it was cut.
func elide(_ s: String, _ width: Int, _ ctx: RenderContext) -> String {
    guard width > 0 else { return "" }
    if s.unicodeScalars.count <= width { return s }
    let mark = ctx.pick("…", "~")
    return String(String.UnicodeScalarView(s.unicodeScalars.prefix(max(0, width - 1)))) + mark
}
