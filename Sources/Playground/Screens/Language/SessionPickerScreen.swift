// Opens a saved language session: the session directories found in the folder the UI saves into
// (and its subfolders one level down), newest first; Enter continues the chosen one.
import Foundation
import Labs
import TerminalUI

public final class SessionPickerScreen: Screen {
    public let title = "open a saved session"
    public let sessions: [(path: String, summary: String)]
    public var selected = 0

    public init(folder: String) {
        let fm = FileManager.default
        var found: [(String, String, Date)] = []
        for name in (try? fm.contentsOfDirectory(atPath: folder)) ?? [] where !name.hasPrefix(".") {
            for dir in [folder + "/" + name]
                + ((try? fm.contentsOfDirectory(atPath: folder + "/" + name)) ?? []).map({
                    folder + "/" + name + "/" + $0
                })
            {
                guard let summary = LanguageSessionDirectory.describe(dir) else { continue }
                let date = (try? fm.attributesOfItem(atPath: dir)[.modificationDate] as? Date) ?? .distantPast
                found.append((dir, summary, date ?? .distantPast))
            }
        }
        sessions = found.sorted { $0.2 > $1.2 }.map { ($0.0, $0.1) }
    }

    public var keyTable: [KeyBinding] {
        @Sendable func me(_ app: App) -> SessionPickerScreen? { app.top as? SessionPickerScreen }
        return [
            KeyBinding([.up], "↑/↓", ascii: "Up/Down", "choose a session") { app in
                guard let m = me(app), !m.sessions.isEmpty else { return }
                m.selected = (m.selected + m.sessions.count - 1) % m.sessions.count
            },
            KeyBinding([.down], "↓", ascii: "Down", "next session") { app in
                guard let m = me(app), !m.sessions.isEmpty else { return }
                m.selected = (m.selected + 1) % m.sessions.count
            },
            KeyBinding([.enter], "Enter", "continue it in the language lab", footer: true) { app in
                guard let m = me(app), m.selected < m.sessions.count else { return }
                let path = m.sessions[m.selected].path
                app.home()
                app.openLanguage(directory: path)
            },
        ]
    }

    public func render(_ r: Rect, into buf: inout Buffer, _ ctx: RenderContext) {
        let inner = buf.box(r, title: "Open a saved language session", glyphs: ctx.glyphs, focused: true)
        if sessions.isEmpty {
            for (i, line) in wrap(
                "No saved sessions here (\(ctx.app.exportDirectory)). Save one with w in the language lab, "
                    + "or train with 'orrery train gpt --out DIR' and open it with 'orrery --open DIR'.",
                width: inner.width - 3
            )
            .enumerated() where i < inner.height {
                buf.text(inner.x + 2, inner.y + 1 + i, line, Style(fg: ctx.theme.dim))
            }
            return
        }
        for (i, s) in sessions.enumerated() where 1 + 2 * i < inner.height {
            let sel = i == selected
            let y = inner.y + 1 + 2 * i
            buf.text(
                inner.x + 2, y, (sel ? ctx.pick("▶ ", "> ") : "  ") + elide(s.path, inner.width - 5, ctx),
                Style(fg: sel ? ctx.theme.accent : ctx.theme.text, bold: sel))
            buf.text(inner.x + 4, y + 1, elide(s.summary, inner.width - 5, ctx), Style(fg: ctx.theme.dim))
        }
    }
}
