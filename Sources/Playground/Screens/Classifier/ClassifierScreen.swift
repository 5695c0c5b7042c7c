// The classifier playground: the decision boundary as a colour map under the data points, live;
// what each first-layer neuron responds to; the loss curve; PNG export of the boundary.
import Foundation
import Labs
import Models
import TerminalUI

extension LabID {
    public static let classifier = "classifier"
}

public final class ClassifierScreen: Screen {
    public let title = "classifier playground"
    public init() {}

    static func runner(_ app: App) -> ClassifierRunner? { app.runners[LabID.classifier] as? ClassifierRunner }

    static func homeStatus(_ app: App) -> String {
        guard let r = runner(app) else { return "idle" }
        let s = r.snapshot.get()
        let st = r.status.get()
        return "\(s.dataset.rawValue): step \(st.step)/\(s.totalSteps), \(LanguageScreen.phaseWord(st.phase))"
            + String(format: ", accuracy %.1f%%", s.accuracy * 100)
    }

    static func open(_ app: App) {
        if runner(app) != nil { app.push(ClassifierScreen()) } else { app.push(ClassifierConfigureScreen()) }
    }

    public var keyTable: [KeyBinding] {
        [
            KeyBinding([.char(" ")], "space", "pause / resume", footer: true) { app in
                guard let r = ClassifierScreen.runner(app) else { return }
                r.send(r.status.get().phase == .paused ? .resume : .pause)
            },
            KeyBinding([.char("r")], "r", "restart from new random weights") { app in
                ClassifierScreen.runner(app)?.send(.lab(.restart))
            },
            KeyBinding([.char("e")], "e", "export the decision boundary as PNG", footer: true) { app in
                guard let r = ClassifierScreen.runner(app) else { return }
                let s = r.snapshot.get()
                let path = app.exportDirectory + "/orrery-boundary-\(s.dataset.rawValue)-step\(s.step).png"
                do {
                    let (w, h, px) = BoundaryImage.rgb(s, size: 256)
                    try PNGExport.write(path, width: w, height: h, rgb: px)
                    app.status = "wrote \(path)"
                } catch { app.status = "\(error)" }
            },
            KeyBinding([.char("w")], "w", "save the session", footer: true) { app in app.save(lab: LabID.classifier) },
            KeyBinding([.char("n")], "n", "new run (asks before discarding unsaved steps)") { app in
                app.push(ClassifierConfigureScreen())
            },
        ]
    }

    public func render(_ r: Rect, into buf: inout Buffer, _ ctx: RenderContext) {
        guard let runner = ClassifierScreen.runner(ctx.app) else { return }
        let s = runner.snapshot.get()
        let st = runner.status.get()
        let cols = r.columns([3, 2])
        let title = "\(s.dataset.rawValue) · P(orange)" + String(format: " · accuracy %.1f%%", s.accuracy * 100)
        let map = buf.box(
            cols[0], title: ctx.pick(title, title.replacingOccurrences(of: "·", with: "-")), glyphs: ctx.glyphs,
            focused: true)
        BoundaryView(snapshot: s).render(map, into: &buf, ctx)
        let (top, bottom) = cols[1].splitTop(cols[1].height / 2)
        let plotArea = buf.box(top, title: "loss · \(s.model)", glyphs: ctx.glyphs)
        var plot = LinePlot(series: [Series(name: "train", points: s.losses, color: 75)], logY: true)
        plot.monochrome = ctx.colors == 0
        plot.render(plotArea, into: &buf, ctx.widgets)
        let na = buf.box(bottom, title: "first-layer neurons", glyphs: ctx.glyphs)
        let images = s.neurons.map { NeuronImage.view($0) }
        if !images.isEmpty && na.height >= 3 {
            let per = max(1, (na.width + 1) / 9)
            ImageGrid(images: images, columns: per).render(na, into: &buf, ctx.widgets)
        }
        _ = st
    }

    public func statusFields(app: App) -> [(String, String)] {
        guard let r = ClassifierScreen.runner(app) else { return [] }
        let s = r.snapshot.get()
        let st = r.status.get()
        return [
            ("step", "\(s.step)/\(s.totalSteps)"), ("", LanguageScreen.phaseWord(st.phase)),
            ("loss", s.losses.last.map { String(format: "%.4f", $0.y) } ?? "-"),
            ("accuracy", String(format: "%.1f%%", s.accuracy * 100)),
        ]
    }
}

/// The decision boundary under the points: each cell is two pixels of the probability map (half
/// blocks), each data point a marker in its class's colour. Without colour: a density ramp for the
/// probability and the letters a / b for the two classes.
struct BoundaryView {
    let snapshot: ClassifierSnapshot

    func render(_ area: Rect, into buf: inout Buffer, _ ctx: RenderContext) {
        let s = snapshot
        guard !s.probability.isEmpty, area.width > 2, area.height > 2 else { return }
        // Square in pixels: a cell is 1 wide and 2 tall in half-block pixels.
        let side = min(area.width, area.height * 2)
        let cols = side
        let rows = (side + 1) / 2
        let x0 = area.x + (area.width - cols) / 2
        let y0 = area.y + (area.height - rows) / 2
        if ctx.colors > 0 && ctx.glyphs.unicode {
            let (w, h, px) = BoundaryImage.rgb(s, size: side, points: false)
            ImageView(width: w, height: h, rgb: px).render(
                Rect(x: x0, y: y0, width: cols, height: rows), into: &buf, ctx.widgets)
        } else {
            // Without colour the two classes' tints have the same brightness: draw the probability
            // itself, blank for class a (0) through dense for class b (1).
            let ramp: [Unicode.Scalar] = [" ", ".", ":", "+", "#"]
            let n = s.probability.count
            for cy in 0..<rows {
                for cx in 0..<cols {
                    let p = s.probability[min(n - 1, cy * n / rows)][min(n - 1, cx * n / cols)]
                    buf.set(x0 + cx, y0 + cy, ramp[min(4, Int(p * 5))], Style(fg: ctx.theme.faint))
                }
            }
        }
        let b = s.bounds
        for p in s.points {
            let cx = Int(((p.x - b.x0) / (b.x1 - b.x0) * Float(cols)).rounded(.down))
            let cy = Int(((b.y1 - p.y) / (b.y1 - b.y0) * Float(rows)).rounded(.down))
            guard cx >= 0, cy >= 0, cx < cols, cy < rows else { continue }
            let under = buf[x0 + cx, y0 + cy].style
            if ctx.colors > 0 {
                buf.set(
                    x0 + cx, y0 + cy, ctx.pick("●", "o").unicodeScalars.first ?? "o",
                    Style(fg: p.label == 0 ? 25 : 166, bg: under.bg, bold: true))
            } else {
                buf.set(x0 + cx, y0 + cy, p.label == 0 ? "a" : "b", Style(bold: true))
            }
        }
    }
}

enum BoundaryImage {
    /// Light blue (class 0) to light orange (class 1) by probability; points drawn as dots when asked.
    static func rgb(_ s: ClassifierSnapshot, size: Int, points: Bool = true) -> (Int, Int, [UInt8]) {
        let n = s.probability.count
        var px = [UInt8](repeating: 255, count: size * size * 3)
        guard n > 0 else { return (size, size, px) }
        let blue: (Float, Float, Float) = (95, 155, 215)
        let orange: (Float, Float, Float) = (245, 165, 90)
        for y in 0..<size {
            for x in 0..<size {
                let p = s.probability[min(n - 1, y * n / size)][min(n - 1, x * n / size)]
                let i = (y * size + x) * 3
                px[i] = UInt8(blue.0 + (orange.0 - blue.0) * p)
                px[i + 1] = UInt8(blue.1 + (orange.1 - blue.1) * p)
                px[i + 2] = UInt8(blue.2 + (orange.2 - blue.2) * p)
            }
        }
        if points {
            let b = s.bounds
            for p in s.points {
                let cx = Int((p.x - b.x0) / (b.x1 - b.x0) * Float(size))
                let cy = Int((b.y1 - p.y) / (b.y1 - b.y0) * Float(size))
                let c: (UInt8, UInt8, UInt8) = p.label == 0 ? (20, 60, 160) : (190, 80, 0)
                for dy in -2...2 {
                    for dx in -2...2 where dx * dx + dy * dy <= 5 {
                        let xx = cx + dx
                        let yy = cy + dy
                        guard xx >= 0, yy >= 0, xx < size, yy < size else { continue }
                        let i = (yy * size + xx) * 3
                        px[i] = c.0
                        px[i + 1] = c.1
                        px[i + 2] = c.2
                    }
                }
            }
        }
        return (size, size, px)
    }
}

enum NeuronImage {
    /// A neuron's activation over the plane as a grey thumbnail (min black, max white).
    static func view(_ map: [[Float]]) -> ImageView {
        let n = map.count
        let flat = map.flatMap { $0 }
        let lo = flat.min() ?? 0
        let hi = flat.max() ?? 1
        let span = max(hi - lo, 1e-6)
        var px: [UInt8] = []
        px.reserveCapacity(n * n * 3)
        for v in flat {
            let g = UInt8(max(0, min(255, (v - lo) / span * 255)))
            px += [g, g, g]
        }
        return ImageView(width: n, height: n, rgb: px)
    }
}

/// The decision boundary of a classifier session as a PNG (headless: `orrery train classifier --png`).
public enum ClassifierExport {
    public static func boundaryPNG(_ session: ClassifierSession, to path: String, size: Int = 256) throws {
        var s = ClassifierSnapshot()
        s.probability = session.probe(n: 96, neurons: 0).probability
        let p = session.data.points.toArray()
        s.points = session.data.labels.enumerated().map { (p[2 * $0.offset], p[2 * $0.offset + 1], $0.element) }
        s.bounds = session.bounds
        let (w, h, px) = BoundaryImage.rgb(s, size: size)
        try PNGExport.write(path, width: w, height: h, rgb: px)
    }
}
