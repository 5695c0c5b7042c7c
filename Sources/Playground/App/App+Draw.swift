// Drawing the frame: the top screen, the status line (fields on the left, the screen's main keys on
// the right), and the overlays. Pure: reads the app, writes the buffer.
import Foundation
import TerminalUI

extension App {
    func draw(into buf: inout Buffer, _ ctx: RenderContext) {
        if buf.width < App.minWidth || buf.height < App.minHeight {
            let msg = "enlarge the terminal: \(App.minWidth)×\(App.minHeight) needed, now \(buf.width)×\(buf.height)"
            for (i, line) in wrap(ctx.pick(msg, msg.replacingOccurrences(of: "×", with: "x")), width: buf.width)
                .prefix(buf.height).enumerated()
            {
                buf.text(0, i, line, Style(fg: ctx.theme.warning))
            }
            return
        }
        let (main, statusLine) = buf.area.splitBottom(1)
        top.render(main, into: &buf, ctx)
        drawStatus(statusLine, &buf, ctx)
        if help {
            let table = top.keyTable + App.globalKeys
            let width = table.map { $0.label(unicode: ctx.glyphs.unicode).count }.max() ?? 8
            let lines = table.map {
                $0.label(unicode: ctx.glyphs.unicode).padding(toLength: width + 2, withPad: " ", startingAt: 0)
                    + $0.help
            }
            overlay(title: ctx.pick("keys · ", "keys - ") + top.title, lines: lines, &buf, ctx)
        }
        if let c = confirmation { overlay(title: c.title, lines: c.lines, &buf, ctx) }
    }

    /// The screen's fields, the status message, and (right-aligned) its footer keys.
    func drawStatus(_ r: Rect, _ buf: inout Buffer, _ ctx: RenderContext) {
        var fields = top.statusFields(app: self)
        // Sessions running behind the current screen (several labs may train at once).
        let running = runners.values.filter { $0.status.get().isActive }.map(\.title).sorted()
        if !running.isEmpty && !(top is HomeScreen) { fields.append(("running", "\(running.count)")) }
        // Footer: the screen's main keys, whole items only, as many as fit in a third of the line
        // ("? keys" first, so help is always one key away), each with the first word of its help
        // ("profile: where a step's time goes" reads "p profile", not "p profile:").
        let items = ([App.globalKeys[0]] + top.keyTable.filter(\.footer) + App.globalKeys.dropFirst().filter(\.footer))
            .map {
                let word = ($0.help.split(separator: " ").first ?? "").trimmingCharacters(
                    in: .init(charactersIn: ":;,"))
                return "\($0.label(unicode: ctx.glyphs.unicode)) \(word)"
            }
        let separator = ctx.pick(" · ", " | ")
        var footer = ""
        for item in items {
            let next = footer.isEmpty ? item : footer + separator + item
            if next.count > r.width / 3 { continue }
            footer = next
        }
        let footerWidth = footer.count
        let left = Rect(x: r.x, y: r.y, width: r.width - footerWidth - 1, height: 1)
        let message = Date().timeIntervalSince(statusSetAt) < App.statusLifetime ? status : ""
        StatusBar(fields: fields, message: message).render(left, into: &buf, ctx.widgets)
        buf.text(r.x + r.width - footerWidth, r.y, footer, Style(fg: ctx.theme.dim))
    }

    func overlay(title: String, lines: [String], _ buf: inout Buffer, _ ctx: RenderContext) {
        let maxW = buf.width - 4
        let wrapped = lines.flatMap { $0.isEmpty ? [""] : wrap($0, width: maxW - 4) }
        let w = min(maxW, max(title.count + 6, (wrapped.map(\.count).max() ?? 10) + 4))
        let h = min(buf.height - 2, wrapped.count + 2)
        let r = Rect(x: (buf.width - w) / 2, y: (buf.height - h) / 2, width: w, height: h)
        buf.fill(r, " ", Style(bg: 235))
        let inner = buf.box(r, title: title, glyphs: ctx.glyphs, focused: true)
        for (i, l) in wrapped.prefix(inner.height).enumerated() {
            buf.text(inner.x + 1, inner.y + i, l, Style(fg: ctx.theme.text, bg: 235), maxWidth: inner.width - 1)
        }
    }
}
