// Two interleaved spirals (Lang & Witbrock 1988): the classic task a linear model cannot solve and
// a small MLP can. Seeded, so a run is reproducible.
import Compute
import Foundation

public struct TwoSpirals {
    /// Points [2·perClass, 2] and labels (0 or 1).
    public let points: Tensor
    public let labels: [Int]

    /// `turns` revolutions per spiral, Gaussian jitter of `noise` (in units of the outer radius).
    public init(perClass: Int, turns: Double = 1.75, noise: Float = 0.02, seed: UInt64) {
        var rng = RNG(seed: seed)
        var xs: [Float] = []
        var ys: [Int] = []
        for cls in 0..<2 {
            for i in 0..<perClass {
                let t = Double(i) / Double(perClass) * turns * 2 * Double.pi + 0.3
                let r = t / (turns * 2 * Double.pi + 0.3)
                let phase = cls == 0 ? 0.0 : Double.pi
                xs.append(Float(r * cos(t + phase)) + rng.normal() * noise)
                xs.append(Float(r * sin(t + phase)) + rng.normal() * noise)
                ys.append(cls)
            }
        }
        points = Tensor(shape: [2 * perClass, 2], data: xs)
        labels = ys
    }

    /// Fraction of points whose argmax prediction from `logits` [N, 2] matches the label.
    public func accuracy(_ logits: Tensor) -> Double {
        let pred = logits.argmax(1)
        return Double(zip(pred, labels).filter { $0 == $1 }.count) / Double(labels.count)
    }
}
