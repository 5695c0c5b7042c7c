import CPNG
import Foundation
import Playground
import TerminalUI
import XCTest

/// The app driven through the test backend: keys in, frames out, no terminal needed.
final class AppTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let chatDir = root.appendingPathComponent("assets/models/chat").path

    func screen(_ b: TestBackend) -> String { b.buffer.lines.joined(separator: "\n") }

    func waitFor(_ app: App, _ b: TestBackend, _ text: String, timeout: Double = 20) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            app.render(); app.tick()
            if screen(b).contains(text) { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return false
    }

    func testHomeHelpAndTinyTerminal() {
        let b = TestBackend(width: 100, height: 30)
        let app = App(backend: b, chatCheckpoint: chatDir)
        app.render()
        for lab in App.labs { XCTAssertTrue(screen(b).contains(lab.title), lab.title) }
        XCTAssertTrue(screen(b).contains("idle") && screen(b).contains("model not loaded yet"), "each lab shows its status")
        app.handle(.char("?")); app.render()
        XCTAssertTrue(screen(b).contains("choose a lab"))
        app.handle(.char("x")); app.render()
        XCTAssertFalse(screen(b).contains("choose a lab"), "any key closes help")
        b.size = (40, 10); app.render()
        XCTAssertEqual(Array(b.buffer.lines.prefix(2)).map { $0.trimmingCharacters(in: .whitespaces) },
                       ["enlarge the terminal: 60×20 needed, now", "40×10"])
        b.size = (100, 30); app.render()
        XCTAssertTrue(screen(b).contains("Attention lesson"))
        app.handle(.char("q"))
        XCTAssertTrue(app.state.quit)
    }

    func testLessonAnimatesAndSteps() {
        let b = TestBackend(width: 120, height: 40)
        let app = App(backend: b, chatCheckpoint: nil)
        app.handle(.down); app.handle(.down); app.handle(.enter)
        XCTAssertEqual(app.state.screen, .lesson)
        app.render()
        XCTAssertTrue(screen(b).contains("step 1 of"))
        XCTAssertTrue(waitFor(app, b, "step 2 of", timeout: 3), "plays by itself")
        app.handle(.char(" "))
        let i = app.state.lesson.index
        app.handle(.right); XCTAssertEqual(app.state.lesson.index, i + 1)
        app.handle(.left); app.handle(.left); XCTAssertEqual(app.state.lesson.index, i - 1)
        app.render()
        XCTAssertTrue(screen(b).contains("online softmax") && screen(b).contains("m:"))
    }

    func testLanguageLabTrainsAndExportsPNG() throws {
        let dir = NSTemporaryDirectory() + "orrery-app-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let b = TestBackend(width: 160, height: 48)
        let app = App(backend: b, chatCheckpoint: nil, exportDirectory: dir)
        app.handle(.enter)
        XCTAssertEqual(app.state.screen, .configure)
        // Smaller model: steps 200, layers 2, width 64, context 64, batch 8.
        app.handle(.down); app.handle(.left); app.handle(.left)
        app.handle(.down); app.handle(.left); app.handle(.left)
        app.handle(.down); app.handle(.left)
        app.handle(.down); app.handle(.left)
        app.handle(.down); app.handle(.left); app.handle(.left)
        app.handle(.enter)
        XCTAssertEqual(app.state.screen, .language)
        let end = Date().addingTimeInterval(20)
        while app.language!.snapshot.get().step < 3 && Date() < end { Thread.sleep(forTimeInterval: 0.02) }
        app.render()
        XCTAssertTrue(screen(b).contains("/200") && screen(b).contains("loss"), screen(b))
        XCTAssertTrue(waitFor(app, b, "attention layer 0 head 0"))
        app.handle(.char("l")); app.handle(.char("h")); app.render()
        XCTAssertTrue(screen(b).contains("attention layer 1 head 1"))
        app.handle(.char("e")); app.render()
        XCTAssertTrue(app.state.status.hasPrefix("wrote "), app.state.status)
        let path = String(app.state.status.dropFirst(6))
        var w: Int32 = 0, h: Int32 = 0
        XCTAssertEqual(png_read_size(path, &w, &h), 0)
        XCTAssertEqual([w, h], [640, 360], "loss plot PNG")
        app.handle(.tab); app.handle(.char("e"))
        let hp = String(app.state.status.dropFirst(6))
        XCTAssertEqual(png_read_size(hp, &w, &h), 0)
        XCTAssertEqual(w, h, "attention heatmap PNG is square")
        XCTAssertEqual(w % 16, 0)
        app.language?.send(.stop)
    }

    func testChatStreamsAnAnswerFromTheShippedModel() {
        let b = TestBackend(width: 120, height: 30)
        let app = App(backend: b, chatCheckpoint: chatDir)
        app.handle(.down); app.handle(.enter)
        XCTAssertEqual(app.state.screen, .chat)
        XCTAssertTrue(waitFor(app, b, "gpt 4×128"), "model loaded")
        for c in "what is 3 plus 4?" { app.handle(.char(c)) }
        app.handle(.enter)
        XCTAssertTrue(waitFor(app, b, "bot: 3 plus 4 is 7."), screen(b))
        XCTAssertTrue(screen(b).contains("attention of the generated token"))
        XCTAssertFalse(app.chat.snapshot.get().attention.isEmpty)
    }
}
