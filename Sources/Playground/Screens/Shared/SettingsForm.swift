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

/// A configure screen: settings over a lab's configuration, edited with the same four keys.
protocol SettingsFormScreen: Screen {
    associatedtype Config
    var settings: [Setting<Config>] { get set }
    var selected: Int { get set }
}

extension SettingsFormScreen {
    /// ↑/↓ choose a setting, ←/→ change it (for whichever form is on top).
    var formKeys: [KeyBinding] {
        let count = settings.count
        @Sendable func form(_ app: App) -> Self? { app.top as? Self }
        @Sendable func step(_ app: App, _ d: Int) {
            guard let me = form(app) else { return }
            let s = me.settings[me.selected]
            me.settings[me.selected].index = max(0, min(s.choices.count - 1, s.index + d))
        }
        return [
            KeyBinding([.up], "↑/↓", ascii: "Up/Down", "choose a setting") { app in
                guard let me = form(app) else { return }
                me.selected = (me.selected + count - 1) % count
            },
            KeyBinding([.down], "↓", ascii: "Down", "next setting") { app in
                guard let me = form(app) else { return }
                me.selected = (me.selected + 1) % count
            },
            KeyBinding([.left], "←/→", ascii: "Left/Right", "change it") { app in step(app, -1) },
            KeyBinding([.right], "→", ascii: "Right", "next value") { app in step(app, 1) },
        ]
    }
}

/// Draws a settings form: name, current value, and the choices, with a closing note.
func renderSettings(
    _ rows: [(name: String, value: String, choices: [String])], selected: Int, title: String, footer: String,
    _ r: Rect, _ buf: inout Buffer, _ ctx: RenderContext
) {
    let inner = buf.box(r, title: title, glyphs: ctx.glyphs, focused: true)
    // Columns wide enough for the longest name and value (at least the classic 18 / 34).
    let nameW = rows.map { $0.name.count }.max() ?? 0
    let valueW = rows.map { r in r.choices.map(\.count).max() ?? r.value.count }.max() ?? 0
    let valueX = inner.x + Swift.max(18, 4 + nameW + 2)
    let rangeX = Swift.max(inner.x + 34, valueX + valueW + 6)
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
