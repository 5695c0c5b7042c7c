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

final class ImageDatasetTests: XCTestCase {
    func testGlyphsAreInkedDistinctAndReproducible() {
        let g = GlyphImages(count: 400, size: 16, classes: 10, seed: 1)
        XCTAssertEqual(g.images.shape, [400, 1, 16, 16])
        let px = g.images.toArray()
        var means = [[Float]](repeating: [Float](repeating: 0, count: 256), count: 10)
        var counts = [Int](repeating: 0, count: 10)
        for (n, label) in g.labels.enumerated() {
            let img = px[(n * 256)..<((n + 1) * 256)]
            let ink = img.reduce(0, +)
            XCTAssertGreaterThan(ink, 8, "glyph \(n) has ink")
            XCTAssertLessThan(ink, 160, "glyph \(n) is not a blot")
            for i in 0..<256 { means[label][i] += img[img.startIndex + i] }
            counts[label] += 1
        }
        // Class means differ: 1 and 8 are far apart.
        let m1 = means[1].map { $0 / Float(max(1, counts[1])) }
        let m8 = means[8].map { $0 / Float(max(1, counts[8])) }
        XCTAssertGreaterThan(zip(m1, m8).map { abs($0 - $1) }.reduce(0, +), 10)
        XCTAssertEqual(GlyphImages(count: 5, seed: 7).images.toArray(), GlyphImages(count: 5, seed: 7).images.toArray())
        XCTAssertNotEqual(
            GlyphImages(count: 5, seed: 7).images.toArray(), GlyphImages(count: 5, seed: 8).images.toArray())
    }

    func testShapesMatchTheirCaptions() {
        let s = ShapeImages(count: 200, seed: 2)
        XCTAssertEqual(s.images.shape, [200, 3, 32, 32])
        let px = s.images.toArray()
        for (n, a) in s.attributes.enumerated() {
            XCTAssertEqual(ShapeImages.attributes(of: a.caption), a, a.caption)
            for word in a.caption.split(separator: " ") {
                XCTAssertTrue(ShapeImages.vocabulary.contains(String(word)), String(word))
            }
            // The pixel at the shape's centre has the caption's colour.
            let (cx, cy) =
                a.place == .centre
                ? (16, 16)
                : (
                    a.place == .topLeft || a.place == .bottomLeft ? 10 : 22,
                    a.place == .topLeft || a.place == .topRight ? 10 : 22
                )
            let rgb = (0..<3).map { px[((n * 3 + $0) * 32 + cy) * 32 + cx] }
            let want = a.colour.rgb
            XCTAssertEqual(rgb[0], want.0, accuracy: 0.01, a.caption)
            XCTAssertEqual(rgb[1], want.1, accuracy: 0.01, a.caption)
            XCTAssertEqual(rgb[2], want.2, accuracy: 0.01, a.caption)
        }
        XCTAssertEqual(Set(s.attributes.map(\.shape)).count, 4)
        XCTAssertNil(ShapeImages.attributes(of: "a large pink elephant at the top left"))
    }
}
