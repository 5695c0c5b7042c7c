// "Where does a step's time go?": the language lab's step profile as a table with a bar per row —
// GEMM (and its leading shapes), attention forward/backward, norms, elementwise, cross-entropy,
// optimizer, allocation, thread sync — each with its achieved rate against the machine's limits.
import Compute
import Foundation
import TerminalUI

struct StepProfileView {
    let profile: StepProfile
    let limits: MachineLimits

    /// The lines under the title: one summary line, then the table; GEMM shapes only where the rows fit.
    func render(_ area: Rect, into buf: inout Buffer, _ ctx: RenderContext) {
        guard area.width >= 20, area.height >= 2 else { return }
        let p = profile
        let gemm = p.categories.first { $0.category == .gemm }
        let gemmRate = gemm.map { $0.seconds > 0 ? $0.flops / $0.seconds / 1e9 : 0 } ?? 0
        var summary = String(
            format: "%.1f ms per step over %d steps; GEMM %.0f%% of the step at %.0f%% of the %.0f GFLOP/s peak; "
                + "buffers from the heap per step: %.0f (reused: %.0f)",
            p.stepSeconds * 1000, p.steps, 100 * (gemm?.seconds ?? 0) / Swift.max(p.seconds, 1e-9),
            100 * gemmRate / Swift.max(limits.fmaGFLOPS, 1e-9), limits.fmaGFLOPS, p.heapAllocationsPerStep,
            p.reusedAllocationsPerStep)
        if !ctx.glyphs.unicode { summary = summary.replacingOccurrences(of: "×", with: "x") }
        var y = area.y
        for line in wrap(summary, width: area.width).prefix(Swift.max(1, area.height / 4)) {
            _ = buf.text(area.x, y, line, Style(fg: ctx.theme.label), maxWidth: area.width)
            y += 1
        }
        let rowsLeft = area.y + area.height - y - 1
        guard rowsLeft >= 1 else { return }
        let categories = p.rows(peakGFLOPS: limits.fmaGFLOPS, bandwidthGBs: limits.bandwidthGBs, shapes: 0)
            .filter { !$0.name.hasPrefix(" ") }
        let spare = rowsLeft - categories.count
        // Tall screens list more GEMM shapes and then, if room is left, say what the rows mean.
        let legend = wrap(
            ctx.glyphs.unicode
                ? StepProfileView.legend : StepProfileView.legend.replacingOccurrences(of: "×", with: "x"),
            width: area.width)
        let withLegend = spare >= 8 + legend.count
        let shapeCount =
            spare >= 2 ? Swift.min(withLegend ? 12 : 4, spare - 1 - (withLegend ? legend.count + 1 : 0)) : 0
        let rows = p.rows(peakGFLOPS: limits.fmaGFLOPS, bandwidthGBs: limits.bandwidthGBs, shapes: shapeCount)
            .filter { shapeCount > 0 || !$0.name.hasPrefix(" ") }
        // Columns: name, ms/step, share bar, rate (with "of limit" when wide enough).
        let wide = area.width >= 90
        let nameW = Swift.min(24, Swift.max(12, area.width / 4))
        let rateW = wide ? 26 : 15
        let barW = Swift.max(4, area.width - nameW - 17 - rateW - 1)
        var header = "where".padding(toLength: nameW, withPad: " ", startingAt: 0) + "  ms/step  share "
        header += String(repeating: " ", count: barW + 1) + (wide ? "rate (of limit)" : "rate")
        _ = buf.text(area.x, y, header, Style(fg: ctx.theme.dim), maxWidth: area.width)
        y += 1
        let maxShare = rows.map(\.share).max() ?? 1
        for r in rows.prefix(area.y + area.height - y) {
            var name = r.name
            if !ctx.glyphs.unicode { name = name.replacingOccurrences(of: "×", with: "x") }
            if name.count > nameW { name = String(name.prefix(nameW - 1)) + ctx.pick("…", "~") }
            let sub = r.name.hasPrefix(" ")
            var x = area.x
            x += buf.text(
                x, y, name.padding(toLength: nameW, withPad: " ", startingAt: 0),
                Style(fg: sub ? ctx.theme.dim : ctx.theme.text))
            x += buf.text(
                x, y, String(format: " %8.2f %5.1f%% ", r.msPerStep, 100 * r.share), Style(fg: ctx.theme.label))
            let n = maxShare > 0 ? Int((r.share / maxShare * Double(barW)).rounded()) : 0
            let color = StepProfileView.color(r.category)
            for k in 0..<Swift.min(barW, n) {
                buf.set(x + k, y, ctx.colors == 0 ? ctx.glyphs.full : ctx.glyphs.full, Style(fg: color))
            }
            x += barW + 1
            if let rate = r.rate {
                var t = String(format: "%.0f %@", rate, r.unit)
                if let f = r.ofLimit {
                    t +=
                        r.unit == "GFLOP/s"
                        ? String(format: wide ? " (%.0f%% of peak)" : " %.0f%%", 100 * f)
                        : String(format: wide ? " (%.1f× DRAM)" : " %.1f×", f)
                }
                if !ctx.glyphs.unicode { t = t.replacingOccurrences(of: "×", with: "x") }
                _ = buf.text(x, y, t, Style(fg: ctx.theme.dim), maxWidth: area.x + area.width - x)
            }
            y += 1
        }
        if withLegend && y + legend.count < area.y + area.height {
            y += 1
            for line in legend {
                _ = buf.text(area.x, y, line, Style(fg: ctx.theme.faint), maxWidth: area.width)
                y += 1
            }
        }
    }

    static let legend = """
        GEMM: the matrix products of the linear layers, forward and backward (M×N×K). Attention: \
        FlashAttention's tiles, useful FLOPs only. Norms, elementwise, RoPE, cross-entropy: passes over \
        memory, against its bandwidth. Allocation: taking (and zeroing) tensor buffers from the pool. \
        Thread sync: waiting at the end of a parallel region for the other workers. Autograd, other: \
        the rest of the step's wall time (graph bookkeeping, small ops).
        """

    static func color(_ c: ProfileCategory) -> Color {
        switch c {
        case .gemm: 75
        case .attentionForward, .attentionBackward: 141
        case .norm, .elementwise, .reduction, .embedding, .copy, .crossEntropy: 114
        case .optimizer: 214
        case .allocation, .sync, .other: 244
        }
    }
}
