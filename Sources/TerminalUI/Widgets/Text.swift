// Text widgets: a scrolling log, a chat transcript, an input line, a progress bar, a status bar, and
// an RGB image in colour half-blocks (ASCII ramp without colour).

/// Wraps text to `width` columns (hard breaks at newlines).
public func wrap(_ s: String, width: Int) -> [String] {
    guard width > 0 else { return [] }
    var out: [String] = []
    for line in s.split(separator: "\n", omittingEmptySubsequences: false) {
        var cur = ""
        for word in line.split(separator: " ", omittingEmptySubsequences: false) {
            let w = String(word)
            if cur.isEmpty {
                cur = w
            } else if cur.count + 1 + w.count <= width {
                cur += " " + w
            } else {
                out.append(cur)
                cur = w
            }
            while cur.count > width {
                out.append(String(cur.prefix(width)))
                cur = String(cur.dropFirst(width))
            }
        }
        out.append(cur)
    }
    return out
}

public struct TextLog: Sendable {
    public var lines: [(String, Style)]
    public init(lines: [(String, Style)]) { self.lines = lines }
    /// Shows the newest lines that fit (wrapped).
    public func render(_ area: Rect, into buf: inout Buffer) {
        var rows: [(String, Style)] = []
        for (l, st) in lines { for w in wrap(l, width: area.width) { rows.append((w, st)) } }
        for (i, (l, st)) in rows.suffix(area.height).enumerated() {
            buf.text(area.x, area.y + i, l, st, maxWidth: area.width)
        }
    }
}

public struct ChatTranscript: Sendable {
    public var turns: [(user: String, assistant: String)]
    public var pending: String?
    public init(turns: [(user: String, assistant: String)], pending: String? = nil) {
        self.turns = turns
        self.pending = pending
    }
    public func render(_ area: Rect, into buf: inout Buffer) {
        var lines: [(String, Style)] = []
        for t in turns {
            lines.append(("you: " + t.user, Style(fg: 81, bold: true)))
            lines.append(("bot: " + t.assistant, Style(fg: 229)))
        }
        if let p = pending { lines.append(("bot: " + p + "▌", Style(fg: 229))) }
        TextLog(lines: lines).render(area, into: &buf)
    }
}

public struct InputLine: Sendable {
    public var prompt: String, field: TextField, active: Bool
    public init(prompt: String, field: TextField, active: Bool) {
        self.prompt = prompt
        self.field = field
        self.active = active
    }
    public init(prompt: String, text: String, active: Bool) {
        var f = TextField()
        f.insert(text)
        self.init(prompt: prompt, field: f, active: active)
    }
    /// The prompt, then as much of the text as fits with the cursor kept in view; the cursor is shown
    /// as a reversed cell when the field is active.
    public func render(_ area: Rect, into buf: inout Buffer) {
        let x = buf.text(area.x, area.y, prompt, Style(fg: 45, bold: true), maxWidth: area.width)
        let room = Swift.max(1, area.width - x - 1)
        let chars = field.characters
        let start = Swift.max(0, field.cursor - room + 1)
        let shown = String(chars[Swift.min(start, chars.count)..<Swift.min(chars.count, start + room)])
        buf.text(area.x + x, area.y, shown, .plain, maxWidth: room)
        if active {
            let column = String(chars[Swift.min(start, chars.count)..<field.cursor]).unicodeScalars.count
            let under = field.cursor < chars.count ? chars[field.cursor].unicodeScalars.first ?? " " : " "
            buf.set(area.x + x + Swift.min(column, room), area.y, under, Style(fg: 16, bg: 45, bold: true))
        }
    }
}

public struct ProgressBar: Sendable {
    public var fraction: Double, label: String
    public init(fraction: Double, label: String) {
        self.fraction = fraction
        self.label = label
    }
    public func render(_ area: Rect, into buf: inout Buffer, glyphs: Glyphs) {
        let lw = buf.text(area.x, area.y, label + " ", Style(fg: 250))
        let w = Swift.max(0, area.width - lw - 6)
        let n = Int((Swift.max(0, Swift.min(1, fraction)) * Double(w)).rounded())
        for i in 0..<w {
            buf.set(area.x + lw + i, area.y, i < n ? glyphs.full : glyphs.shade, Style(fg: i < n ? 41 : 238))
        }
        buf.text(area.x + lw + w + 1, area.y, "\(Int(fraction * 100))%", Style(fg: 250))
    }
}

/// A one-line bar of key/value fields, reversed colours.
public struct StatusBar: Sendable {
    public var fields: [(String, String)], message: String
    public init(fields: [(String, String)], message: String = "") {
        self.fields = fields
        self.message = message
    }
    public func render(_ area: Rect, into buf: inout Buffer) {
        buf.fill(area, " ", Style(fg: 16, bg: 238))
        // The message (what just happened: "wrote …", "saved …") is never dropped: it keeps up to 40 %
        // of the line, the fields get the rest and are cut at a field boundary.
        let messageRoom = message.isEmpty ? 0 : Swift.min(message.unicodeScalars.count, area.width * 2 / 5)
        let fieldEnd = area.x + area.width - messageRoom - (messageRoom > 0 ? 2 : 0)
        var x = area.x + 1
        for (k, v) in fields {
            let need = (k.isEmpty ? 0 : k.unicodeScalars.count + 1) + v.unicodeScalars.count
            if x + need > fieldEnd { break }
            if !k.isEmpty { x += buf.text(x, area.y, k + " ", Style(fg: 250, bg: 238)) }
            x += buf.text(x, area.y, v, Style(fg: 231, bg: 238, bold: true)) + 2
        }
        if messageRoom > 0 {
            let scalars = Array(message.unicodeScalars)
            var shown = String(String.UnicodeScalarView(scalars.prefix(messageRoom)))
            if scalars.count > messageRoom {
                // Keep the first word (what happened) and the end (a path's file name); mark the cut.
                let head = Array((message.split(separator: " ").first.map { String($0) + " …" } ?? "…").unicodeScalars)
                let keepHead = head.count < messageRoom / 2 ? head : ["…"]
                shown = String(String.UnicodeScalarView(keepHead + scalars.suffix(messageRoom - keepHead.count)))
            }
            buf.text(area.x + area.width - messageRoom - 1, area.y, shown, Style(fg: 229, bg: 238))
        }
    }
}

/// An RGB image (row-major, 3 bytes per pixel) in half-blocks: each cell shows two pixels.
public struct ImageView: Sendable {
    public var width: Int, height: Int, rgb: [UInt8]
    public init(width: Int, height: Int, rgb: [UInt8]) {
        self.width = width
        self.height = height
        self.rgb = rgb
    }

    /// Nearest colour of the 256-colour palette's 6×6×6 cube or grey ramp.
    public static func quantize(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> Color {
        func level(_ v: UInt8) -> Int { v < 48 ? 0 : v < 115 ? 1 : (Int(v) - 35) / 40 }
        let (ri, gi, bi) = (level(r), level(g), level(b))
        let steps = [0, 95, 135, 175, 215, 255]
        let cube = 16 + 36 * ri + 6 * gi + bi
        let grey = (Int(r) + Int(g) + Int(b)) / 3
        let gi2 = grey > 238 ? 23 : Swift.max(0, (grey - 3) / 10)
        let gv = 8 + 10 * gi2
        func dist(_ a: (Int, Int, Int)) -> Int {
            (a.0 - Int(r)) * (a.0 - Int(r)) + (a.1 - Int(g)) * (a.1 - Int(g)) + (a.2 - Int(b)) * (a.2 - Int(b))
        }
        return dist((steps[ri], steps[gi], steps[bi])) <= dist((gv, gv, gv)) ? Color(cube) : Color(232 + gi2)
    }

    public func render(_ area: Rect, into buf: inout Buffer, glyphs: Glyphs, colors: Int) {
        guard width > 0, height > 0 else { return }
        let cols = Swift.min(area.width, width)
        let rows = Swift.min(area.height, (height + 1) / 2)
        func px(_ x: Int, _ y: Int) -> (UInt8, UInt8, UInt8) {
            let sx = x * width / cols
            let sy = Swift.min(height - 1, y * height / (rows * 2))
            let i = (sy * width + sx) * 3
            return (rgb[i], rgb[i + 1], rgb[i + 2])
        }
        for cy in 0..<rows {
            for cx in 0..<cols {
                let top = px(cx, 2 * cy)
                let bottom = px(cx, 2 * cy + 1)
                if colors > 0 && glyphs.unicode {
                    buf.set(
                        area.x + cx, area.y + cy, "▀",
                        Style(
                            fg: ImageView.quantize(top.0, top.1, top.2),
                            bg: ImageView.quantize(bottom.0, bottom.1, bottom.2)))
                } else {
                    let lum = (Int(top.0) + Int(top.1) + Int(top.2) + Int(bottom.0) + Int(bottom.1) + Int(bottom.2)) / 6
                    let ramp: [Unicode.Scalar] = [" ", ".", ":", "-", "=", "+", "*", "#", "%", "@"]
                    buf.set(area.x + cx, area.y + cy, ramp[Swift.min(9, lum * 10 / 256)])
                }
            }
        }
    }
}

/// Images laid out in a grid (sample grids of the image labs), `columns` per row, one cell gap.
public struct ImageGrid: Sendable {
    public var images: [ImageView], columns: Int
    public init(images: [ImageView], columns: Int) {
        self.images = images
        self.columns = max(1, columns)
    }
    public func render(_ area: Rect, into buf: inout Buffer, glyphs: Glyphs, colors: Int) {
        guard !images.isEmpty else { return }
        let rows = (images.count + columns - 1) / columns
        let cw = (area.width - (columns - 1)) / columns
        let ch = (area.height - (rows - 1)) / rows
        guard cw > 0 && ch > 0 else { return }
        for (i, im) in images.enumerated() {
            let r = Rect(
                x: area.x + (i % columns) * (cw + 1), y: area.y + (i / columns) * (ch + 1), width: cw, height: ch)
            im.render(r, into: &buf, glyphs: glyphs, colors: colors)
        }
    }
}
