// Backends show a Buffer. NcursesBackend draws only the cells that changed since the last frame.
import CTerm
import Foundation

public enum Key: Equatable, Sendable {
    case char(Character)
    case enter, backspace, escape, left, right, up, down, tab, resize
    case ctrl(Character)
    case delete, home, end, backtab
    /// A left click on cell (x, y).
    case click(x: Int, y: Int)
}

public protocol Backend: AnyObject {
    var size: (width: Int, height: Int) { get }
    var glyphs: Glyphs { get }
    var colors: Int { get }
    func draw(_ buffer: Buffer)
    /// The next key, waiting at most `timeoutMs` (nil if none).
    func poll(timeoutMs: Int) -> Key?
}

/// Why the terminal UI cannot start.
public struct TerminalUnavailable: Error, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}

public final class NcursesBackend: Backend {
    public let glyphs: Glyphs
    public private(set) var colors: Int
    var last: Buffer?

    /// Starts ncurses; refuses a dumb or unknown terminal, or stdin/stdout that are not terminals.
    public init(environment: [String: String]) throws {
        let term = environment["TERM"] ?? ""
        guard isatty(0) == 1 && isatty(1) == 1 else {
            throw TerminalUnavailable(reason: "stdin and stdout must be a terminal")
        }
        guard !term.isEmpty && term != "dumb" else {
            throw TerminalUnavailable(reason: "TERM=\(term.isEmpty ? "(unset)" : term) cannot show the UI")
        }
        let utf8 = term_locale_is_utf8() != 0
        let noColor = !(environment["NO_COLOR"] ?? "").isEmpty
        guard term_start(noColor ? 0 : 1) == 0 else {
            throw TerminalUnavailable(reason: "cannot initialise terminal type \"\(term)\"")
        }
        term_install_signal_handlers()
        glyphs = Glyphs(unicode: utf8)
        colors = Int(term_colors())
    }

    deinit { term_stop() }

    public func stop() { term_stop() }

    public var size: (width: Int, height: Int) { (Int(term_cols()), Int(term_rows())) }

    public func draw(_ b: Buffer) {
        if BufferDiff.needsFullRepaint(from: last, to: b) { term_clear() }
        for change in BufferDiff.drawn(from: last, to: b, unicode: glyphs.unicode) {
            let c = change.cell
            let ch = glyphs.unicode ? c.ch.value : NcursesBackend.ascii(c.ch)
            term_put(Int32(change.y), Int32(change.x), ch, Int32(c.style.fg), Int32(c.style.bg), c.style.bold ? 1 : 0)
        }
        term_refresh()
        last = b
    }

    /// Without a UTF-8 locale, text symbols become their nearest ASCII (widgets already use ASCII
    /// glyph sets for boxes, bars and plots).
    static func ascii(_ u: Unicode.Scalar) -> UInt32 {
        if u == Cell.wideTail { return UInt32(UInt8(ascii: "?")) }  // a wide character's second column
        if u.value < 128 { return u.value }
        switch u {
        case "—", "–", "─", "━": return UInt32(UInt8(ascii: "-"))
        case "▶", "→": return UInt32(UInt8(ascii: ">"))
        case "◀", "←": return UInt32(UInt8(ascii: "<"))
        case "·", "•": return UInt32(UInt8(ascii: "."))
        case "×": return UInt32(UInt8(ascii: "x"))
        case "…": return UInt32(UInt8(ascii: "~"))
        case "⏎": return UInt32(UInt8(ascii: "|"))
        case "▌", "█", "▀", "▇", "▆", "▅": return UInt32(UInt8(ascii: "#"))
        case "▄", "▃", "▂", "▁", "␣": return UInt32(UInt8(ascii: "_"))
        case "↑": return UInt32(UInt8(ascii: "^"))
        case "↓": return UInt32(UInt8(ascii: "v"))
        case "−": return UInt32(UInt8(ascii: "-"))
        case "‖", "❚", "│": return UInt32(UInt8(ascii: "|"))
        case "═": return UInt32(UInt8(ascii: "="))
        case "▸": return UInt32(UInt8(ascii: ">"))
        case "●", "○": return UInt32(UInt8(ascii: "o"))
        case "∝": return UInt32(UInt8(ascii: "~"))
        case "²": return UInt32(UInt8(ascii: "2"))
        default: return UInt32(UInt8(ascii: "?"))
        }
    }

    public func poll(timeoutMs: Int) -> Key? {
        var function: Int32 = 0
        let k = term_get_key(Int32(timeoutMs), &function)
        if k < 0 { return nil }
        if function != 0 {
            switch k {
            case term_key_resize():
                last = nil
                return .resize
            case term_key_left(): return .left
            case term_key_right(): return .right
            case term_key_up(): return .up
            case term_key_down(): return .down
            case term_key_enter(): return .enter
            case term_key_backspace(): return .backspace
            case term_key_delete(): return .delete
            case term_key_home(): return .home
            case term_key_end(): return .end
            case 0x161: return .backtab  // KEY_BTAB
            case term_key_mouse():
                var x: Int32 = 0
                var y: Int32 = 0
                return term_mouse(&x, &y) == 0 ? .click(x: Int(x), y: Int(y)) : nil
            default: return nil
            }
        }
        return NcursesBackend.key(forCodePoint: Int(k))
    }

    /// A typed character (already decoded from the locale's multibyte input) or a control code.
    public static func key(forCodePoint k: Int) -> Key? {
        switch k {
        case 10, 13: return .enter
        case 127, 8: return .backspace
        case 27: return .escape
        case 9: return .tab
        case 1...26: return .ctrl(Character(Unicode.Scalar(UInt8(k + 96))))
        default:
            if k >= 0x20, k < 0x110000, let u = Unicode.Scalar(UInt32(k)) { return .char(Character(u)) }
            return nil
        }
    }

    /// The characters in bytes a terminal sent, decoded as the backend does without a UTF-8 locale:
    /// UTF-8 where the bytes are valid UTF-8, else each byte as Latin-1.
    public static func decodeTerminalBytes(_ bytes: [UInt8]) -> String {
        var out = String.UnicodeScalarView()
        var i = 0
        let ints = bytes.map(Int32.init)
        while i < ints.count {
            var used: Int32 = 1
            let cp = ints[i...].withContiguousStorageIfAvailable {
                term_decode_utf8($0.baseAddress!, Int32($0.count), &used)
            }
            if let cp, let u = Unicode.Scalar(UInt32(cp)) { out.append(u) }
            i += Int(used)
        }
        return String(out)
    }

    /// 0, or the signal (SIGINT, SIGTERM, SIGHUP) that asked the app to quit.
    public var quitSignal: Int32 { term_quit_signal() }
}

/// Renders into memory: tests read `buffer.lines`, and queued keys drive the app.
public final class TestBackend: Backend {
    public var size: (width: Int, height: Int)
    public let glyphs: Glyphs
    public let colors: Int
    public private(set) var buffer: Buffer
    public var keys: [Key] = []
    public private(set) var frames = 0

    public init(width: Int, height: Int, unicode: Bool = true, colors: Int = 256) {
        size = (width, height)
        glyphs = Glyphs(unicode: unicode)
        self.colors = colors
        buffer = Buffer(width: width, height: height)
    }
    public func draw(_ b: Buffer) {
        buffer = b
        frames += 1
    }
    public func poll(timeoutMs: Int) -> Key? { keys.isEmpty ? nil : keys.removeFirst() }
}
