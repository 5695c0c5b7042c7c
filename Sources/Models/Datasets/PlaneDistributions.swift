// Two-dimensional distributions for generative models, as in the GAN literature: eight Gaussians on a
// ring and a 5 × 5 grid of Gaussians (mode coverage is countable), a swiss roll and two moons.
// Seeded; points in about [−2, 2]².
import Compute
import Foundation

public enum PlaneDistribution: String, CaseIterable, Codable, Sendable {
    case ring8, grid25, swissRoll, twoMoons

    /// The centres of the modes (ring and grid); empty for the continuous shapes.
    public var modes: [(x: Float, y: Float)] {
        switch self {
        case .ring8:
            return (0..<8).map { (k: Int) -> (x: Float, y: Float) in
                let angle = Float(k) * Float.pi / 4
                return (2 * cos(angle), 2 * sin(angle))
            }
        case .grid25:
            return (0..<25).map { (k: Int) -> (x: Float, y: Float) in (Float(k % 5 - 2), Float(k / 5 - 2)) }
        case .swissRoll, .twoMoons: return []
        }
    }

    /// Standard deviation of each mode's Gaussian (ring and grid).
    public var modeStd: Float { self == .ring8 ? 0.02 * 2 : 0.05 }

    /// `n` points [n, 2].
    public func sample(_ n: Int, rng: inout RNG) -> Tensor {
        var xs: [Float] = []
        xs.reserveCapacity(2 * n)
        for _ in 0..<n {
            switch self {
            case .ring8, .grid25:
                let m = modes[rng.int(below: modes.count)]
                xs.append(m.x + modeStd * rng.normal())
                xs.append(m.y + modeStd * rng.normal())
            case .swissRoll:
                let t = 1.5 * Float.pi * (1 + 2 * rng.uniform())
                xs.append(t * cos(t) / 5 + 0.05 * rng.normal())
                xs.append(t * sin(t) / 5 + 0.05 * rng.normal())
            case .twoMoons:
                let a = Float.pi * rng.uniform()
                if rng.int(below: 2) == 0 {
                    xs.append(cos(a) - 0.5 + 0.05 * rng.normal())
                    xs.append(sin(a) - 0.25 + 0.05 * rng.normal())
                } else {
                    xs.append(1 - cos(a) - 0.5 + 0.05 * rng.normal())
                    xs.append(0.5 - sin(a) - 0.25 + 0.05 * rng.normal())
                }
            }
        }
        return Tensor(shape: [n, 2], data: xs)
    }

    /// Mode coverage of generated points [n, 2]: how many modes have at least `minCount` points within
    /// three standard deviations, and the fraction of points that are that close to some mode ("high
    /// quality"). For the continuous shapes: (0, 0).
    public func coverage(_ points: Tensor, minCount: Int = 5) -> (modesHit: Int, highQuality: Double) {
        guard !modes.isEmpty else { return (0, 0) }
        let p = points.toArray()
        let n = p.count / 2
        var counts = [Int](repeating: 0, count: modes.count)
        var good = 0
        let r2 = (3 * modeStd) * (3 * modeStd)
        for i in 0..<n {
            let x = p[2 * i]
            let y = p[2 * i + 1]
            var best = -1
            var bestD = Float.infinity
            for (k, m) in modes.enumerated() {
                let d = (x - m.x) * (x - m.x) + (y - m.y) * (y - m.y)
                if d < bestD {
                    bestD = d
                    best = k
                }
            }
            if bestD <= r2 {
                good += 1
                counts[best] += 1
            }
        }
        return (counts.filter { $0 >= minCount }.count, n == 0 ? 0 : Double(good) / Double(n))
    }
}
