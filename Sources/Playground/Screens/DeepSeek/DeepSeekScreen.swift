// The DeepSeek lab: one screen, four experiments (see DeepSeekLab).
//   MoE      expert load of a layer as a heatmap (experts × steps), max/mean load and routing entropy,
//            the selection biases, and the experts each probe token goes to;
//   FP8      FP32 and FP8 loss curves, their relative gap, a layer's activations against E4M3's range
//            under three scalings, and what each scaling loses;
//   MTP      main and MTP losses, acceptance and speed-up over training, the last speculative decode
//            with its accepted drafts marked, and the MHA / GQA / MLA cache and speed table;
//   scaling  the IsoFLOP curves (loss against model FLOPs per token, one curve per budget), M_opt
//            against C with its fitted power law and the prediction, the runs and the measured result.
import Foundation
import Labs
import Models
import TerminalUI

extension LabID {
    public static let deepSeek = "deepseek"
}

public final class DeepSeekScreen: Screen {
    public let title = "DeepSeek lab"
    /// MoE: the layer shown.
    public var layer = 0
    public init() {}

    static func runner(_ app: App) -> DeepSeekRunner? { app.runners[LabID.deepSeek] as? DeepSeekRunner }

    static func homeStatus(_ app: App) -> String {
        guard let r = runner(app) else { return "idle: MoE balancing, FP8, MTP + MLA, scaling laws" }
        let s = r.snapshot.get()
        let st = r.status.get()
        var t = "\(s.config.experiment.title): step \(st.step)/\(s.totalSteps), \(LanguageScreen.phaseWord(st.phase))"
        if let m = s.maxOverMean.last { t += String(format: ", max/mean load %.2f", m.y) }
        if let g = s.gap.last { t += String(format: ", FP8 gap %+.2f %%", g.y) }
        if let a = s.acceptance.last { t += String(format: ", acceptance %.0f %%", a.y * 100) }
        return t
    }

    static func open(_ app: App) {
        if runner(app) != nil { app.push(DeepSeekScreen()) } else { app.push(DeepSeekConfigureScreen()) }
    }

    public var keyTable: [KeyBinding] {
        @Sendable func me(_ app: App) -> DeepSeekScreen? { app.top as? DeepSeekScreen }
        return [
            KeyBinding([.char(" ")], "space", "pause / resume", footer: true) { app in
                guard let r = DeepSeekScreen.runner(app) else { return }
                r.send(r.status.get().phase == .paused ? .resume : .pause)
            },
            KeyBinding([.char("l")], "l / L", "next / previous layer (MoE)") { app in me(app)?.layer += 1 },
            KeyBinding([.char("L")], "L", "previous layer") { app in me(app)?.layer -= 1 },
            KeyBinding([.char("p")], "p", "speculative-decoding probe now (MTP)") { app in
                DeepSeekScreen.runner(app)?.send(.lab(.probe))
            },
            KeyBinding([.char("e")], "e", "export this experiment's figures as PNG", footer: true) { app in
                guard let r = DeepSeekScreen.runner(app), let m = me(app) else { return }
                m.export(r.snapshot.get(), app: app)
            },
            KeyBinding([.char("w")], "w", "save the session") { app in app.save(lab: LabID.deepSeek) },
            KeyBinding([.char("n")], "n", "new experiment (asks before discarding unsaved steps)", footer: true) {
                app in
                let e = DeepSeekScreen.runner(app)?.snapshot.get().config.experiment ?? .moe
                app.push(DeepSeekConfigureScreen(experiment: e))
            },
        ]
    }

    static let modelColours: [Color] = [75, 214, 141]
    static func expertColour(_ e: Int) -> Color { [45, 208, 141, 220, 33, 160, 114, 135, 37, 202][e % 10] }

    public func render(_ r: Rect, into buf: inout Buffer, _ ctx: RenderContext) {
        guard let runner = DeepSeekScreen.runner(ctx.app) else { return }
        let s = runner.snapshot.get()
        let st = runner.status.get()
        if case .failed(let why) = st.phase, s.step == 0 {
            for (i, line) in wrap("error: \(why)", width: r.width - 2).prefix(r.height).enumerated() {
                buf.text(r.x + 1, r.y + 1 + i, line, Style(fg: ctx.theme.error))
            }
            return
        }
        if case .starting = st.phase {
            buf.text(
                r.x + 2, r.y + 1,
                "building the corpus and the model\(s.config.experiment == .mtp ? "s, timing MHA/GQA/MLA decoding" : "")…",
                Style(fg: ctx.theme.dim))
            return
        }
        let (top, bottom) = r.splitTop(r.height * 11 / 20)
        let tc = top.columns([3, 2])
        let bc = bottom.columns([3, 2])
        switch s.config.experiment {
        case .moe: renderMoE(s, tc, bc, &buf, ctx)
        case .fp8: renderFP8(s, tc, bc, &buf, ctx)
        case .mtp: renderMTP(s, tc, bc, &buf, ctx)
        case .scaling: renderScaling(s, tc, bc, &buf, ctx)
        }
    }

    func plot(
        _ series: [Series], _ area: Rect, _ buf: inout Buffer, _ ctx: RenderContext, smoothing: Double = 0,
        integerX: Bool = true, logY: Bool = false, empty: String
    ) {
        if series.allSatisfy({ $0.points.isEmpty }) {
            buf.text(area.x, area.y, empty, Style(fg: ctx.theme.faint), maxWidth: area.width)
            return
        }
        var p = LinePlot(series: series, logY: logY, smoothing: smoothing)
        p.monochrome = ctx.colors == 0
        p.integerX = integerX
        p.render(area, into: &buf, ctx.widgets)
    }

    // MARK: MoE

    func shownLayer(_ s: DeepSeekSnapshot) -> Int {
        let n = max(1, s.loadHistory.count)
        return ((layer % n) + n) % n
    }

    /// The layers shown from `first` on, as many as fit when each needs `rows` lines (at least one).
    static func layers(from first: Int, count: Int, rows: Int, height: Int) -> [Int] {
        guard count > 0 else { return [] }
        let n = max(1, min(count, height / max(1, rows)))
        return (0..<n).map { (first + $0) % count }
    }

    func renderMoE(_ s: DeepSeekSnapshot, _ tc: [Rect], _ bc: [Rect], _ buf: inout Buffer, _ ctx: RenderContext) {
        let l = shownLayer(s)
        let E = s.loadHistory.first?.count ?? 8
        let heatInner = tc[0].inner
        // Every layer that fits (a label row and E rows each, the colour scale below); l comes first.
        let heatLayers = DeepSeekScreen.layers(
            from: l, count: s.loadHistory.count, rows: E + 1, height: heatInner.height - 1)
        let names = heatLayers.count > 1 ? "L" + heatLayers.map(String.init).joined(separator: ",") : "L\(l)"
        // The whole run, averaged down to the columns there are (one cell each; two when they fit).
        let cols = s.loadHistory.first?.first?.count ?? 0
        let room = max(1, heatInner.width - 4)
        let pool = max(1, (cols + room - 1) / room)
        let perColumn = s.stepsPerColumn * pool
        let heat = buf.box(
            tc[0],
            title: "expert load \(names), \(perColumn) step\(perColumn == 1 ? "" : "s")/col (1 = fair share)",
            glyphs: ctx.glyphs, focused: true)
        if cols == 0 {
            buf.text(heat.x, heat.y, "(the first steps are on their way)", Style(fg: ctx.theme.faint))
        } else {
            func pooled(_ row: [Float]) -> [Float] {
                stride(from: 0, to: row.count, by: pool).map { a in
                    let part = row[a..<min(row.count, a + pool)]
                    return part.reduce(0, +) / Float(part.count)
                }
            }
            var values: [[Float]] = []
            var labels: [String] = []
            for layer in heatLayers {
                if heatLayers.count > 1 {
                    values.append(Array(repeating: .nan, count: (cols + pool - 1) / pool))
                    labels.append("L\(layer)")
                }
                for (e, row) in s.loadHistory[layer].enumerated() {
                    values.append(pooled(row))
                    labels.append("e\(e)")
                }
            }
            Heatmap(values: values, rowLabels: labels, range: (0, 3)).render(heat, into: &buf, ctx.widgets)
        }
        let bal = buf.box(tc[1], title: "max/mean load · entropy", glyphs: ctx.glyphs)
        plot(
            [
                Series(name: "max/mean", points: s.maxOverMean, color: 214),
                Series(name: "entropy", points: s.entropy, color: 75),
            ], bal, &buf, ctx, smoothing: 0.8, empty: "(every step)")
        let k = s.probeExperts.first?.first?.count ?? 2
        let multi =
            s.probeTokens.count * 3 + 4 <= bc[0].inner.width && s.probeExperts.count > 1
            && bc[0].inner.height - 1 >= 2 * (k + 1)
        let probe = buf.box(
            bc[0], title: "probe: the top-\(k) experts of each token" + (multi ? "" : ", L\(l)"), glyphs: ctx.glyphs)
        drawProbe(s, layer: l, probe, &buf, ctx)
        let biasLayers = DeepSeekScreen.layers(
            from: l, count: s.biases.count, rows: s.biases.first.map { $0.count + 1 } ?? 9, height: bc[1].inner.height)
        let bias = buf.box(
            bc[1],
            title: "bias b, L\(biasLayers.count > 1 ? biasLayers.map(String.init).joined(separator: ",") : "\(l)") "
                + "(\(s.config.balancing.rawValue))", glyphs: ctx.glyphs)
        if biasLayers.count <= 1 {
            drawBias(s.biases.indices.contains(l) ? s.biases[l] : [], bias, &buf, ctx)
        } else {
            var y = bias.y
            for layer in biasLayers {
                let rows = s.biases[layer].count
                buf.text(bias.x, y, "L\(layer)", Style(fg: ctx.theme.label, bold: true))
                drawBias(
                    s.biases[layer], Rect(x: bias.x, y: y + 1, width: bias.width, height: rows), &buf, ctx)
                y += rows + 1
            }
        }
    }

    /// The probe sentence token by token, each with its experts below it (coloured by expert).
    func drawProbe(_ s: DeepSeekSnapshot, layer l: Int, _ a: Rect, _ buf: inout Buffer, _ ctx: RenderContext) {
        guard s.probeExperts.indices.contains(l), !s.probeTokens.isEmpty else {
            buf.text(a.x, a.y, "(routing every 10 steps)", Style(fg: ctx.theme.faint))
            return
        }
        let routes = s.probeExperts[l]
        let k = routes.first?.count ?? 1
        let colW = 3
        func expertStyle(_ e: Int, _ j: Int) -> Style {
            ctx.colors > 0 ? Style(fg: DeepSeekScreen.expertColour(e), bold: j == 0) : Style(fg: -1, bold: j == 0)
        }
        // Wide enough for the whole probe on one line: every layer that fits, one block of k rows each.
        if s.probeTokens.count * colW + 4 <= a.width {
            let shown = DeepSeekScreen.layers(
                from: l, count: s.probeExperts.count, rows: k + 1, height: a.height - 1)
            if shown.count > 1 {
                for (t, token) in s.probeTokens.enumerated() {
                    let text = token == " " ? ctx.pick("␣", "_") : String(token.prefix(2))
                    buf.text(a.x + 4 + t * colW, a.y, text, Style(fg: ctx.theme.text, bold: true))
                }
                var y = a.y + 1
                for layer in shown {
                    buf.text(a.x, y, "L\(layer)", Style(fg: ctx.theme.label))
                    for (t, r) in s.probeExperts[layer].enumerated() {
                        for (j, e) in r.enumerated() { buf.text(a.x + 4 + t * colW, y + j, "\(e)", expertStyle(e, j)) }
                    }
                    y += k + 1
                }
                return
            }
        }
        var x = a.x
        var y = a.y
        for (t, token) in s.probeTokens.enumerated() where t < routes.count {
            if x + colW > a.x + a.width {
                x = a.x
                y += k + 2
            }
            guard y + k < a.y + a.height else { break }
            let shown = token == " " ? ctx.pick("␣", "_") : String(token.prefix(2))
            buf.text(x, y, shown, Style(fg: ctx.theme.text, bold: true))
            for (j, e) in routes[t].enumerated() {
                let style =
                    ctx.colors > 0
                    ? Style(fg: DeepSeekScreen.expertColour(e), bold: j == 0) : Style(fg: -1, bold: j == 0)
                buf.text(x, y + 1 + j, "\(e)", style)
            }
            x += colW
        }
    }

    /// Signed bars about a zero line, one row per expert.
    func drawBias(_ b: [Float], _ a: Rect, _ buf: inout Buffer, _ ctx: RenderContext) {
        guard !b.isEmpty, a.width > 12 else {
            buf.text(a.x, a.y, "(no MoE layer)", Style(fg: ctx.theme.faint))
            return
        }
        let scale = max(b.map { abs($0) }.max() ?? 0, 1e-6)
        let labelW = 4
        let valueW = 7
        let half = max(1, (a.width - labelW - valueW - 2) / 2)
        let zero = a.x + labelW + half
        let rows = min(b.count, a.height)
        let stride = b.count > a.height ? (b.count + a.height - 1) / a.height : 1
        for row in 0..<rows {
            let e = row * stride
            guard e < b.count else { break }
            let y = a.y + row
            buf.text(a.x, y, "e\(e)", Style(fg: ctx.theme.label))
            let n = Int((abs(b[e]) / scale * Float(half)).rounded())
            for i in 0..<n {
                let x = b[e] >= 0 ? zero + 1 + i : zero - 1 - i
                buf.set(x, y, ctx.glyphs.full, Style(fg: b[e] >= 0 ? ctx.theme.good : ctx.theme.warning))
            }
            buf.set(zero, y, ctx.glyphs.vertical, Style(fg: ctx.theme.dim))
            buf.text(a.x + a.width - valueW, y, String(format: "%+.3f", b[e]), Style(fg: ctx.theme.dim))
        }
    }

    // MARK: FP8

    func renderFP8(_ s: DeepSeekSnapshot, _ tc: [Rect], _ bc: [Rect], _ buf: inout Buffer, _ ctx: RenderContext) {
        let names = ["FP32", "FP8"]
        var series: [Series] = []
        for i in s.losses.indices {
            series.append(Series(name: names[min(i, 1)], points: s.losses[i], color: DeepSeekScreen.modelColours[i]))
        }
        let la = buf.box(tc[0], title: "loss: FP32 vs FP8, same seed and batches", glyphs: ctx.glyphs, focused: true)
        plot(series, la, &buf, ctx, smoothing: 0.8, empty: "(the first steps are on their way)")
        let gapTitle =
            "val gap (FP8 − FP32)/FP32" + (s.gap.last.map { String(format: " %+.2f %%", $0.y) } ?? "")
        let ga = buf.box(
            tc[1], title: ctx.pick(gapTitle, gapTitle.replacingOccurrences(of: "−", with: "-")), glyphs: ctx.glyphs)
        plot(
            [Series(name: "gap %", points: s.gap, color: 214)], ga, &buf, ctx,
            empty: "(every \(s.config.evalEvery) steps)")
        let ha = buf.box(
            bc[0], title: "E4M3 vs \(s.histogram?.source ?? "a layer's activations"): log2 |x|", glyphs: ctx.glyphs)
        if let h = s.histogram { drawHistogram(h, ha, &buf, ctx) }
        let ta = buf.box(bc[1], title: "what E4M3 loses", glyphs: ctx.glyphs)
        if let h = s.histogram { drawFP8Table(h, ta, &buf, ctx) }
    }

    /// Columns per log₂ bin: the 1×128-tile-scaled values (what the GEMM sees) as bars, E4M3's zones
    /// marked below (zero, subnormal, normal, saturating), the unscaled values as a marker row.
    func drawHistogram(_ h: FP8Histogram, _ a: Rect, _ buf: inout Buffer, _ ctx: RenderContext) {
        guard let tile = h.outcomes.last, let raw = h.outcomes.first, a.height >= 4, a.width >= 20 else { return }
        let bins = tile.bins.count
        let cw = max(1, min(3, (a.width - 1) / bins))
        let barH = a.height - 3
        let peak = max(tile.bins.max() ?? 0, 1e-9)
        let levels: [Unicode.Scalar] = ctx.glyphs.unicode ? ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"] : ["."]
        let lo = FP8Histogram.lowExponent
        // E4M3: subnormals from 2^-9, normals from 2^-6, the largest finite 448 (< 2^9).
        func zone(_ e: Int) -> (Color, Unicode.Scalar) {
            if e < -10 { return (ctx.theme.error, "0") }
            if e < -6 { return (ctx.theme.warning, "s") }
            if e >= 9 { return (ctx.theme.error, "^") }
            return (ctx.theme.good, ctx.glyphs.unicode ? "═" : "=")
        }
        for i in 0..<bins {
            let x = a.x + i * cw
            let v = tile.bins[i] / peak * Double(barH)
            let full = Int(v)
            for k in 0..<cw {
                for j in 0..<min(full, barH) {
                    buf.set(x + k, a.y + barH - 1 - j, ctx.glyphs.full, Style(fg: 75))
                }
                if full < barH && ctx.glyphs.unicode {
                    let frac = v - Double(full)
                    if frac > 0.06 {
                        buf.set(x + k, a.y + barH - 1 - full, levels[min(7, Int(frac * 8))], Style(fg: 75))
                    }
                } else if full < barH && v > 0.3 && full == 0 {
                    buf.set(x + k, a.y + barH - 1, ".", Style(fg: 75))
                }
                let (c, ch) = zone(lo + i)
                buf.set(x + k, a.y + barH, ch, Style(fg: c))
                if raw.bins[i] > 0.001 {
                    buf.set(x + k, a.y + barH + 1, ctx.pick("·", ".").unicodeScalars.first!, Style(fg: 214))
                }
            }
            if (lo + i) % 4 == 0 { buf.text(x, a.y + barH + 2, "\(lo + i)", Style(fg: ctx.theme.dim)) }
        }
        buf.text(
            a.x + min(bins * cw + 1, a.width - 1), a.y,
            "bars: tiles", Style(fg: 75), maxWidth: max(0, a.width - bins * cw - 1))
        buf.text(
            a.x + min(bins * cw + 1, a.width - 1), a.y + 1, "dots: unscaled", Style(fg: 214),
            maxWidth: max(0, a.width - bins * cw - 1))
    }

    func drawFP8Table(_ h: FP8Histogram, _ a: Rect, _ buf: inout Buffer, _ ctx: RenderContext) {
        buf.text(a.x, a.y, "scale  zero%  sub%  sat%  err%", Style(fg: ctx.theme.label, bold: true), maxWidth: a.width)
        for (i, o) in h.outcomes.enumerated() where i + 1 < a.height {
            let line = String(
                format: "%@ %5.1f %5.1f %5.1f %5.2f", o.scaling.padding(toLength: 6, withPad: " ", startingAt: 0),
                o.underflow * 100, o.subnormal * 100, o.saturated * 100, o.relativeError * 100)
            buf.text(
                a.x, a.y + 1 + i, ctx.pick(line, line.replacingOccurrences(of: "×", with: "x")),
                Style(fg: ctx.theme.text), maxWidth: a.width)
        }
        let note =
            "one scale for nothing, the tensor, each 1×128 tile; zero: rounds to 0, sub: subnormal, "
            + "sat: clipped at 448, err: ‖q(x)−x‖/‖x‖"
        let ascii =
            "one scale for nothing, the tensor, each 1x128 tile; zero: rounds to 0, sub: subnormal, "
            + "sat: clipped at 448, err: |q(x)-x|/|x|"
        var y = a.y + 2 + h.outcomes.count
        for line in wrap(ctx.pick(note, ascii), width: a.width)
        where y < a.y + a.height {
            buf.text(a.x, y, line, Style(fg: ctx.theme.faint), maxWidth: a.width)
            y += 1
        }
    }

    // MARK: MTP

    func renderMTP(_ s: DeepSeekSnapshot, _ tc: [Rect], _ bc: [Rect], _ buf: inout Buffer, _ ctx: RenderContext) {
        let la = buf.box(tc[0], title: "loss: next token and MTP (token after next)", glyphs: ctx.glyphs, focused: true)
        plot(
            [
                Series(name: "main", points: s.losses.first ?? [], color: 75),
                Series(name: "MTP depth 1", points: s.mtpLosses, color: 214),
            ], la, &buf, ctx, smoothing: 0.8, empty: "(the first steps are on their way)")
        let acc = s.acceptance.last.map { String(format: " %.0f %%", $0.y * 100) } ?? ""
        let sp = s.speedup.last.map { String(format: ", %.2f× as fast", $0.y) } ?? ""
        let aaTitle = "drafts accepted\(acc)\(sp)"
        let aa = buf.box(
            tc[1], title: ctx.pick(aaTitle, aaTitle.replacingOccurrences(of: "×", with: "x")), glyphs: ctx.glyphs)
        plot(
            DeepSeekScreen.acceptanceSeries(s), aa, &buf, ctx,
            empty: "(every \(s.config.probeEvery) steps; p for one now)")
        let verdict =
            s.speculative.isEmpty
            ? "self-speculative decoding"
            : (s.matchesGreedy ? "speculative = greedy" : "speculative DIFFERS from greedy")
                + String(format: ", %.2f× fewer passes", s.passRatio)
        let ta = buf.box(
            bc[0], title: ctx.pick(verdict, verdict.replacingOccurrences(of: "×", with: "x")), glyphs: ctx.glyphs)
        drawSpeculative(s, ta, &buf, ctx)
        let ka = buf.box(bc[1], title: "KV cache and decode, \(s.config.layers)×\(s.config.width)", glyphs: ctx.glyphs)
        drawDecodeTable(s.decode, ka, &buf, ctx)
    }

    /// Speculative decoding's acceptance and speed-up, and the teacher-forced acceptance at each draft
    /// position of a chained drafter.
    static func acceptanceSeries(_ s: DeepSeekSnapshot) -> [Series] {
        var out = [
            Series(name: "accepted", points: s.acceptance, color: 141),
            Series(name: "speed-up", points: s.speedup, color: 114),
        ]
        if s.acceptanceByPosition.count > 1 {
            for (k, p) in s.acceptanceByPosition.enumerated() {
                out.append(Series(name: "pos \(k + 1)", points: p, color: [45, 214, 208, 220][k % 4]))
            }
        }
        return out
    }

    /// The decoded text; tokens that were accepted drafts (free with the verifying pass) highlighted.
    func drawSpeculative(_ s: DeepSeekSnapshot, _ a: Rect, _ buf: inout Buffer, _ ctx: RenderContext) {
        guard !s.speculative.isEmpty else {
            buf.text(a.x, a.y, "(decoding after the first probe)", Style(fg: ctx.theme.faint))
            return
        }
        var x = a.x
        var y = a.y
        let last = a.y + a.height - 2
        let prompt = s.speculativePrompt.map { ($0, false, true) }
        for (text, drafted, isPrompt) in prompt + s.speculative.map({ ($0.text, $0.drafted, false) }) {
            for ch in text.unicodeScalars {
                if ch == "\n" || x >= a.x + a.width {
                    x = a.x
                    y += 1
                    if ch == "\n" { continue }
                }
                guard y <= last else { break }
                let printable = ch.value >= 32 && ch.value < 127 || (ctx.glyphs.unicode && ch.value >= 160)
                let shown: Unicode.Scalar = printable ? ch : "?"
                let style =
                    drafted
                    ? (ctx.colors > 0 ? Style(fg: 16, bg: 114) : Style(fg: -1, bold: true))
                    : Style(fg: isPrompt ? ctx.theme.faint : ctx.theme.text)
                buf.set(x, y, drafted && ctx.colors == 0 && shown == " " ? "_" : shown, style)
                x += 1
            }
        }
        let legend = (ctx.colors > 0 ? "dim: prompt; highlighted: accepted drafts" : "bold: accepted drafts")
        buf.text(a.x, a.y + a.height - 1, legend, Style(fg: ctx.theme.faint), maxWidth: a.width)
    }

    func drawDecodeTable(_ d: [DecodeCase], _ a: Rect, _ buf: inout Buffer, _ ctx: RenderContext) {
        guard !d.isEmpty else { return }
        buf.text(a.x, a.y, "      KV B/token   tokens/s", Style(fg: ctx.theme.label, bold: true), maxWidth: a.width)
        let base = d.first { $0.name == "mha" }
        for (i, c) in d.enumerated() where i + 1 < a.height {
            let bytes = base.map { Double(c.kvBytesPerToken) / Double(max(1, $0.kvBytesPerToken)) } ?? 1
            let speed = base.map { c.tokensPerSecond / max(1e-9, $0.tokensPerSecond) } ?? 1
            let line = String(
                format: "%@  %6d %4.2f  %6.0f %4.2f", c.name.uppercased(), c.kvBytesPerToken, bytes, c.tokensPerSecond,
                speed)
            buf.text(a.x, a.y + 1 + i, line, Style(fg: ctx.theme.text), maxWidth: a.width)
        }
        let note =
            "GQA: 1 key/value head; MLA: latent 64 + rotary key 16, absorbed decoding; random weights, "
            + "128 tokens, batch 1; ratios to MHA"
        var y = a.y + 1 + d.count
        for line in wrap(note, width: a.width) where y < a.y + a.height {
            buf.text(a.x, y, line, Style(fg: ctx.theme.faint), maxWidth: a.width)
            y += 1
        }
    }

    // MARK: Scaling

    static func budgetColour(_ i: Int) -> Color { [75, 214, 141, 114, 45, 208][i % 6] }

    /// IsoFLOP curves: (log10 M, loss) per budget, and the measured predicted run.
    static func isoFLOPSeries(_ s: DeepSeekSnapshot) -> [Series] {
        let budgets = Array(Set(s.runs.map(\.budget))).sorted()
        var out = budgets.enumerated().map { i, c in
            Series(
                name: String(format: "C %.0e", c),
                points: s.runs.filter { $0.budget == c }.sorted { $0.m < $1.m }.map { (log10($0.m), $0.valLoss) },
                color: budgetColour(i))
        }
        if let p = s.prediction, let v = p.measured {
            out.append(Series(name: String(format: "ran %.0e", p.budget), points: [(log10(p.m), v)], color: 196))
        }
        return out
    }

    /// log10 M_opt against log10 C: the minima, the fitted line, the prediction.
    static func optimumSeries(_ s: DeepSeekSnapshot) -> [Series] {
        guard let f = s.fit else { return [] }
        var out = [Series(name: "IsoFLOP minima", points: f.minima.map { (log10($0.c), log10($0.m)) }, color: 214)]
        if let m = f.model {
            let cs = f.minima.map(\.c) + (s.prediction.map { [$0.budget] } ?? [])
            if let lo = cs.min(), let hi = cs.max() {
                let pts = (0...12).map { i -> (x: Double, y: Double) in
                    let x = log10(lo) + (log10(hi) - log10(lo)) * Double(i) / 12
                    return (x, log10(m.coefficient) + m.exponent * x)
                }
                out.append(Series(name: String(format: "fit C^%.2f", m.exponent), points: pts, color: 75))
            }
        }
        if let p = s.prediction {
            out.append(Series(name: "predicted", points: [(log10(p.budget), log10(p.predictedM))], color: 196))
        }
        return out
    }

    func renderScaling(_ s: DeepSeekSnapshot, _ tc: [Rect], _ bc: [Rect], _ buf: inout Buffer, _ ctx: RenderContext) {
        let ia = buf.box(
            tc[0], title: "IsoFLOP curves: val loss (log) vs log10 M", glyphs: ctx.glyphs, focused: true)
        plot(
            DeepSeekScreen.isoFLOPSeries(s), ia, &buf, ctx, integerX: false, logY: true,
            empty: "(a curve per budget as its runs finish)")
        let oa = buf.box(tc[1], title: "log10 M_opt vs log10 C", glyphs: ctx.glyphs)
        plot(DeepSeekScreen.optimumSeries(s), oa, &buf, ctx, integerX: false, empty: "(after the last budget)")
        let ra = buf.box(
            bc[0], title: "runs (\(s.runs.count) of \(s.config.sweep.budgets.count * s.config.sweep.widths.count))",
            glyphs: ctx.glyphs)
        var lines: [(String, Style)] = s.runs.map {
            (
                String(
                    format: "C %.0e w%-3d M %.1e %5d steps %.4f", $0.budget, $0.width, $0.m, $0.steps,
                    $0.valLoss),
                Style(fg: ctx.theme.text)
            )
        }
        if let c = s.current {
            lines.append(
                (
                    String(format: "C %.0e w%-3d training: step %d of %d", c.budget, c.width, c.step, c.steps),
                    Style(fg: ctx.theme.accent)
                ))
        }
        TextLog(lines: Array(lines.suffix(max(1, ra.height)))).render(ra, into: &buf, ctx.widgets)
        let fa = buf.box(bc[1], title: "fit and prediction", glyphs: ctx.glyphs)
        var text: [(String, Style)] = []
        if let f = s.fit {
            if let m = f.model {
                text.append((String(format: "M_opt ∝ C^%.3f (R² %.3f)", m.exponent, m.r2), Style(fg: ctx.theme.text)))
            }
            if let d = f.data { text.append((String(format: "D_opt ∝ C^%.3f", d.exponent), Style(fg: ctx.theme.text))) }
            if let l = f.loss {
                text.append(
                    (
                        String(format: "L_opt = %.3f + %.2g·C^%.3f", l.floor, l.coefficient, l.exponent),
                        Style(fg: ctx.theme.text)
                    ))
            }
        } else {
            text.append(("(fits after every budget has run)", Style(fg: ctx.theme.faint)))
        }
        if let p = s.prediction {
            text.append(
                (
                    String(format: "at C %.0e: M_opt %.2e, loss %.4f", p.budget, p.predictedM, p.predictedLoss),
                    Style(fg: ctx.theme.model)
                ))
            if let v = p.measured {
                text.append(
                    (
                        String(
                            format: "ran width %d: loss %.4f (%+.1f %%)", p.width, v,
                            (v - p.predictedLoss) / p.predictedLoss * 100),
                        Style(fg: ctx.theme.good, bold: true)
                    ))
            } else {
                text.append(("running width \(p.width)…", Style(fg: ctx.theme.accent)))
            }
        }
        if !ctx.glyphs.unicode {
            text = text.map {
                (
                    $0.0.replacingOccurrences(of: "∝", with: "~").replacingOccurrences(of: "²", with: "2")
                        .replacingOccurrences(of: "·", with: "*"), $0.1
                )
            }
        }
        TextLog(lines: text).render(fa, into: &buf, ctx.widgets)
    }

    // MARK: status and export

    public func statusFields(app: App) -> [(String, String)] {
        guard let r = DeepSeekScreen.runner(app) else { return [] }
        let s = r.snapshot.get()
        let st = r.status.get()
        var f: [(String, String)] = [
            ("step", "\(s.step)/\(s.totalSteps)"), ("", LanguageScreen.phaseWord(st.phase)),
        ]
        for (i, v) in s.valLosses.enumerated() {
            if let last = v.last {
                let name = s.config.experiment == .fp8 ? (i == 0 ? "fp32 val" : "fp8 val") : "val"
                f.append((name, String(format: "%.4f", last.y)))
            }
        }
        if let t = s.tokensPerSecond.first, t > 0 { f.append(("tok/s", String(format: "%.0f", t))) }
        return f
    }

    func export(_ s: DeepSeekSnapshot, app: App) {
        let base = app.exportDirectory + "/orrery-deepseek-\(s.config.experiment.rawValue)-step\(s.step)"
        let figures = DeepSeekScreen.figures(s, layer: shownLayer(s))
        do {
            for (suffix, img) in figures { try PNGExport.write(base + suffix, width: img.0, height: img.1, rgb: img.2) }
            app.status =
                figures.isEmpty
                ? "nothing to export yet" : "wrote " + figures.map { base + $0.0 }.joined(separator: ", ")
        } catch { app.status = "\(error)" }
    }

    /// The experiment's figures as PNG images, each with its file-name suffix (the screen's e and
    /// `orrery deepseek --png` both write these).
    public static func figures(_ s: DeepSeekSnapshot, layer l: Int = 0) -> [(String, (Int, Int, [UInt8]))] {
        var figures: [(String, (Int, Int, [UInt8]))] = []
        switch s.config.experiment {
        case .moe:
            if s.loadHistory.indices.contains(l), !(s.loadHistory[l].first ?? []).isEmpty {
                figures.append(
                    (
                        "-load-layer\(l).png",
                        PNGExport.heatmap(
                            s.loadHistory[l],
                            title:
                                "expert load, layer \(l), \(s.config.balancing.rawValue): experts x steps (\(s.stepsPerColumn)/column)",
                            rowLabels: (0..<s.loadHistory[l].count).map { "e\($0)" }, cell: 6)
                    ))
            }
            figures.append(
                (
                    "-balance.png",
                    PNGExport.plot(
                        [
                            Series(name: "max/mean load", points: s.maxOverMean, color: 214),
                            Series(name: "load entropy", points: s.entropy, color: 75),
                        ], title: "MoE balance (\(s.config.balancing.rawValue))")
                ))
        case .fp8:
            figures.append(
                (
                    "-loss.png",
                    PNGExport.plot(
                        zip(["FP32", "FP8"], s.losses).enumerated().map {
                            Series(
                                name: $0.element.0, points: $0.element.1, color: DeepSeekScreen.modelColours[$0.offset])
                        }, title: "training loss: FP32 vs FP8 (same seed)")
                ))
            figures.append(
                (
                    "-gap.png",
                    PNGExport.plot(
                        [Series(name: "gap %", points: s.gap, color: 214)],
                        title: "(FP8 - FP32) / FP32 validation loss, %")
                ))
            if let h = s.histogram {
                let series = h.outcomes.enumerated().map { i, o in
                    Series(
                        name: o.scaling.replacingOccurrences(of: "×", with: "x"),
                        points: o.bins.enumerated().map { (Double(FP8Histogram.lowExponent + $0.offset), $0.element) },
                        color: DeepSeekScreen.modelColours[i % 3])
                }
                figures.append(
                    (
                        "-activations.png",
                        PNGExport.plot(
                            series, title: "\(h.source): fraction per log2 |x| bin; E4M3 normals 2^-6..448",
                            xLabel: "log2 |x| (scaled)")
                    ))
            }
        case .mtp:
            figures.append(
                (
                    "-loss.png",
                    PNGExport.plot(
                        [
                            Series(name: "main", points: s.losses.first ?? [], color: 75),
                            Series(name: "MTP depth 1", points: s.mtpLosses, color: 214),
                        ], title: "next-token and MTP losses")
                ))
            figures.append(
                (
                    "-acceptance.png",
                    PNGExport.plot(
                        DeepSeekScreen.acceptanceSeries(s), title: "self-speculative decoding: acceptance and speed-up")
                ))
        case .scaling:
            figures.append(
                (
                    "-isoflop.png",
                    PNGExport.plot(
                        DeepSeekScreen.isoFLOPSeries(s), title: "IsoFLOP curves (log loss)",
                        xLabel: "log10 M (FLOPs per token)",
                        logY: true)
                ))
            if s.fit != nil {
                figures.append(
                    (
                        "-optimum.png",
                        PNGExport.plot(
                            DeepSeekScreen.optimumSeries(s), title: "log10 M_opt vs log10 C", xLabel: "log10 C (FLOPs)")
                    ))
            }
        }
        return figures
    }
}
