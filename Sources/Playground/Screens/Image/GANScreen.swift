// The GAN lab: on 2-D data, the critic's value over the plane under the real and generated points,
// its Wasserstein estimate beside the exact W1, mode coverage, the losses and the critic's gradient-
// norm histogram; on images, the fixed-noise sample grid, its timeline, and the losses.
import Foundation
import Labs
import Models
import TerminalUI

extension LabID {
    public static let gan = "gan"
}

public final class GANScreen: Screen {
    public let title = "GAN lab"
    public init() {}

    static func runner(_ app: App) -> GANRunner? { app.runners[LabID.gan] as? GANRunner }

    static func homeStatus(_ app: App) -> String {
        guard let r = runner(app) else { return "idle" }
        let s = r.snapshot.get()
        let st = r.status.get()
        var t = "\(s.config.objective.rawValue) on \(s.config.data.rawValue): step \(st.step)/\(s.totalSteps), "
        t += LanguageScreen.phaseWord(st.phase)
        if let w = s.w1.last { t += String(format: ", exact W1 %.3f", w.exact) }
        return t
    }

    static func open(_ app: App) {
        if runner(app) != nil { app.push(GANScreen()) } else { app.push(GANConfigureScreen()) }
    }

    public var keyTable: [KeyBinding] {
        [
            KeyBinding([.char(" ")], "space", "pause / resume", footer: true) { app in
                guard let r = GANScreen.runner(app) else { return }
                r.send(r.status.get().phase == .paused ? .resume : .pause)
            },
            KeyBinding([.char("e")], "e", "export the view as PNG", footer: true) { app in
                guard let r = GANScreen.runner(app) else { return }
                GANScreen.export(r.snapshot.get(), app: app)
            },
            KeyBinding([.char("w")], "w", "save the session", footer: true) { app in app.save(lab: LabID.gan) },
            KeyBinding([.char("r")], "r", "restart from new random weights") { app in
                GANScreen.runner(app)?.send(.lab(.restart))
            },
            KeyBinding([.char("n")], "n", "new run (asks before discarding unsaved steps)", footer: true) { app in
                app.push(GANConfigureScreen())
            },
        ]
    }

    static func export(_ s: GANSnapshot, app: App) {
        let c = s.config
        let title = "\(c.objective.rawValue) on \(c.data.rawValue), step \(s.step)"
        let base = app.exportDirectory + "/orrery-\(c.objective.rawValue)-\(c.data.rawValue)-step\(s.step)"
        do {
            if let p = s.plane {
                let img = ImageExport.planePNG(p, title: title)
                try PNGExport.write(base + ".png", width: img.0, height: img.1, rgb: img.2)
                let series = [
                    Series(name: "critic estimate", points: s.w1.map { ($0.step, $0.estimate) }, color: 208),
                    Series(name: "exact W1", points: s.w1.map { ($0.step, $0.exact) }, color: 33),
                ]
                let plot = PNGExport.plot(series, title: "W1: critic estimate vs exact, \(c.data.rawValue)")
                try PNGExport.write(base + "-w1.png", width: plot.0, height: plot.1, rgb: plot.2)
                app.status = "wrote \(base).png and \(base)-w1.png"
            } else {
                let img = ImageExport.gridPNG(s.samples, columns: 8, scale: 4, title: title)
                try PNGExport.write(base + ".png", width: img.0, height: img.1, rgb: img.2)
                app.status = "wrote \(base).png"
            }
        } catch { app.status = "\(error)" }
    }

    public func render(_ r: Rect, into buf: inout Buffer, _ ctx: RenderContext) {
        guard let runner = GANScreen.runner(ctx.app) else { return }
        let s = runner.snapshot.get()
        let cols = r.columns([3, 2])
        if let p = s.plane {
            let t = "critic D(x) over the plane: real " + ctx.pick("○", "o") + " generated " + ctx.pick("●", "*")
            let left = buf.box(cols[0], title: t, glyphs: ctx.glyphs, focused: true)
            PlaneView(probe: p).render(left, into: &buf, ctx)
            let parts = cols[1].rows([2, 2, 1])
            let wArea = buf.box(
                parts[0],
                title: "W1: critic estimate vs exact" + (s.config.objective == .gan ? " (GAN: no estimate)" : ""),
                glyphs: ctx.glyphs)
            var series = [Series(name: "exact W1", points: s.w1.map { ($0.step, $0.exact) }, color: 33)]
            if s.config.objective.isWasserstein {
                series.append(Series(name: "estimate", points: s.w1.map { ($0.step, $0.estimate) }, color: 208))
            }
            var plot = LinePlot(series: series)
            plot.monochrome = ctx.colors == 0
            plot.render(wArea, into: &buf, ctx.widgets)
            let lArea = buf.box(parts[1], title: "losses · \(s.model)", glyphs: ctx.glyphs)
            var lp = LinePlot(
                series: [
                    Series(name: "D", points: s.lossD, color: 75), Series(name: "G", points: s.lossG, color: 208),
                ])
            lp.smoothing = 0.9
            lp.monochrome = ctx.colors == 0
            lp.render(lArea, into: &buf, ctx.widgets)
            let hArea = buf.box(
                parts[2],
                title: ctx.pick(
                    "critic ‖∇D‖ at interpolates (1 = Lipschitz)", "critic |grad D| at interpolates (1 = Lipschitz)"),
                glyphs: ctx.glyphs)
            BarChart(items: GANScreen.histogram(p.gradientNorms, bins: max(1, hArea.height))).render(
                hArea, into: &buf, ctx.widgets)
        } else {
            let left = buf.box(
                cols[0], title: "samples from fixed noise · step \(s.step)", glyphs: ctx.glyphs, focused: true)
            drawGrid(s.samples, left, &buf, ctx)
            let (top, bottom) = cols[1].splitTop(cols[1].height / 2)
            let tl = buf.box(top, title: "the same noise over training", glyphs: ctx.glyphs)
            // Newest first; each row as tall as lets at least two rows fit (images scale down to it).
            var y = tl.y
            for entry in s.timeline.reversed() {
                let h = max(2, min((entry.grid.side + 1) / 2, (tl.height - 1) / 2))
                guard y + h <= tl.y + tl.height else { break }
                buf.text(tl.x, y, "\(entry.step)", Style(fg: ctx.theme.dim))
                let area = Rect(x: tl.x + 6, y: y, width: tl.width - 6, height: h)
                let per = max(1, min(entry.grid.count, (area.width + 1) / (2 * h + 1)))
                let shown = Rect(x: area.x, y: y, width: min(area.width, per * (2 * h + 1) - 1), height: h)
                ImageGrid(images: Array(entry.grid.prefix(per).views), columns: per).render(
                    shown, into: &buf, ctx.widgets)
                y += h + 1
            }
            let lArea = buf.box(bottom, title: "losses · \(s.model)", glyphs: ctx.glyphs)
            var lp = LinePlot(
                series: [
                    Series(name: "D", points: s.lossD, color: 75), Series(name: "G", points: s.lossG, color: 208),
                ])
            lp.smoothing = 0.9
            lp.monochrome = ctx.colors == 0
            lp.render(lArea, into: &buf, ctx.widgets)
        }
    }

    /// Counts of values in `bins` equal-width bins from 0 to the largest value (labels are bin ranges).
    static func histogram(_ v: [Float], bins: Int) -> [(label: String, value: Double)] {
        guard let hi = v.max(), hi > 0, bins > 0 else { return [] }
        var counts = [Int](repeating: 0, count: bins)
        for x in v { counts[min(bins - 1, Int(x / hi * Float(bins)))] += 1 }
        return counts.enumerated().map { i, c in
            (String(format: "%.2f-%.2f", hi * Float(i) / Float(bins), hi * Float(i + 1) / Float(bins)), Double(c))
        }
    }

    public func statusFields(app: App) -> [(String, String)] {
        guard let r = GANScreen.runner(app) else { return [] }
        let s = r.snapshot.get()
        let st = r.status.get()
        var f: [(String, String)] = [("step", "\(s.step)/\(s.totalSteps)"), ("", LanguageScreen.phaseWord(st.phase))]
        if let w = s.w1.last {
            if s.config.objective.isWasserstein { f.append(("estimate", String(format: "%.3f", w.estimate))) }
            f.append(("W1", String(format: "%.3f", w.exact)))
            f.append(("modes", "\(w.modes)/\(s.config.data.plane?.modes.count ?? 0)"))
        } else {
            f.append(("D", s.lossD.last.map { String(format: "%.3f", $0.y) } ?? "-"))
            f.append(("G", s.lossG.last.map { String(format: "%.3f", $0.y) } ?? "-"))
        }
        return f
    }
}

/// The critic's field in half-blocks (blue low → red high), real points ○ and generated ●; without
/// colour a density ramp for the field and o / * for the points.
struct PlaneView {
    let probe: GANPlaneProbe

    func render(_ area: Rect, into buf: inout Buffer, _ ctx: RenderContext) {
        let p = probe
        guard !p.field.isEmpty, area.width > 2, area.height > 2 else { return }
        let side = min(area.width, area.height * 2)
        let cols = side
        let rows = (side + 1) / 2
        let x0 = area.x + (area.width - cols) / 2
        let y0 = area.y + (area.height - rows) / 2
        let n = p.field.count
        let flat = p.field.flatMap { $0 }.filter(\.isFinite)
        let lo = flat.min() ?? 0
        let hi = flat.max() ?? 1
        func value(_ r: Int, _ c: Int) -> Float {
            let v = p.field[min(n - 1, r * n / (rows * 2))][min(n - 1, c * n / cols)]
            return v.isFinite ? (v - lo) / max(hi - lo, 1e-9) : 0
        }
        if ctx.colors > 0 && ctx.glyphs.unicode {
            for cy in 0..<rows {
                for cx in 0..<cols {
                    buf.set(
                        x0 + cx, y0 + cy, "▀",
                        Style(fg: Heatmap.color(value(2 * cy, cx)), bg: Heatmap.color(value(2 * cy + 1, cx))))
                }
            }
        } else {
            let ramp: [Unicode.Scalar] = [" ", ".", ":", "-", "=", "+"]
            for cy in 0..<rows {
                for cx in 0..<cols {
                    buf.set(x0 + cx, y0 + cy, ramp[min(5, Int(value(2 * cy, cx) * 6))], Style(fg: ctx.theme.faint))
                }
            }
        }
        let b = p.bounds
        func place(_ x: Float, _ y: Float) -> (Int, Int)? {
            let cx = Int(((x - b.x0) / (b.x1 - b.x0) * Float(cols)).rounded(.down))
            let cy = Int(((b.y1 - y) / (b.y1 - b.y0) * Float(rows)).rounded(.down))
            guard cx >= 0, cy >= 0, cx < cols, cy < rows else { return nil }
            return (cx, cy)
        }
        for q in p.real {
            guard let (cx, cy) = place(q.x, q.y) else { continue }
            let under = buf[x0 + cx, y0 + cy].style
            buf.set(
                x0 + cx, y0 + cy, ctx.glyphs.unicode ? "○" : "o", Style(fg: ctx.colors > 0 ? 231 : -1, bg: under.bg))
        }
        for q in p.fake {
            guard let (cx, cy) = place(q.x, q.y) else { continue }
            let under = buf[x0 + cx, y0 + cy].style
            buf.set(
                x0 + cx, y0 + cy, ctx.glyphs.unicode ? "●" : "*",
                Style(fg: ctx.colors > 0 ? 16 : -1, bg: under.bg, bold: true))
        }
    }
}
