// Two-class datasets in the plane, as in the TensorFlow Playground: two spirals (Lang & Witbrock
// 1988), concentric circles, XOR quadrants and two Gaussian blobs. Seeded; coordinates in about
// [−1, 1]².
import Compute
import Foundation

public enum ToyDataset: String, CaseIterable, Codable, Sendable {
    case spirals, circles, xor, gaussians

    public var summary: String {
        switch self {
        case .spirals: return "two interleaved spirals (no straight line separates them)"
        case .circles: return "a disc inside a ring"
        case .xor: return "opposite quadrants share a class"
        case .gaussians: return "two Gaussian blobs (linearly separable)"
        }
    }
}

public struct ToyClassification {
    /// Points [N, 2] and labels (0 or 1), N = 2 · perClass.
    public let points: Tensor
    public let labels: [Int]
    public let dataset: ToyDataset

    public init(_ dataset: ToyDataset, perClass: Int = 200, noise: Float = 0.02, seed: UInt64) {
        self.dataset = dataset
        if dataset == .spirals {
            let s = TwoSpirals(perClass: perClass, noise: noise, seed: seed)
            points = s.points
            labels = s.labels
            return
        }
        var rng = RNG(seed: seed)
        var xs: [Float] = []
        var ys: [Int] = []
        for cls in 0..<2 {
            for _ in 0..<perClass {
                var x: Float
                var y: Float
                switch dataset {
                case .circles:
                    let angle = rng.uniform(0, 2 * .pi)
                    let r = cls == 0 ? rng.uniform(0, 0.45) : rng.uniform(0.65, 0.95)
                    x = r * cos(angle)
                    y = r * sin(angle)
                case .xor:
                    repeat {
                        x = rng.uniform(-0.95, 0.95)
                        y = rng.uniform(-0.95, 0.95)
                    } while abs(x) < 0.05 || abs(y) < 0.05 || ((x * y > 0) ? 0 : 1) != cls
                case .gaussians:
                    let c: Float = cls == 0 ? -0.45 : 0.45
                    x = c + 0.18 * rng.normal()
                    y = c + 0.18 * rng.normal()
                case .spirals:
                    x = 0
                    y = 0
                }
                xs.append(x + noise * rng.normal())
                xs.append(y + noise * rng.normal())
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
