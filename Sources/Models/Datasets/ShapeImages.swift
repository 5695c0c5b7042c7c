// Shapes: coloured circles, squares, triangles and stars of two sizes at five places, over a plain or
// gradient background, as 32 × 32 RGB images, each with a caption such as "a small red circle at the
// top left". The caption vocabulary is fixed and small, so a text encoder (the diffusion lab's) can
// condition on it; `attributes(of:)` reads a caption back.
import Compute
import Foundation

public struct ShapeImages {
    public enum Shape: String, CaseIterable, Sendable { case circle, square, triangle, star }
    public enum Colour: String, CaseIterable, Sendable {
        case red, green, blue, yellow, purple, orange
        public var rgb: (Float, Float, Float) {
            switch self {
            case .red: return (0.9, 0.15, 0.15)
            case .green: return (0.15, 0.75, 0.2)
            case .blue: return (0.15, 0.3, 0.9)
            case .yellow: return (0.95, 0.85, 0.1)
            case .purple: return (0.6, 0.2, 0.8)
            case .orange: return (0.95, 0.55, 0.1)
            }
        }
    }
    public enum Size: String, CaseIterable, Sendable { case small, large }
    public enum Place: String, CaseIterable, Sendable {
        case topLeft = "top left"
        case topRight = "top right"
        case bottomLeft = "bottom left"
        case bottomRight = "bottom right"
        case centre = "centre"
        /// Centre of the shape, in [0, 1]².
        var point: (Float, Float) {
            switch self {
            case .topLeft: return (0.3, 0.3)
            case .topRight: return (0.7, 0.3)
            case .bottomLeft: return (0.3, 0.7)
            case .bottomRight: return (0.7, 0.7)
            case .centre: return (0.5, 0.5)
            }
        }
    }

    public struct Attributes: Equatable, Sendable {
        public var shape: Shape, colour: Colour, size: Size, place: Place
        public var caption: String {
            "a \(size.rawValue) \(colour.rawValue) \(shape.rawValue) "
                + (place == .centre ? "in the centre" : "at the \(place.rawValue)")
        }
    }

    /// Every word a caption can contain, in a fixed order (token ids for a text encoder).
    public static let vocabulary: [String] = {
        var words = ["a", "at", "the", "in", "top", "bottom", "left", "right", "centre"]
        words += Size.allCases.map(\.rawValue) + Colour.allCases.map(\.rawValue) + Shape.allCases.map(\.rawValue)
        return words
    }()

    /// Images [n, 3, 32, 32] in [0, 1], their attributes and captions.
    public let images: Tensor
    public let attributes: [Attributes]
    public var captions: [String] { attributes.map(\.caption) }
    public static let size = 32

    public init(count: Int, seed: UInt64) {
        var rng = RNG(seed: seed)
        let S = ShapeImages.size
        var px = [Float](repeating: 0, count: count * 3 * S * S)
        var attrs: [Attributes] = []
        for n in 0..<count {
            let a = Attributes(
                shape: Shape.allCases[rng.int(below: Shape.allCases.count)],
                colour: Colour.allCases[rng.int(below: Colour.allCases.count)],
                size: Size.allCases[rng.int(below: 2)], place: Place.allCases[rng.int(below: Place.allCases.count)])
            attrs.append(a)
            let gradient = rng.int(below: 2) == 0
            let base = rng.uniform(0.75, 0.95)
            let (cx, cy) = a.place.point
            let r: Float = (a.size == .small ? 0.13 : 0.22) * rng.uniform(0.9, 1.1)
            let (jx, jy) = (rng.uniform(-0.03, 0.03), rng.uniform(-0.03, 0.03))
            let fill = a.colour.rgb
            for y in 0..<S {
                for x in 0..<S {
                    let u = (Float(x) + 0.5) / Float(S)
                    let v = (Float(y) + 0.5) / Float(S)
                    let bg = gradient ? base - 0.25 * v : base
                    let inside = ShapeImages.contains(a.shape, u - cx - jx, v - cy - jy, r)
                    let c = inside ? fill : (bg, bg, bg)
                    for (ch, value) in [c.0, c.1, c.2].enumerated() { px[((n * 3 + ch) * S + y) * S + x] = value }
                }
            }
        }
        images = Tensor(shape: [count, 3, S, S], data: px)
        attributes = attrs
    }

    /// Whether (dx, dy) from the centre is inside the shape of radius r.
    static func contains(_ shape: Shape, _ dx: Float, _ dy: Float, _ r: Float) -> Bool {
        switch shape {
        case .circle: return dx * dx + dy * dy <= r * r
        case .square: return abs(dx) <= r * 0.85 && abs(dy) <= r * 0.85
        case .triangle:  // apex up: below the two sides, above the base
            return dy <= r * 0.8 && dy >= -r && abs(dx) <= (dy + r) * 0.6
        case .star:  // five points: the radius swings between r and 0.45 r with the angle
            let angle = atan2(dy, dx) + Float.pi / 2
            let t = abs((angle * 5 / (2 * Float.pi)).truncatingRemainder(dividingBy: 1) - 0.5) * 2
            let edge = r * (0.45 + 0.55 * t)
            return (dx * dx + dy * dy).squareRoot() <= edge
        }
    }

    /// The attributes a caption names (nil when it is not a caption of this dataset).
    public static func attributes(of caption: String) -> Attributes? {
        let words = caption.split(separator: " ").map(String.init)
        guard words.count >= 6, words[0] == "a", let size = Size(rawValue: words[1]),
            let colour = Colour(rawValue: words[2]),
            let shape = Shape(rawValue: words[3])
        else { return nil }
        let rest = words[4...].joined(separator: " ")
        let place: Place?
        if rest == "in the centre" {
            place = .centre
        } else if rest.hasPrefix("at the ") {
            place = Place(rawValue: String(rest.dropFirst(7)))
        } else {
            place = nil
        }
        guard let place else { return nil }
        return Attributes(shape: shape, colour: colour, size: size, place: place)
    }
}
