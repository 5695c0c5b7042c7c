// The attention lesson: FlashAttention's online softmax played tile by tile. Laid out for 80 × 24
// first: the running max m and normaliser l — the point of the lesson — come first in the right pane
// and are never pushed out; formulas wrap, and have ASCII spellings without a UTF-8 locale.
import Foundation
import TerminalUI

public final class AttentionLessonScreen: Screen {
    public let title = "attention lesson"
    public var lesson = AttentionLesson()
    public var playing = true
    var lastTick = Date()

    public init() {}

    public var keyTable: [KeyBinding] {
        @Sendable func me(_ app: App) -> AttentionLessonScreen? { app.top as? AttentionLessonScreen }
        return [
            KeyBinding([.char(" ")], "space", "play / pause", footer: true) { app in me(app)?.playing.toggle() },
            KeyBinding([.right], "→", ascii: "Right", "step forward", footer: true) { app in
                me(app)?.lesson.forward()
                me(app)?.playing = false
            },
            KeyBinding([.left], "←", ascii: "Left", "step back") { app in
                me(app)?.lesson.back()
                me(app)?.playing = false
            },
        ]
    }

    public func tick(app: App) {
        if playing && Date().timeIntervalSince(lastTick) > 0.35 {
            lesson.forward()
            lastTick = Date()
        }
    }

    public func statusFields(app: App) -> [(String, String)] {
        [("step", "\(lesson.index + 1)/\(lesson.steps.count)"), ("", playing ? "playing" : "paused")]
    }

    public func render(_ r: Rect, into buf: inout Buffer, _ ctx: RenderContext) {
        let ls = lesson
        let st = ls.current
        let cols = r.columns([1, 1])
        let ellipsis = ctx.pick("…", "..")
        let left = buf.box(
            cols[0], title: "scores: row \(st.row), keys \(st.keys.lowerBound)\(ellipsis)\(st.keys.upperBound - 1)",
            glyphs: ctx.glyphs, focused: true)
        // Score grid: the current row and tile highlighted.
        for i in 0..<min(ls.n, left.height - 1) {
            for j in 0..<min(ls.n, (left.width - 1) / 3) {
                let v = ls.scores[i][j]
                let inTile = i == st.row && st.keys.contains(j)
                let done = i < st.row || (i == st.row && j < st.keys.lowerBound)
                let txt = v.isFinite ? String(format: "%+.0f", v * 2) : ctx.pick(" ·", " .")
                let style =
                    inTile
                    ? Style(fg: 16, bg: 220, bold: true)
                    : (done ? Style(fg: ctx.theme.good) : (v.isFinite ? Style(fg: ctx.theme.dim) : Style(fg: 238)))
                buf.text(left.x + 1 + j * 3, left.y + i, txt.padding(toLength: 3, withPad: " ", startingAt: 0), style)
            }
        }
        buf.text(
            left.x + 1, left.y + left.height - 1,
            elide(
                "2 x score, rounded; highlighted: the tile being folded in",
                left.width - 1, ctx), Style(fg: ctx.theme.faint))
        let right = buf.box(cols[1], title: "online softmax", glyphs: ctx.glyphs)
        let minus = ctx.pick("−", "-")
        let arrow = ctx.pick("→", "->")
        var lines: [(String, Style)] = [
            (
                "step \(ls.index + 1) of \(ls.steps.count)"
                    + (playing ? ctx.pick("  ▶ playing", "  > playing") : ctx.pick("  ❚❚ paused", "  || paused")),
                Style(fg: ctx.theme.text, bold: true)
            ),
            (
                String(format: "max m:   %.4f \(arrow) %.4f", st.maxBefore, st.maxAfter),
                Style(fg: ctx.theme.model, bold: true)
            ),
            (
                String(format: "sum l:   %.4f \(arrow) %.4f", st.sumBefore, st.sumAfter),
                Style(fg: ctx.theme.model, bold: true)
            ),
            (String(format: "rescale: exp(m_old \(minus) m_new) = %.4f", st.rescale), Style(fg: ctx.theme.good)),
        ]
        let formulas = [
            ctx.pick(
                "l_new = l·exp(m_old − m_new) + Σ exp(s − m_new)", "l_new = l*exp(m_old - m_new) + sum exp(s - m_new)"),
            ctx.pick(
                "o_new = o·exp(m_old − m_new) + Σ exp(s − m_new)·v",
                "o_new = o*exp(m_old - m_new) + sum exp(s - m_new)*v"),
            "The N x N matrix never exists: one tile at a time, and only m + log l is kept for the backward pass.",
        ]
        var y = right.y
        let width = right.width - 1
        for (text, style) in lines where y < right.y + right.height {
            buf.text(right.x + 1, y, text, style, maxWidth: width)
            y += 1
        }
        lines = formulas.flatMap { f in wrap(f, width: width).map { ($0, Style(fg: ctx.theme.dim)) } }
        for (text, style) in lines where y < right.y + right.height {
            buf.text(right.x + 1, y, text, style, maxWidth: width)
            y += 1
        }
        let hist = ls.steps.prefix(ls.index + 1).filter { $0.row == st.row }
        let bars = hist.map { (label: "tile \($0.tile)", value: Double($0.sumAfter)) }
        let barArea = Rect(x: right.x + 1, y: y + 1, width: width, height: right.y + right.height - y - 1)
        if barArea.height >= 2 {
            buf.text(
                barArea.x, barArea.y, "l after each tile of row \(st.row):", Style(fg: ctx.theme.label), maxWidth: width
            )
            BarChart(items: bars, color: 214).render(
                Rect(x: barArea.x, y: barArea.y + 1, width: barArea.width, height: barArea.height - 1),
                into: &buf, ctx.widgets)
        }
    }
}
