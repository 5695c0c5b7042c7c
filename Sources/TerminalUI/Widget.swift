// What every widget is: a pure function of its fields that draws into an area of a buffer, given the
// terminal's capabilities (glyph set, colour depth) and the theme. One signature for all of them.

/// Named colours of the 256-colour palette, so views say what a colour means, not its number.
public struct Theme: Sendable {
    /// Body text, secondary labels, axis and hint text, faint decorations.
    public var text: Color = 252, label: Color = 250, dim: Color = 244, faint: Color = 240
    /// Focus, the user's words, the model's words, warnings, errors, good news.
    public var accent: Color = 45, user: Color = 81, model: Color = 229, warning: Color = 214, error: Color = 196,
        good: Color = 114
    /// The status line's background and its values.
    public var statusBackground: Color = 238, statusValue: Color = 231
    public init() {}
    public static let standard = Theme()
}

/// The terminal as a widget may use it.
public struct WidgetContext: Sendable {
    public var glyphs: Glyphs
    /// 0 (no colour), 8, 16 or 256.
    public var colors: Int
    public var theme: Theme
    public init(glyphs: Glyphs, colors: Int = 256, theme: Theme = .standard) {
        self.glyphs = glyphs
        self.colors = colors
        self.theme = theme
    }
}

public protocol Widget {
    /// Draws into `area` of `buf`; reads only the widget's fields and the context.
    func render(_ area: Rect, into buf: inout Buffer, _ ctx: WidgetContext)
}
