// The drawing surface: a grid of cells (scalar, colours, bold). Widgets render into a Buffer (pure
// functions of their data and area, as in ratatui); a Backend shows the Buffer — ncurses on a real
// terminal, or text lines in tests. The TUI knows no lab.

/// 256-colour palette index; -1 is the terminal's default.
public typealias Color = Int16

public struct Style: Equatable, Sendable {
    public var fg: Color = -1, bg: Color = -1, bold = false
    public init(fg: Color = -1, bg: Color = -1, bold: Bool = false) {
        self.fg = fg
        self.bg = bg
        self.bold = bold
    }
    public static let plain = Style()
}

public struct Cell: Equatable, Sendable {
    public var ch: Unicode.Scalar = " "
    public var style = Style()
}

public struct Rect: Equatable, Sendable {
    public var x, y, width, height: Int
    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = max(0, width)
        self.height = max(0, height)
    }
    public var isEmpty: Bool { width <= 0 || height <= 0 }
    /// The area inside a one-cell border.
    public var inner: Rect { Rect(x: x + 1, y: y + 1, width: width - 2, height: height - 2) }
    public func contains(x px: Int, y py: Int) -> Bool { px >= x && py >= y && px < x + width && py < y + height }

    /// Splits [start, start + length) by weights; the last part takes the remainder.
    static func split(_ start: Int, _ length: Int, _ weights: [Int]) -> [(Int, Int)] {
        let total = max(weights.reduce(0, +), 1)
        var out: [(Int, Int)] = []
        var at = start
        for (i, w) in weights.enumerated() {
            let n = i == weights.count - 1 ? start + length - at : length * w / total
            out.append((at, n))
            at += n
        }
        return out
    }

    /// Splits into columns of the given weights (the last takes the remainder).
    public func columns(_ weights: [Int]) -> [Rect] {
        Rect.split(x, width, weights).map { Rect(x: $0.0, y: y, width: $0.1, height: height) }
    }

    /// Splits into rows of the given weights (the last takes the remainder).
    public func rows(_ weights: [Int]) -> [Rect] {
        Rect.split(y, height, weights).map { Rect(x: x, y: $0.0, width: width, height: $0.1) }
    }

    /// Top `n` rows and the rest.
    public func splitTop(_ n: Int) -> (Rect, Rect) {
        let h = min(n, height)
        return (Rect(x: x, y: y, width: width, height: h), Rect(x: x, y: y + h, width: width, height: height - h))
    }
    public func splitBottom(_ n: Int) -> (Rect, Rect) {
        let h = min(n, height)
        return (
            Rect(x: x, y: y, width: width, height: height - h), Rect(x: x, y: y + height - h, width: width, height: h)
        )
    }
}

/// Which characters the terminal can show: Unicode box drawing, blocks and braille, or ASCII.
public struct Glyphs: Sendable {
    public let unicode: Bool
    public init(unicode: Bool) { self.unicode = unicode }
    public var horizontal: Unicode.Scalar { unicode ? "─" : "-" }
    public var vertical: Unicode.Scalar { unicode ? "│" : "|" }
    public var corners: (Unicode.Scalar, Unicode.Scalar, Unicode.Scalar, Unicode.Scalar) {
        unicode ? ("┌", "┐", "└", "┘") : ("+", "+", "+", "+")
    }
    public var full: Unicode.Scalar { unicode ? "█" : "#" }
    public var shade: Unicode.Scalar { unicode ? "░" : "." }
    /// Intensity ramp for monochrome heatmaps and images.
    public var ramp: [Unicode.Scalar] { unicode ? [" ", "░", "▒", "▓", "█"] : [" ", ".", ":", "o", "#"] }
}

public struct Buffer: Equatable, Sendable {
    public let width: Int, height: Int
    public var cells: [Cell]

    public init(width: Int, height: Int) {
        self.width = max(0, width)
        self.height = max(0, height)
        cells = Array(repeating: Cell(), count: self.width * self.height)
    }

    public var area: Rect { Rect(x: 0, y: 0, width: width, height: height) }

    public subscript(x: Int, y: Int) -> Cell {
        get { cells[y * width + x] }
        set { if x >= 0 && y >= 0 && x < width && y < height { cells[y * width + x] = newValue } }
    }

    public mutating func set(_ x: Int, _ y: Int, _ ch: Unicode.Scalar, _ style: Style = .plain) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        cells[y * width + x] = Cell(ch: ch, style: style)
    }

    /// Writes text from (x, y), clipped to `maxWidth` cells (one scalar per cell; wide characters
    /// are not used by Orrery's widgets). A combining mark (the hat of x̂) has no cell of its own: it
    /// is left out, since a cell holds one scalar, rather than shifting the rest of the line.
    /// Returns the number of cells written.
    @discardableResult
    public mutating func text(_ x: Int, _ y: Int, _ s: String, _ style: Style = .plain, maxWidth: Int = .max) -> Int {
        var i = 0
        for u in s.unicodeScalars {
            if i >= maxWidth || x + i >= width { break }
            if u.value < 0x20 { continue }
            switch u.properties.generalCategory {
            case .nonspacingMark, .enclosingMark, .spacingMark: continue
            default: break
            }
            set(x + i, y, u, style)
            i += 1
        }
        return i
    }

    public mutating func fill(_ r: Rect, _ ch: Unicode.Scalar = " ", _ style: Style = .plain) {
        for yy in r.y..<(r.y + r.height) { for xx in r.x..<(r.x + r.width) { set(xx, yy, ch, style) } }
    }

    /// A titled box; returns the inner area.
    @discardableResult
    public mutating func box(
        _ r: Rect, title: String = "", glyphs: Glyphs, style: Style = Style(fg: 244), focused: Bool = false
    ) -> Rect {
        guard r.width >= 2 && r.height >= 2 else { return Rect(x: r.x, y: r.y, width: 0, height: 0) }
        let st = focused ? Style(fg: 45, bold: true) : style
        let (tl, tr, bl, br) = glyphs.corners
        for xx in (r.x + 1)..<(r.x + r.width - 1) {
            set(xx, r.y, glyphs.horizontal, st)
            set(xx, r.y + r.height - 1, glyphs.horizontal, st)
        }
        for yy in (r.y + 1)..<(r.y + r.height - 1) {
            set(r.x, yy, glyphs.vertical, st)
            set(r.x + r.width - 1, yy, glyphs.vertical, st)
        }
        set(r.x, r.y, tl, st)
        set(r.x + r.width - 1, r.y, tr, st)
        set(r.x, r.y + r.height - 1, bl, st)
        set(r.x + r.width - 1, r.y + r.height - 1, br, st)
        if !title.isEmpty {
            text(r.x + 2, r.y, " \(title) ", Style(fg: focused ? 45 : 252, bold: true), maxWidth: r.width - 4)
        }
        return r.inner
    }

    /// The buffer as text lines (trailing spaces kept), for tests and captures.
    public var lines: [String] {
        (0..<height).map { y in String(String.UnicodeScalarView((0..<width).map { cells[y * width + $0].ch })) }
    }
}
