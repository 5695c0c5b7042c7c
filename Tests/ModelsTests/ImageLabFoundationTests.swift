import Compute
import Models
import XCTest

final class ImageLabFoundationTests: XCTestCase {
    /// The Hungarian solver equals brute force over every permutation on small random sets.
    func testExactW1EqualsBruteForce() {
        var rng = RNG(seed: 3)
        for n in [1, 2, 3, 5, 7] {
            for _ in 0..<5 {
                let a = Tensor.randn([n, 2], rng: &rng)
                let b = Tensor.randn([n, 2], rng: &rng)
                let pa = a.toArray()
                let pb = b.toArray()
                func dist(_ i: Int, _ j: Int) -> Double {
                    let dx = Double(pa[2 * i] - pb[2 * j])
                    let dy = Double(pa[2 * i + 1] - pb[2 * j + 1])
                    return (dx * dx + dy * dy).squareRoot()
                }
                var best = Double.infinity
                var perm = Array(0..<n)
                func search(_ k: Int) {
                    if k == n {
                        best = min(best, (0..<n).reduce(0) { $0 + dist($1, perm[$1]) } / Double(n))
                        return
                    }
                    for i in k..<n {
                        perm.swapAt(k, i)
                        search(k + 1)
                        perm.swapAt(k, i)
                    }
                }
                search(0)
                XCTAssertEqual(ExactWasserstein.w1(a, b), best, accuracy: 1e-9, "n = \(n)")
            }
        }
        // A set against itself, shifted: W1 is the shift.
        let a = Tensor.randn([40, 2], rng: &rng)
        let shifted = Tensor(
            shape: [40, 2], data: a.toArray().enumerated().map { $0.offset % 2 == 0 ? $0.element + 3 : $0.element })
        XCTAssertEqual(ExactWasserstein.w1(a, a), 0, accuracy: 1e-9)
        XCTAssertEqual(ExactWasserstein.w1(a, shifted), 3, accuracy: 1e-4)
    }

    func testPlaneDistributionsCoverTheirModes() {
        var rng = RNG(seed: 9)
        for dist in [PlaneDistribution.ring8, .grid25] {
            let real = dist.sample(2000, rng: &rng)
            let (hit, quality) = dist.coverage(real)
            XCTAssertEqual(hit, dist.modes.count, "\(dist): real samples hit every mode")
            XCTAssertGreaterThan(quality, 0.95)
            // Samples from only the first mode cover one mode.
            let one = Tensor(shape: [50, 2], data: (0..<50).flatMap { _ in [dist.modes[0].x, dist.modes[0].y] })
            XCTAssertEqual(dist.coverage(one).modesHit, 1)
        }
        for dist in [PlaneDistribution.swissRoll, .twoMoons] {
            let p = dist.sample(500, rng: &rng).toArray()
            XCTAssertTrue(p.allSatisfy { $0.isFinite && abs($0) < 3 }, "\(dist) stays in the plane's window")
        }
    }
}
