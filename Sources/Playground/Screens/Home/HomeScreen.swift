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
        LabEntry(
            title: "Diffusion lab",
            summary: "text to image, step by step: forwards, back, branch with another prompt or guidance",
            status: DiffusionScreen.homeStatus, open: DiffusionScreen.open
        ),
        LabEntry(
            title: "Sequence lab",
            summary: "online action detection: OadTR vs a GRU on a live stream, attention and anticipation",
            status: SequenceScreen.homeStatus, open: SequenceScreen.open),
        LabEntry(
            title: "DeepSeek lab",
            summary: "MoE load balancing, FP8 training, MTP speculative decoding, MLA caches, scaling laws",
            status: DeepSeekScreen.homeStatus, open: DeepSeekScreen.open),
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

    /// Columns of the longest lab title with its selection marker.
    static let titleColumns = 2 + (labs.map(\.title.terminalColumns).max() ?? 0)

    func move(_ d: Int) { selected = (selected + d + HomeScreen.labs.count) % HomeScreen.labs.count }

    public func render(_ r: Rect, into buf: inout Buffer, _ ctx: RenderContext) {
        let inner = buf.box(
            r, title: ctx.pick("Orrery — watch neural networks learn", "Orrery - watch neural networks learn"),
            glyphs: ctx.glyphs, focused: true)
        buf.text(inner.x + 2, inner.y + 1, "Labs", Style(fg: ctx.theme.text, bold: true))
        // Wide terminals: title and summary side by side; 80 columns: the summary below the title, and
        // the status below that, or beside the title when three lines per lab would not fit.
        let wide = inner.width >= 100
        let (first, rowHeight, offset) = HomeScreen.rows(r, selected: selected)
        let bottom = inner.y + inner.height
        for (i, lab) in HomeScreen.labs.enumerated() where i >= offset {
            let y = first + (i - offset) * rowHeight
            guard y + rowHeight <= bottom else { break }
            let sel = i == selected
            let title = (sel ? ctx.pick("▶ ", "> ") : "  ") + lab.title
            buf.text(inner.x + 2, y, title, Style(fg: sel ? ctx.theme.accent : ctx.theme.text, bold: sel))
            // Wide: the summaries in a column after the longest title (with its marker) and a gap.
            let x = wide ? inner.x + 2 + HomeScreen.titleColumns + 2 : inner.x + 4
            let room = inner.x + inner.width - x - 1
            if wide {
                buf.text(x, y, elide(lab.summary, room, ctx), Style(fg: ctx.theme.dim), maxWidth: room)
                buf.text(x, y + 1, elide(lab.status(ctx.app), room, ctx), Style(fg: ctx.theme.good), maxWidth: room)
            } else if rowHeight == 3 {
                buf.text(x, y + 1, elide(lab.summary, room, ctx), Style(fg: ctx.theme.dim), maxWidth: room)
                buf.text(x, y + 2, elide(lab.status(ctx.app), room, ctx), Style(fg: ctx.theme.good), maxWidth: room)
            } else {
                let sx = inner.x + 2 + title.count + 2
                let sroom = inner.x + inner.width - sx - 1
                if sroom > 4 {
                    buf.text(sx, y, elide(lab.status(ctx.app), sroom, ctx), Style(fg: ctx.theme.good), maxWidth: sroom)
                }
                buf.text(x, y + 1, elide(lab.summary, room, ctx), Style(fg: ctx.theme.dim), maxWidth: room)
            }
        }
        if offset > 0 || first + (HomeScreen.labs.count - offset) * rowHeight > bottom {
            let more =
                "\(offset + 1)–\(min(HomeScreen.labs.count, offset + (bottom - first) / rowHeight)) of \(HomeScreen.labs.count)"
            buf.text(
                inner.x + inner.width - more.count - 2, inner.y + 1,
                ctx.pick(more, more.replacingOccurrences(of: "–", with: "-")), Style(fg: ctx.theme.dim))
        }
    }

    public func statusFields(app: App) -> [(String, String)] { [("orrery", "")] }

    /// Where the labs are drawn (the same geometry `render` and `click` use): the first row, lines per
    /// lab (2 wide; 3 at 80 columns, or 2 when 3 would not fit), and the first lab shown (the list
    /// scrolls to keep `selected` visible when even 2 lines per lab do not fit).
    static func rows(_ area: Rect, selected: Int) -> (first: Int, height: Int, offset: Int) {
        let inner = area.inner
        let first = inner.y + 3
        let space = inner.y + inner.height - first
        var height = inner.width >= 100 ? 2 : 3
        if height == 3 && labs.count * 3 > space { height = 2 }
        let visible = max(1, space / height)
        let offset = selected < visible ? 0 : selected - visible + 1
        return (first, height, offset)
    }

    public func click(x: Int, y: Int, area: Rect, app: App) {
        let (first, height, offset) = HomeScreen.rows(area, selected: selected)
        let i = (y - first) / height + offset
        guard y >= first, i >= 0, i < HomeScreen.labs.count else { return }
        selected = i
        HomeScreen.labs[i].open(app)
    }
}

/// `s` cut to `width` cells with an ellipsis, so a cut line says it was cut.
func elide(_ s: String, _ width: Int, _ ctx: RenderContext) -> String {
    elided(s, columns: width, unicode: ctx.glyphs.unicode)
}
