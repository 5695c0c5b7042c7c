// The diffusion lab's step-through: x_t and the predicted x̂_0 side by side for a batch from the
// shipped glyph DDPM (or a session directory); → steps, ← goes back through the kept history, b
// branches at the current step with another sampler / η, Tab switches branches, e exports. Each step
// is one UNet evaluation (tens of milliseconds), so it runs on the UI thread when asked.
import Compute
import Foundation
import Labs
import Models
import TerminalUI

public final class DiffusionScreen: Screen {
    public let title = "diffusion lab"
    let session: DiffusionSession?
    let run: DenoisingRun?
    let failure: String?
    /// The settings a new branch takes, in turn.
    static let variants: [(String, DenoiseSettings)] = {
        var a = DenoiseSettings()
        a.sampler = .ddim
        a.eta = 0
        var b = a
        b.eta = 0.5
        var c = a
        c.sampler = .ddpm
        return [("DDIM η=0", a), ("DDIM η=0.5", b), ("DDPM", c)]
    }()
    var variant = 0

    public init(checkpoint: String? = nil) {
        do {
            let s = try DiffusionCheckpoint.shippedOr(checkpoint)
            session = s
            let r = s.run(count: 8, settings: DiffusionScreen.variants[0].1, seed: 1)
            r.predict()
            run = r
            failure = nil
        } catch {
            session = nil
            run = nil
            failure = "\(error)"
        }
    }

    static func top(_ app: App) -> DiffusionScreen? { app.top as? DiffusionScreen }

    public var keyTable: [KeyBinding] {
        [
            KeyBinding([.right, .char("l")], "→ l", ascii: "Right l", "one denoising step", footer: true) { app in
                DiffusionScreen.top(app)?.moved { $0.step() }
            },
            KeyBinding([.left, .char("h")], "← h", ascii: "Left h", "one step back (history kept)", footer: true) {
                app in
                DiffusionScreen.top(app)?.moved { $0.back() }
            },
            KeyBinding([.end, .char("G")], "End", "run to the end") { app in
                DiffusionScreen.top(app)?.moved { $0.jump(to: $0.stepCount) }
            },
            KeyBinding([.home, .char("g")], "Home", "back to pure noise") { app in
                DiffusionScreen.top(app)?.run?.jump(to: 0)
            },
            KeyBinding([.char("b")], "b", "branch here with the next sampler (DDIM η 0, η 0.5, DDPM)", footer: true) {
                app in
                guard let me = DiffusionScreen.top(app), let r = me.run else { return }
                me.variant = (me.variant + 1) % DiffusionScreen.variants.count
                let (name, s) = DiffusionScreen.variants[me.variant]
                me.moved { $0.branch(with: s) }
                app.status =
                    "branch \(r.branches.count) at step \(r.position): "
                    + name.replacingOccurrences(of: "η", with: "eta")
            },
            KeyBinding([.tab], "Tab", "next branch", footer: true) { app in
                DiffusionScreen.top(app)?.moved { $0.select(branch: ($0.current + 1) % $0.branches.count) }
            },
            KeyBinding([.char("e")], "e", "export x_t and x̂_0 now, and the branch's filmstrip, as PNG", footer: true) {
                app in
                DiffusionScreen.top(app)?.export(app)
            },
        ]
    }

    /// Changes the run's position, then asks the model at the new frame (render only reads).
    func moved(_ change: (DenoisingRun) -> Void) {
        guard let r = run else { return }
        change(r)
        if !r.isFinished { r.predict() }
    }

    func export(_ app: App) {
        guard let r = run else { return }
        let (x0, _) = r.predict()
        let base = app.exportDirectory + "/orrery-denoise-branch\(r.current + 1)-step\(r.position)"
        do {
            let xt = ImageExport.gridPNG(
                SampleGrid(tensor: r.frame.xt), columns: 8, title: "x_t, step \(r.position), t = \(r.frame.t)")
            try PNGExport.write(base + "-xt.png", width: xt.0, height: xt.1, rgb: xt.2)
            let xh = ImageExport.gridPNG(
                SampleGrid(tensor: x0), columns: 8, title: "predicted x0 at step \(r.position)")
            try PNGExport.write(base + "-x0.png", width: xh.0, height: xh.1, rgb: xh.2)
            // Filmstrip: the first image of every kept frame of this branch, left to right.
            let frames = r.branch.frames
            let side = frames[0].xt.shape[2]
            let ch = frames[0].xt.shape[1]
            var px: [Float] = []
            for f in frames { px += Array(f.xt.toArray()[0..<(ch * side * side)]) }
            let strip = SampleGrid(
                count: frames.count, channels: ch, side: side,
                pixels: px.map { Swift.min(1, Swift.max(0, ($0 + 1) / 2)) })
            let fs = ImageExport.gridPNG(
                strip, columns: Swift.min(frames.count, 26), scale: 2, title: "filmstrip, branch \(r.current + 1)")
            try PNGExport.write(base + "-filmstrip.png", width: fs.0, height: fs.1, rgb: fs.2)
            app.status = "wrote \(base)-xt.png, -x0.png, -filmstrip.png"
        } catch { app.status = "\(error)" }
    }

    public func render(_ area: Rect, into buf: inout Buffer, _ ctx: RenderContext) {
        guard let r = run, let s = session else {
            let inner = buf.box(area, title: "diffusion lab", glyphs: ctx.glyphs, focused: true)
            buf.text(
                inner.x + 1, inner.y + 1, failure ?? "no model", Style(fg: ctx.theme.error), maxWidth: inner.width - 2)
            return
        }
        let (top, bottom) = area.splitTop(area.height - min(9, area.height / 3))
        let cols = top.columns([1, 1])
        let f = r.frame
        let left = buf.box(
            cols[0], title: "x_t · step \(r.position)/\(r.stepCount) · t = \(f.t)", glyphs: ctx.glyphs, focused: true)
        drawGrid(SampleGrid(tensor: f.xt), left, &buf, ctx, maxColumns: 4)
        let right = buf.box(cols[1], title: ctx.pick("predicted x̂₀", "predicted x0"), glyphs: ctx.glyphs)
        if let x0 = f.x0 {
            drawGrid(SampleGrid(tensor: x0), right, &buf, ctx, maxColumns: 4)
        } else if r.isFinished {
            buf.text(right.x + 1, right.y, "finished: x_t is the sample", Style(fg: ctx.theme.dim))
        }
        let info = buf.box(
            bottom, title: "branch \(r.current + 1)/\(r.branches.count) · \(s.describe)", glyphs: ctx.glyphs)
        let name = DiffusionScreen.variants.first { $0.1 == r.branch.settings }?.0 ?? r.branch.settings.sampler.rawValue
        var line = ctx.pick(name, name.replacingOccurrences(of: "η", with: "eta")) + ", \(r.stepCount) steps"
        if let p = r.branch.parent { line += ", branched from \(p.branch + 1) at step \(p.frame)" }
        buf.text(info.x + 1, info.y, line, Style(fg: ctx.theme.text), maxWidth: info.width - 2)
        let plots = Rect(x: info.x, y: info.y + 1, width: info.width, height: info.height - 1).columns([1, 1])
        let (snrArea, changeArea) = (plots[0], plots[1])
        let ts = (0..<r.stepCount).map { i -> (x: Double, y: Double) in
            let t = r.branch.frames.indices.contains(i) ? r.branch.frames[i].t : -1
            return (Double(i), t >= 0 ? log10(max(1e-6, s.schedule.snr(t))) : 0)
        }
        var snr = LinePlot(series: [Series(name: "log10 SNR", points: ts.filter { $0.y != 0 }, color: 75)])
        snr.monochrome = ctx.colors == 0
        snr.render(snrArea, into: &buf, ctx.widgets)
        let changes = r.stepChanges.enumerated().map { (Double($0.offset + 1), $0.element) }
        var ch = LinePlot(
            series: [Series(name: ctx.pick("‖x_{t-1} − x_t‖", "|x_t-1 - x_t|"), points: changes, color: 208)])
        ch.monochrome = ctx.colors == 0
        ch.render(changeArea, into: &buf, ctx.widgets)
    }

    public func statusFields(app: App) -> [(String, String)] {
        guard let r = run else { return [] }
        return [
            ("step", "\(r.position)/\(r.stepCount)"), ("t", "\(r.frame.t)"),
            ("branch", "\(r.current + 1)/\(r.branches.count)"),
        ]
    }
}
