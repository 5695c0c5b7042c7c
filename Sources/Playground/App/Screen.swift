// What a screen is: its own state, one declarative key table (which drives both dispatch and the
// help overlay, so they cannot disagree), a pure render, its status-bar fields, and — for text
// entry — whether typed characters are text.
import TerminalUI

/// One row of a key table.
public struct KeyBinding: Sendable {
    /// The keys that trigger it (the first is the one help and the footer show).
    public let keys: [Key]
    /// How help spells the keys with a UTF-8 locale, and without one.
    public let label: String, asciiLabel: String
    public let help: String
    /// Shown in the footer (the screen's main keys, as btop and lazygit do).
    public let footer: Bool
    public let action: @Sendable (App) -> Void

    public init(
        _ keys: [Key], _ label: String, ascii: String? = nil, _ help: String, footer: Bool = false,
        action: @escaping @Sendable (App) -> Void
    ) {
        self.keys = keys
        self.label = label
        asciiLabel = ascii ?? label
        self.help = help
        self.footer = footer
        self.action = action
    }

    public func label(unicode: Bool) -> String { unicode ? label : asciiLabel }
}

/// What a render may read besides the screen's own state.
public struct RenderContext {
    public let glyphs: Glyphs
    public let colors: Int
    public let app: App
    /// What widgets need (glyph set, colour depth, theme).
    public var widgets: WidgetContext { WidgetContext(glyphs: glyphs, colors: colors) }
    public var theme: Theme { widgets.theme }
    /// The Unicode spelling with a UTF-8 locale, the ASCII one without.
    public func pick(_ unicode: String, _ ascii: String) -> String { glyphs.unicode ? unicode : ascii }
}

public protocol Screen: AnyObject {
    var title: String { get }
    var keyTable: [KeyBinding] { get }
    /// True while typed characters are text (a focused input field): the key table and the global
    /// keys then answer only to keys that cannot be text (Esc, Tab, arrows, Enter, Ctrl-…).
    var capturesText: Bool { get }
    /// Keys not in the table (text entry); returns true when the key was used.
    func input(_ key: Key, app: App) -> Bool
    /// Draws the screen; reads state, never changes it.
    func render(_ area: Rect, into buf: inout Buffer, _ ctx: RenderContext)
    /// Time-driven updates (animations), called every frame.
    func tick(app: App)
    func statusFields(app: App) -> [(String, String)]
    /// A click at (x, y) inside `area` (the screen's area, as last rendered).
    func click(x: Int, y: Int, area: Rect, app: App)
}

extension Screen {
    public var capturesText: Bool { false }
    public func input(_ key: Key, app: App) -> Bool { false }
    public func tick(app: App) {}
    public func statusFields(app: App) -> [(String, String)] { [] }
    public func click(x: Int, y: Int, area: Rect, app: App) {}
}
