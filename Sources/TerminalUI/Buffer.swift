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
    /// The right half of a wide character, which the cell to its left holds: the terminal draws both
    /// columns from that one character, so a backend draws nothing for this cell.
    public static let wideTail: Unicode.Scalar = "\u{0}"
}

extension Unicode.Scalar {
    /// Columns a terminal gives this scalar: 0 for what Buffer.text leaves out (control characters,
    /// combining marks, zero-width format characters), 2 for East Asian wide and fullwidth characters
    /// and emoji (the ranges terminals draw two columns wide, as wcwidth has them), else 1.
    public var terminalColumns: Int {
        let v = value
        if v >= 0x20 && v < 0x7F { return 1 }  // printable ASCII, most of every frame
        if v < 0x20 || (v >= 0x7F && v < 0xA0) { return 0 }
        if v < 0x1100 { return properties.generalCategory.isZeroWidth ? 0 : 1 }
        if properties.generalCategory.isZeroWidth { return 0 }
        switch v {
        case 0x1100...0x115F, 0x231A...0x231B, 0x2329...0x232A, 0x23E9...0x23EC, 0x23F0, 0x23F3,
            0x25FD...0x25FE, 0x2614...0x2615, 0x2648...0x2653, 0x267F, 0x2693, 0x26A1, 0x26AA...0x26AB,
            0x26BD...0x26BE, 0x26C4...0x26C5, 0x26CE, 0x26D4, 0x26EA, 0x26F2...0x26F3, 0x26F5, 0x26FA, 0x26FD,
            0x2705, 0x270A...0x270B, 0x2728, 0x274C, 0x274E, 0x2753...0x2755, 0x2757, 0x2795...0x2797, 0x27B0,
            0x27BF, 0x2B1B...0x2B1C, 0x2B50, 0x2B55, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF,
            0x4E00...0x9FFF, 0xA000...0xA4CF, 0xA960...0xA97F, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE10...0xFE19,
            0xFE30...0xFE6F, 0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x16FE0...0x16FE4, 0x17000...0x18CFF,
            0x1B000...0x1B2FF, 0x1F004, 0x1F0CF, 0x1F18E, 0x1F191...0x1F19A, 0x1F200...0x1F251,
            0x1F300...0x1F320, 0x1F32D...0x1F335, 0x1F337...0x1F37C, 0x1F37E...0x1F393, 0x1F3A0...0x1F3CA,
            0x1F3CF...0x1F3D3, 0x1F3E0...0x1F3F0, 0x1F3F4, 0x1F3F8...0x1F43E, 0x1F440, 0x1F442...0x1F4FC,
            0x1F4FF...0x1F53D, 0x1F54B...0x1F54E, 0x1F550...0x1F567, 0x1F57A, 0x1F595...0x1F596, 0x1F5A4,
            0x1F5FB...0x1F64F, 0x1F680...0x1F6C5, 0x1F6CC, 0x1F6D0...0x1F6D2, 0x1F6D5...0x1F6D7,
            0x1F6DC...0x1F6DF, 0x1F6EB...0x1F6EC, 0x1F6F4...0x1F6FC, 0x1F7E0...0x1F7EB, 0x1F7F0,
            0x1F90C...0x1F93A, 0x1F93C...0x1F945, 0x1F947...0x1F9FF, 0x1FA70...0x1FAFF, 0x20000...0x2FFFD,
            0x30000...0x3FFFD:
            return 2
        default:
            return 1
        }
    }
}

extension Unicode.GeneralCategory {
    /// Marks that join the character before them, and invisible format characters (ZWJ, ZWSP …).
    var isZeroWidth: Bool {
        switch self {
        case .nonspacingMark, .enclosingMark, .spacingMark, .format: return true
        default: return false
        }
    }
}

extension StringProtocol {
    /// Columns a terminal gives this text (see `Unicode.Scalar.terminalColumns`).
    public var terminalColumns: Int { unicodeScalars.reduce(0) { $0 + $1.terminalColumns } }
}

extension Character {
    /// Columns a terminal gives this character (see `Unicode.Scalar.terminalColumns`).
    public var terminalColumns: Int { unicodeScalars.reduce(0) { $0 + $1.terminalColumns } }
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
        set {
            guard x >= 0 && y >= 0 && x < width && y < height else { return }
            unpair(x, y)
            cells[y * width + x] = newValue
        }
    }

    public mutating func set(_ x: Int, _ y: Int, _ ch: Unicode.Scalar, _ style: Style = .plain) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        unpair(x, y)
        cells[y * width + x] = Cell(ch: ch, style: style)
    }

    /// Before cell (x, y) is overwritten: a wide character it is half of loses its other half too (a
    /// terminal blanks a wide character written over in either column), so every wide character in
    /// the buffer keeps its tail and every tail its character.
    mutating func unpair(_ x: Int, _ y: Int) {
        let i = y * width + x
        if cells[i].ch == Cell.wideTail, x > 0 { cells[i - 1].ch = " " }
        if x + 1 < width, cells[i + 1].ch == Cell.wideTail { cells[i + 1].ch = " " }
    }

    /// Writes text from (x, y), clipped to `maxWidth` cells, one scalar per cell: two cells for a wide
    /// character (CJK, emoji: `terminalColumns`), the second a `Cell.wideTail`; one that does not fit
    /// whole ends the text. A combining mark (the hat of x̂) or a zero-width character has no cell of
    /// its own: it is left out, since a cell holds one scalar, rather than shifting the rest of the
    /// line. Returns the number of cells written.
    @discardableResult
    public mutating func text(_ x: Int, _ y: Int, _ s: String, _ style: Style = .plain, maxWidth: Int = .max) -> Int {
        var i = 0
        for u in s.unicodeScalars {
            if i >= maxWidth || x + i >= width { break }
            let columns = u.terminalColumns
            if columns == 0 { continue }
            if columns == 2 {
                if i + 2 > maxWidth || x + i + 1 >= width { break }
                set(x + i, y, u, style)
                self[x + i + 1, y] = Cell(ch: Cell.wideTail, style: style)
            } else {
                set(x + i, y, u, style)
            }
            i += columns
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
            // A title too long for the box is cut with a mark, so that it reads as cut.
            let shown = " " + elided(title, columns: r.width - 6, unicode: glyphs.unicode) + " "
            text(r.x + 2, r.y, shown, Style(fg: focused ? 45 : 252, bold: true), maxWidth: r.width - 4)
        }
        return r.inner
    }

    /// The buffer as text lines (trailing spaces kept), for tests and captures.
    /// A wide character appears once, as the terminal shows it over its two columns.
    public var lines: [String] {
        (0..<height).map { y in
            String(
                String.UnicodeScalarView((0..<width).map { cells[y * width + $0].ch }.filter { $0 != Cell.wideTail }))
        }
    }
}
