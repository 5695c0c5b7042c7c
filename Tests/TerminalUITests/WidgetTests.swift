import TerminalUI
import XCTest

/// Widgets render into a Buffer; tests compare text line by line.
final class WidgetTests: XCTestCase {
    let uni = Glyphs(unicode: true), ascii = Glyphs(unicode: false)

    func testBoxTitleAndLayout() {
        var b = Buffer(width: 12, height: 4)
        let inner = b.box(b.area, title: "hi", glyphs: uni)
        XCTAssertEqual(inner, Rect(x: 1, y: 1, width: 10, height: 2))
        XCTAssertEqual(b.lines, ["┌─ hi ─────┐", "│          │", "│          │", "└──────────┘"])
        var a = Buffer(width: 6, height: 3)
        a.box(a.area, glyphs: ascii)
        XCTAssertEqual(a.lines, ["+----+", "|    |", "+----+"])
        let cols = Rect(x: 0, y: 0, width: 10, height: 5).columns([3, 2])
        XCTAssertEqual(cols.map(\.width), [6, 4])
        XCTAssertEqual(Rect(x: 0, y: 0, width: 10, height: 5).splitBottom(1).1, Rect(x: 0, y: 4, width: 10, height: 1))
    }

    /// A combining mark takes no cell of its own (it would shift the rest of the line by one).
    func testCombiningMarksDoNotShiftText() {
        var b = Buffer(width: 8, height: 1)
        XCTAssertEqual(b.text(0, 0, "x\u{0302}₀ ok"), 5)
        XCTAssertEqual(b.lines, ["x₀ ok   "])
    }

    func testLinePlotDrawsBrailleAndLabels() {
        var b = Buffer(width: 30, height: 6)
        let pts = (0..<50).map { (x: Double($0), y: 5.0 - Double($0) / 10) }
        LinePlot(series: [Series(name: "train", points: pts, color: 75)]).render(
            b.area, into: &b, WidgetContext(glyphs: uni))
        let text = b.lines.joined(separator: "\n")
        XCTAssertTrue(b.lines[0].hasPrefix("5.25"), b.lines[0])
        XCTAssertTrue(text.unicodeScalars.contains { $0.value >= 0x2801 && $0.value <= 0x28FF }, "braille dots drawn")
        XCTAssertTrue(b.lines[5].contains("train") && b.lines[5].hasSuffix("49"), "integer steps: \(b.lines[5])")
        // The curve falls: the first column with a dot is higher than the last.
        func firstRow(_ col: Int) -> Int? { (0..<5).first { b[col, $0].ch.value >= 0x2800 } }
        XCTAssertLessThan(firstRow(7)!, firstRow(29)!)
        var a = Buffer(width: 30, height: 6)
        LinePlot(series: [Series(name: "t", points: pts, color: 75)], logY: true, smoothing: 0.5).render(
            a.area, into: &a, WidgetContext(glyphs: ascii))
        // The curve itself (right of the 7-column tick labels, above the x axis) is drawn in ASCII dots.
        let plotCells = a.lines.dropLast().map { String($0.dropFirst(7)) }.joined()
        XCTAssertTrue(plotCells.contains("*") || plotCells.contains("."), "ASCII dots: \(a.lines)")
        XCTAssertFalse(
            a.lines.joined().unicodeScalars.contains { $0.value >= 0x2800 && $0.value <= 0x28FF }, "no braille")
        var e = Buffer(width: 30, height: 4)
        LinePlot(series: []).render(e.area, into: &e, WidgetContext(glyphs: uni))
        XCTAssertTrue(e.lines[0].hasPrefix("waiting for data"))
    }

    func testHeatmapWithoutColourUsesTheRamp() {
        var b = Buffer(width: 12, height: 5)
        Heatmap(values: [[0, 1], [1, 0]], rowLabels: ["a", "b"], columnLabels: ["x", "y"], range: (0, 1)).render(
            b.area, into: &b, WidgetContext(glyphs: uni, colors: 0))
        XCTAssertEqual(Array(b.lines[0].prefix(6)), Array("  x y "))
        XCTAssertEqual(Array(b.lines[1].prefix(6)), Array("a   ██"))
        XCTAssertEqual(Array(b.lines[2].prefix(6)), Array("b ██  "))
        var c = Buffer(width: 12, height: 5)
        Heatmap(values: [[0, 1], [1, 0]], range: (0, 1)).render(
            c.area, into: &c, WidgetContext(glyphs: uni, colors: 256))
        XCTAssertEqual(c[0, 0].style.bg, Heatmap.color(0))
        XCTAssertEqual(c[2, 0].style.bg, Heatmap.color(1))
        // Larger than the area: block maxima keep the structure.
        let big = (0..<100).map { i in (0..<100).map { j in Float(i == j ? 1 : 0) } }
        var d = Buffer(width: 20, height: 12)
        Heatmap(values: big, range: (0, 1)).render(d.area, into: &d, WidgetContext(glyphs: uni, colors: 0))
        XCTAssertEqual(d[0, 0].ch, "█")
        XCTAssertEqual(d[19, 0].ch, " ")
    }

    func testBarsLogInputStatusProgressAndImage() {
        var b = Buffer(width: 30, height: 2)
        BarChart(items: [("a", 2), ("bb", 1)]).render(b.area, into: &b, WidgetContext(glyphs: ascii))
        XCTAssertTrue(b.lines[0].hasPrefix("a  ##################"), b.lines[0])
        XCTAssertTrue(b.lines[1].hasPrefix("bb #########"), b.lines[1])
        XCTAssertEqual(wrap("the quick brown fox", width: 9), ["the quick", "brown fox"])
        XCTAssertEqual(wrap("abcdefghij", width: 4), ["abcd", "efgh", "ij"])
        var l = Buffer(width: 10, height: 2)
        TextLog(lines: [("one", .plain), ("two", .plain), ("three", .plain)]).render(
            l.area, into: &l, WidgetContext(glyphs: Glyphs(unicode: true)))
        XCTAssertEqual(l.lines, ["two       ", "three     "])
        var i = Buffer(width: 12, height: 1)
        InputLine(prompt: "> ", text: "hello", active: true).render(
            i.area, into: &i, WidgetContext(glyphs: Glyphs(unicode: true)))
        XCTAssertEqual(i.lines[0], "> hello     ")
        XCTAssertEqual(i[7, 0].style.bg, 45, "the cursor is a reversed cell after the text")
        var s = Buffer(width: 30, height: 1)
        StatusBar(fields: [("step", "3/10")], message: "ok").render(
            s.area, into: &s, WidgetContext(glyphs: Glyphs(unicode: true)))
        XCTAssertTrue(s.lines[0].contains("step 3/10") && s.lines[0].hasSuffix("ok "))
        var p = Buffer(width: 20, height: 1)
        ProgressBar(fraction: 0.5, label: "x").render(p.area, into: &p, WidgetContext(glyphs: ascii))
        XCTAssertEqual(p.lines[0], "x ######...... 50%  ")
        XCTAssertEqual(ImageView.quantize(255, 0, 0), 196)
        XCTAssertEqual(ImageView.quantize(0, 0, 0), 16)
        XCTAssertEqual(ImageView.quantize(128, 128, 128), 244)
        var im = Buffer(width: 2, height: 1)
        ImageView(width: 2, height: 2, rgb: [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]).render(
            im.area, into: &im, WidgetContext(glyphs: uni, colors: 256))
        XCTAssertEqual(im[0, 0].ch, "▀")
        XCTAssertEqual(im[0, 0].style.fg, 196)
        XCTAssertEqual(im[0, 0].style.bg, 21)
        // A grid of two images, and the ASCII ramp without colour.
        let white = ImageView(width: 2, height: 2, rgb: [UInt8](repeating: 255, count: 12))
        let black = ImageView(width: 2, height: 2, rgb: [UInt8](repeating: 0, count: 12))
        var g = Buffer(width: 5, height: 1)
        ImageGrid(images: [white, black], columns: 2).render(g.area, into: &g, WidgetContext(glyphs: ascii, colors: 0))
        XCTAssertEqual(g.lines[0], "@@   ")
    }
}

final class PlotAndFieldTests: XCTestCase {
    func testMonochromePlotsTellSeriesApartByGlyph() {
        var buf = Buffer(width: 40, height: 10)
        var plot = LinePlot(series: [
            Series(name: "train", points: (0..<50).map { (Double($0), 3 - Double($0) / 25) }, color: 75),
            Series(name: "validation", points: [(10, 2.6), (30, 1.9), (49, 1.2)], color: 214),
        ])
        plot.monochrome = true
        plot.render(buf.area, into: &buf, WidgetContext(glyphs: Glyphs(unicode: true)))
        let text = buf.lines.joined(separator: "\n")
        let plotRows = buf.lines.dropLast().joined(separator: "\n")
        XCTAssertEqual(plotRows.filter { $0 == "o" }.count, 3, "three validation markers: \(text)")
        XCTAssertTrue(text.contains("o validation"), text)
        XCTAssertTrue(text.contains("49"), "integer step labels: \(text)")
    }

    func testTextFieldEditsByGrapheme() {
        var f = TextField()
        f.insert("e")
        f.insert("\u{301}")  // combining acute: one grapheme "é"
        f.insert("👍🏽")
        XCTAssertEqual(f.characters.count, 2)
        f.left()
        f.insert("x")
        XCTAssertEqual(f.text, "e\u{301}x👍🏽")
        f.backspace()
        f.backspace()
        XCTAssertEqual(f.text, "👍🏽")
        XCTAssertEqual(f.submit(), "👍🏽")
        f.insert("draft")
        f.historyUp()
        XCTAssertEqual(f.text, "👍🏽")
        f.historyDown()
        XCTAssertEqual(f.text, "draft")
    }

    func testTheCursorStaysInViewWithMultiScalarCharacters() {
        var f = TextField()
        for _ in 0..<15 { f.insert("👍🏽") }  // two code points (cells) each
        var buf = Buffer(width: 22, height: 1)
        InputLine(prompt: "> ", field: f, active: true).render(
            buf.area, into: &buf, WidgetContext(glyphs: Glyphs(unicode: true)))
        let cursor = (0..<22).first { buf[$0, 0].style.bg == Theme.standard.accent }
        XCTAssertNotNil(cursor, "the cursor is drawn")
        XCTAssertLessThan(cursor ?? 99, 21, "inside the field")
        // Each is two wide code points, four columns (as wcwidth and ncurses count them): 4 fit in 19.
        XCTAssertEqual(buf.lines[0].unicodeScalars.filter { $0 == "👍" }.count, 4, "as many characters as fit before it")
    }

    /// A wide character (CJK, emoji) takes two cells, the second its tail: the text after it starts
    /// two columns on, as the terminal draws it, and writing over either half blanks the other.
    func testWideCharactersTakeTwoCellsAndStayWhole() {
        var b = Buffer(width: 7, height: 1)
        XCTAssertEqual(b.text(0, 0, "a日b"), 4)
        XCTAssertEqual(b[1, 0].ch, "日")
        XCTAssertEqual(b[2, 0].ch, Cell.wideTail)
        XCTAssertEqual(b[3, 0].ch, "b")
        XCTAssertEqual(b.lines, ["a日b   "])
        XCTAssertEqual("a日b".terminalColumns, 4)
        XCTAssertEqual("e\u{301}\u{200D}".terminalColumns, 1, "combining and zero-width scalars take no column")
        b.set(2, 0, "x")  // over the tail: the character is gone
        XCTAssertEqual(b.lines, ["a xb   "])
        b.text(4, 0, "本")
        b.set(4, 0, "y")  // over the head: its tail is blanked
        XCTAssertEqual(b.lines, ["a xby  "])
        XCTAssertNotEqual(b[5, 0].ch, Cell.wideTail)
        // A wide character that does not fit whole ends the text.
        var c = Buffer(width: 5, height: 1)
        XCTAssertEqual(c.text(0, 0, "日本語", maxWidth: 5), 4)
        XCTAssertEqual(c.lines, ["日本 "])
        XCTAssertEqual(c.text(0, 0, "x日本"), 5)
        XCTAssertEqual(c.lines, ["x日本"])
    }

    /// The terminal is sent a wide character once in UTF-8 (it draws both columns); without UTF-8 it
    /// is a placeholder in each of its columns, so the rest of the line stays in place.
    func testWideCharactersAreDrawnOnceOrAsTwoPlaceholders() {
        let old = Buffer(width: 4, height: 1)
        var new = old
        new.text(0, 0, "日x")
        XCTAssertEqual(BufferDiff.drawn(from: old, to: new, unicode: true).map(\.x), [0, 2])
        XCTAssertEqual(BufferDiff.drawn(from: old, to: new, unicode: false).map(\.x), [0, 1, 2])
        // Replacing it redraws both of its columns (x, unchanged, is not sent again).
        var after = new
        after.text(0, 0, "ab")
        XCTAssertEqual(BufferDiff.drawn(from: new, to: after, unicode: true).map(\.x), [0, 1])
    }

    /// Wrapping and the input line count columns: a wide character takes two.
    func testWrapAndInputLineCountWideCharactersAsTwoColumns() {
        let lines = wrap("日本語のテキスト and more", width: 5)
        XCTAssertTrue(lines.allSatisfy { $0.terminalColumns <= 5 }, "\(lines)")
        XCTAssertEqual(lines.joined().filter { $0 != " " }, "日本語のテキストandmore")
        var f = TextField()
        f.insert("a日b")
        f.left()  // the cursor on b, after the two columns of 日
        var buf = Buffer(width: 12, height: 1)
        InputLine(prompt: "> ", field: f, active: true).render(
            buf.area, into: &buf, WidgetContext(glyphs: Glyphs(unicode: true)))
        XCTAssertEqual(buf.lines[0], "> a日b      ")
        XCTAssertEqual(buf[5, 0].ch, "b")
        XCTAssertEqual(buf[5, 0].style.bg, Theme.standard.accent, "the cursor is on b, two columns after 日")
        f.left()  // on 日: the cursor covers both of its columns
        InputLine(prompt: "> ", field: f, active: true).render(
            buf.area, into: &buf, WidgetContext(glyphs: Glyphs(unicode: true)))
        XCTAssertEqual(buf[3, 0].ch, "日")
        XCTAssertEqual(buf[3, 0].style.bg, Theme.standard.accent)
        XCTAssertEqual(buf[4, 0].ch, Cell.wideTail)
    }

    /// Without a UTF-8 locale the backend decodes the terminal's bytes itself: UTF-8 whole (a paste
    /// of é and 日本 is not cut at its first non-ASCII byte), a byte that starts no valid sequence
    /// as Latin-1, and the byte after a broken sequence kept.
    func testTerminalBytesDecodeAsUTF8ElseLatin1() {
        XCTAssertEqual(NcursesBackend.decodeTerminalBytes(Array("héllo 日本 😀".utf8)), "héllo 日本 😀")
        XCTAssertEqual(NcursesBackend.decodeTerminalBytes([0x63, 0x61, 0x66, 0xE9]), "café")  // Latin-1 é
        XCTAssertEqual(NcursesBackend.decodeTerminalBytes([0xE9, 0x61]), "éa")  // a lead byte, no continuation
        XCTAssertEqual(NcursesBackend.decodeTerminalBytes([0xC0, 0xAF]), "\u{C0}\u{AF}")  // overlong: not UTF-8
        XCTAssertEqual(NcursesBackend.decodeTerminalBytes([0xED, 0xA0, 0x80]), "\u{ED}\u{A0}\u{80}")  // a surrogate
    }

    func testKeysDecodeFromCodePoints() {
        XCTAssertEqual(NcursesBackend.key(forCodePoint: 0xE9), .char("é"))
        XCTAssertEqual(NcursesBackend.key(forCodePoint: 0x1F600), .char("😀"))
        XCTAssertEqual(NcursesBackend.key(forCodePoint: 21), .ctrl("u"))
        XCTAssertEqual(NcursesBackend.key(forCodePoint: 27), .escape)
    }
}

final class BufferDiffTests: XCTestCase {
    func testOnlyChangedCellsAreRedrawnAndAResizeRepaintsAll() {
        var a = Buffer(width: 4, height: 2)
        a.text(0, 0, "abcd")
        var b = a
        b.set(2, 1, "x")
        b.set(0, 0, "z", Style(fg: 45))
        XCTAssertEqual(BufferDiff.changes(from: a, to: b).map { [$0.x, $0.y] }, [[0, 0], [2, 1]])
        XCTAssertEqual(BufferDiff.changes(from: b, to: b), [])
        XCTAssertTrue(BufferDiff.needsFullRepaint(from: nil, to: b))
        XCTAssertEqual(BufferDiff.changes(from: nil, to: b).count, 8)
        let wider = Buffer(width: 5, height: 2)
        XCTAssertTrue(BufferDiff.needsFullRepaint(from: b, to: wider))
        XCTAssertEqual(BufferDiff.changes(from: b, to: wider).count, 10)
    }
}
