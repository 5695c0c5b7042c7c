// The arithmetic of a scaling study as DeepSeek LLM (2024) does it: compute C = M·D with M the
// non-embedding FLOPs per token, IsoFLOP minima (for each budget, the model scale of lowest loss, from a
// parabola in log M fitted to the runs of that budget), and power laws fitted by least squares in
// log–log space: M_opt = M_base·C^a, D_opt = D_base·C^b, B_opt = B·C^β, η_opt = η·C^α.
import Foundation

public enum ScalingLaws {
    /// DeepSeek LLM's non-embedding FLOPs per token: M = 72·n_layer·d_model² + 6·n_layer·d_model·l_seq
    /// (attention's quadratic term included, the vocabulary's excluded).
    public static func flopsPerToken(layers: Int, width: Int, context: Int) -> Double {
        72 * Double(layers) * Double(width) * Double(width) + 6 * Double(layers) * Double(width) * Double(context)
    }

    /// y = coefficient · x^exponent fitted by least squares on (log x, log y); also R² of that fit.
    public static func powerLaw(x: [Double], y: [Double]) -> (coefficient: Double, exponent: Double, r2: Double)? {
        let pairs = zip(x, y).filter { $0.0 > 0 && $0.1 > 0 && $0.0.isFinite && $0.1.isFinite }
        guard pairs.count >= 2 else { return nil }
        let lx = pairs.map { Foundation.log($0.0) }
        let ly = pairs.map { Foundation.log($0.1) }
        guard let (slope, intercept, r2) = line(lx, ly) else { return nil }
        return (Foundation.exp(intercept), slope, r2)
    }

    /// L = E + k·C^γ (γ < 0): a power law above an irreducible loss E, fitted by searching E in
    /// [0, min L) for the best log–log line of L − E against C.
    public static func saturatingPowerLaw(x: [Double], y: [Double]) -> (
        floor: Double, coefficient: Double, exponent: Double, r2: Double
    )? {
        guard let lo = y.min(), lo > 0, x.count >= 3 else {
            return powerLaw(x: x, y: y).map { (0, $0.coefficient, $0.exponent, $0.r2) }
        }
        var best: (Double, Double, Double, Double)?
        for i in 0..<200 {
            let e = lo * Double(i) / 200
            guard let f = powerLaw(x: x, y: y.map { $0 - e }), f.exponent < 0 else { continue }
            if best == nil || f.r2 > best!.3 { best = (e, f.coefficient, f.exponent, f.r2) }
        }
        return best.map { (floor: $0.0, coefficient: $0.1, exponent: $0.2, r2: $0.3) }
    }

    /// Least-squares line y = slope·x + intercept and its R² (nil when x does not vary).
    static func line(_ x: [Double], _ y: [Double]) -> (Double, Double, Double)? {
        let n = Double(x.count)
        let mx = x.reduce(0, +) / n
        let my = y.reduce(0, +) / n
        var sxx = 0.0
        var sxy = 0.0
        var syy = 0.0
        for (a, b) in zip(x, y) {
            sxx += (a - mx) * (a - mx)
            sxy += (a - mx) * (b - my)
            syy += (b - my) * (b - my)
        }
        guard sxx > 0 else { return nil }
        let slope = sxy / sxx
        let r2 = syy > 0 ? (sxy * sxy) / (sxx * syy) : 1
        return (slope, my - slope * mx, r2)
    }

    /// The IsoFLOP minimum of one budget's runs (model scale M, loss): a parabola in log M through the
    /// best run and its two neighbours in M (the two nearest when the best is at an end); its vertex
    /// (clamped to those runs' range) and its loss (no lower than the best run minus its lead over the
    /// runner-up), or the best run when the parabola opens downwards or there are fewer than three runs. Local, because far from the minimum IsoFLOP curves are lopsided (a model
    /// much too large for its budget is badly undertrained) and a global parabola would be pulled off.
    public static func isoFLOPMinimum(_ runs: [(m: Double, loss: Double)]) -> (m: Double, loss: Double)? {
        let all = runs.filter { $0.m > 0 && $0.loss.isFinite }.sorted { $0.m < $1.m }
        guard let best = all.min(by: { $0.loss < $1.loss }) else { return nil }
        guard all.count >= 3 else { return best }
        let i = all.firstIndex { $0.m == best.m && $0.loss == best.loss }!
        let lo0 = Swift.min(Swift.max(0, i - 1), all.count - 3)
        let r = Array(all[lo0..<(lo0 + 3)])
        let xs = r.map { Foundation.log($0.m) }
        let ys = r.map(\.loss)
        // Normal equations of y = a + b x + c x² (x centred for conditioning).
        let mx = xs.reduce(0, +) / Double(xs.count)
        var s = [Double](repeating: 0, count: 5)  // Σ x^k, k = 0…4
        var t = [Double](repeating: 0, count: 3)  // Σ y x^k, k = 0…2
        for (x0, y) in zip(xs, ys) {
            let x = x0 - mx
            var p = 1.0
            for k in 0..<5 {
                s[k] += p
                if k < 3 { t[k] += y * p }
                p *= x
            }
        }
        let m = [[s[0], s[1], s[2]], [s[1], s[2], s[3]], [s[2], s[3], s[4]]]
        guard let abc = solve3(m, t), abc[2] > 0 else { return best }
        let lo = xs.min()! - mx
        let hi = xs.max()! - mx
        let vx = Swift.min(hi, Swift.max(lo, -abc[1] / (2 * abc[2])))
        // The loss there: the parabola's, but never below the best run by more than the gap to the
        // runner-up (with one side steep, the vertex of three points can dip far below every run).
        let second = r.map(\.loss).sorted()[1]
        let vertexLoss = abc[0] + abc[1] * vx + abc[2] * vx * vx
        return (Foundation.exp(vx + mx), Swift.max(vertexLoss, best.loss - (second - best.loss)))
    }

    /// Solves a 3 × 3 system by Cramer's rule (nil when singular).
    static func solve3(_ a: [[Double]], _ b: [Double]) -> [Double]? {
        func det(_ m: [[Double]]) -> Double {
            m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
                + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
        }
        let d = det(a)
        guard d.magnitude > 1e-300 else { return nil }
        return (0..<3).map { col in
            var m = a
            for row in 0..<3 { m[row][col] = b[row] }
            return det(m) / d
        }
    }

    /// From IsoFLOP minima (budget C, optimal M): the fits M_opt = M_base·C^a and D_opt = C / M_opt =
    /// D_base·C^b (so a + b = 1).
    public static func optimalAllocation(_ minima: [(c: Double, m: Double)]) -> (
        model: (coefficient: Double, exponent: Double, r2: Double),
        data: (coefficient: Double, exponent: Double, r2: Double)
    )? {
        guard let model = powerLaw(x: minima.map(\.c), y: minima.map(\.m)),
            let data = powerLaw(x: minima.map(\.c), y: minima.map { $0.c / $0.m })
        else { return nil }
        return (model, data)
    }
}
