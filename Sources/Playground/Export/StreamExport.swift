// The sequence lab's stream view as a PNG: the last frames played, oldest at the left and "now" at
// the right edge, as bands — the true actions, then each detector's predicted class — and under each
// detector its per-class probability traces; right of now, OadTR's anticipated classes for the next ℓ
// frames above the true ones; under the history, the attention of OadTR's task token over the window.
import Foundation
import Labs
import Models

extension ImageExport {
    /// The colour of action class k (0 background): twins share a hue family (grab/push red/orange,
    /// jump/sit green/teal, wave/point blue/purple), as they share their first phase.
    public static func actionColour(_ k: Int) -> (UInt8, UInt8, UInt8) {
        let table: [(UInt8, UInt8, UInt8)] = [
            (70, 70, 70), (220, 50, 47), (245, 150, 30), (60, 170, 60), (40, 170, 170), (50, 100, 230),
            (150, 80, 210),
        ]
        return k >= 0 && k < table.count ? table[k] : (200, 200, 200)
    }

    public static func streamPNG(_ s: SequenceSnapshot) -> (Int, Int, [UInt8]) {
        let px = 4
        let W = SequenceLab.window
        let ell = s.config.oad.oadtr.anticipation
        let left = 90
        let bandH = 14
        let traceH = 60
        let width = left + (W + ell + 2) * px + 20
        let nDet = s.detectors.count
        let height = 30 + bandH + 6 + nDet * (bandH + 4 + traceH + 10) + 40 + 30
        var c = PixelCanvas(width: width, height: height, background: (255, 255, 255))
        c.text(
            "held-out action stream, frame \(max(0, s.now)) (now at the right edge), step \(s.step)", 8, 8, (0, 0, 0))
        let x0 = left + (W - s.recentLabels.count) * px
        let nowX = left + W * px
        var y = 30
        func band(_ classes: [Int], _ label: String) {
            _ = c.text(label, 6, y + 3, (0, 0, 0))
            for (i, k) in classes.enumerated() { c.fill(x0 + i * px, y, px, bandH, actionColour(k)) }
        }
        band(s.recentLabels, "truth")
        // Truth ahead and anticipation ahead of now.
        for (k, label) in s.futureLabels.enumerated() where label >= 0 {
            c.fill(nowX + 2 * px + k * px, y, px, bandH, actionColour(label))
        }
        y += bandH + 6
        for d in s.detectors {
            band(d.recent.map { argmax($0) }, d.kind.title)
            if d.kind == .oadtr {
                for (k, p) in s.anticipated.enumerated() {
                    c.fill(nowX + 2 * px + k * px, y, px, bandH, actionColour(argmax(p)))
                }
            }
            y += bandH + 4
            c.fill(x0, y + traceH, W * px, 1, (200, 200, 200))
            _ = c.text("p(class)", 6, y + traceH / 2, (90, 90, 90))
            for k in 1..<ActionStream.classes {
                var last: (Int, Int)?
                for (i, p) in d.recent.enumerated() {
                    let pt = (x0 + i * px + px / 2, y + traceH - Int(p[k] * Float(traceH)))
                    if let l = last { c.line(l.0, l.1, pt.0, pt.1, actionColour(k)) }
                    last = pt
                }
            }
            y += traceH + 10
        }
        // Attention of the task token over OadTR's history (the last T frames before now).
        if !s.attention.isEmpty {
            _ = c.text("attention", 6, y + 4, (0, 0, 0))
            let T = s.attention.count
            let hi = max(s.attention.max() ?? 1, 1e-6)
            for (i, a) in s.attention.enumerated() {
                let v = UInt8(255 - min(255, Int(a / hi * 255)))
                c.fill(nowX - (T - i) * px, y, px, 16, (v, v, 255))
            }
            y += 24
        }
        c.fill(nowX, 26, 1, y - 26, (0, 0, 0))
        _ = c.text("now", nowX - 20, y + 2, (0, 0, 0))
        _ = c.text("ahead", nowX + 4, y + 2, (0, 0, 0))
        // Legend.
        var lx = 8
        let ly = height - 18
        for (k, name) in ActionStream.classNames.enumerated() {
            c.fill(lx, ly, 10, 10, actionColour(k))
            lx += 14 + c.text(name, lx + 14, ly + 1, (0, 0, 0)) + 12
        }
        return (width, height, c.rgb)
    }
}
