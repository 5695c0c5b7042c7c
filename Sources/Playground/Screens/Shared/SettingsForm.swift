// A lab's settings before a run, shared by every configure screen: each setting a list of typed
// choices (what a choice does to the configuration, not a string looked up later), ↑/↓ to choose a
// setting, ←/→ to change it.
import TerminalUI

public struct Setting<Config> {
    public let name: String
    public let choices: [(label: String, apply: (inout Config) -> Void)]
    public var index: Int
    public var label: String { choices[index].label }
    public init(name: String, choices: [(label: String, apply: (inout Config) -> Void)], index: Int) {
        self.name = name
        self.choices = choices
        self.index = index
    }
}

/// The four keys of a settings form.
func settingKeys(
    selected: @escaping @Sendable (App) -> Int, setSelected: @escaping @Sendable (App, Int) -> Void, count: Int,
    step: @escaping @Sendable (App, Int) -> Void
) -> [KeyBinding] {
    [
        KeyBinding([.up], "↑/↓", ascii: "Up/Down", "choose a setting") { app in
            setSelected(app, (selected(app) + count - 1) % count)
        },
        KeyBinding([.down], "↓", ascii: "Down", "next setting") { app in setSelected(app, (selected(app) + 1) % count)
        },
        KeyBinding([.left], "←/→", ascii: "Left/Right", "change it") { app in step(app, -1) },
        KeyBinding([.right], "→", ascii: "Right", "next value") { app in step(app, 1) },
    ]
}

/// Draws a settings form: name, current value, and the choices, with a closing note.
func renderSettings(
    _ rows: [(name: String, value: String, choices: [String])], selected: Int, title: String, footer: String,
    _ r: Rect, _ buf: inout Buffer, _ ctx: RenderContext
) {
    let inner = buf.box(r, title: title, glyphs: ctx.glyphs, focused: true)
    let valueX = inner.x + 18
    let rangeX = inner.x + 34
    for (i, row) in rows.enumerated() {
        let sel = i == selected
        let y = inner.y + 1 + i
        buf.text(
            inner.x + 2, y, (sel ? ctx.pick("▶ ", "> ") : "  ") + row.name,
            Style(fg: sel ? ctx.theme.accent : ctx.theme.text, bold: sel))
        buf.text(
            valueX, y, ctx.pick("◀ \(row.value) ▶", "< \(row.value) >"),
            Style(fg: sel ? ctx.theme.model : ctx.theme.label, bold: sel))
        let range = row.choices.joined(separator: ctx.pick(" · ", " "))
        buf.text(rangeX, y, elide(range, inner.x + inner.width - rangeX - 1, ctx), Style(fg: ctx.theme.faint))
    }
    var y = inner.y + rows.count + 2
    for line in wrap(footer, width: max(10, inner.width - 3)) where y < inner.y + inner.height {
        buf.text(inner.x + 2, y, line, Style(fg: ctx.theme.faint), maxWidth: inner.width - 3)
        y += 1
    }
}
