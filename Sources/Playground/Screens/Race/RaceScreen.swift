// The race on screen: validation loss of the GPT, the LSTM and the GRU against steps and against the
// compute time each has used, with tokens/s and parameters beside each.
import Foundation
import Labs
import TerminalUI

extension LabID {
    public static let race = "race"
}

public final class RaceScreen: Screen {
    public let title = "the race"
    public init() {}

    static let colors: [Color] = [75, 214, 114]

    static func runner(_ app: App) -> RaceRunner? { app.runners[LabID.race] as? RaceRunner }

    public var keyTable: [KeyBinding] {
        [
            KeyBinding([.char(" ")], "space", "pause / resume", footer: true) { app in
                guard let r = RaceScreen.runner(app) else { return }
                r.send(r.status.get().phase == .paused ? .resume : .pause)
            },
            KeyBinding([.char("w")], "w", "save the three sessions", footer: true) { app in app.save(lab: LabID.race) },
        ]
    }

    public func render(_ r: Rect, into buf: inout Buffer, _ ctx: RenderContext) {
        guard let runner = RaceScreen.runner(ctx.app) else { return }
        let s = runner.snapshot.get()
        let st = runner.status.get()
        if case .failed(let why) = st.phase, s.entries.isEmpty {
            buf.text(r.x + 1, r.y + 1, "error: \(why)", Style(fg: ctx.theme.error), maxWidth: r.width - 2)
            return
        }
        let tableHeight = min(r.height / 3, s.entries.count + 3)
        let (plots, table) = r.splitBottom(tableHeight)
        let cols = plots.columns([1, 1])
        for (i, byTime) in [false, true].enumerated() {
            let area = buf.box(
                cols[i], title: byTime ? "validation loss vs seconds of compute" : "validation loss vs steps",
                glyphs: ctx.glyphs, focused: i == 0)
            let series = s.entries.enumerated().map { k, e in
                Series(
                    name: e.name.split(separator: " ").first.map(String.init) ?? e.name,
                    points: byTime ? e.bySeconds : e.byStep,
                    color: RaceScreen.colors[k % RaceScreen.colors.count])
            }
            var plot = LinePlot(series: series)
            plot.monochrome = ctx.colors == 0
            plot.integerX = !byTime
            plot.render(area, into: &buf, ctx.widgets)
        }
        let t = buf.box(table, title: "contestants", glyphs: ctx.glyphs)
        // One set of column widths for the header and the rows: the name left-aligned, numbers
        // right-aligned ("-" for a loss not measured yet stands where the number will).
        let widths = [15, 8, 8, 10, 8, 9]
        func row(_ cells: [String]) -> String {
            zip(cells, widths).enumerated().map { i, cw in
                let (c, w) = cw
                let pad = String(repeating: " ", count: Swift.max(0, w - c.terminalColumns))
                return i == 0 ? c + pad : pad + c
            }.joined()
        }
        buf.text(
            t.x + 1, t.y, row(["model", "params", "step", "val loss", "tok/s", "seconds"]), Style(fg: ctx.theme.dim),
            maxWidth: t.width - 1)
        for (k, e) in s.entries.enumerated() where k + 1 < t.height {
            let line = row([
                e.name, "\(e.parameters)", "\(e.step)", e.byStep.last.map { String(format: "%.4f", $0.y) } ?? "-",
                String(format: "%.0f", e.tokensPerSecond), String(format: "%.1f", e.seconds),
            ])
            buf.text(
                t.x + 1, t.y + 1 + k, line, Style(fg: RaceScreen.colors[k % RaceScreen.colors.count]),
                maxWidth: t.width - 1)
        }
    }

    public func statusFields(app: App) -> [(String, String)] {
        guard let r = RaceScreen.runner(app) else { return [] }
        let s = r.snapshot.get()
        let st = r.status.get()
        return [("step", "\(st.step)/\(s.steps)"), ("", LanguageScreen.phaseWord(st.phase))]
    }
}
