import CPNG
import Foundation
import Labs
import Models
import Playground
import TerminalUI
import TestSupport
import XCTest

/// The app driven through the test backend: keys in, frames out, no terminal needed.
final class AppTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    let chatDir = root.appendingPathComponent("assets/models/chat").path

    func screen(_ b: TestBackend) -> String { b.buffer.lines.joined(separator: "\n") }

    func waitFor(_ app: App, _ b: TestBackend, _ text: String, timeout: Double = 20) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            app.render()
            app.tick()
            if screen(b).contains(text) { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return false
    }

    func waitUntil(_ app: App, timeout: Double = 30, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            app.tick()
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return false
    }

    /// A tiny language run started from the configure screen (steps 200, layers 1, width 32, context 32, batch 4).
    func startTinyRun(_ app: App, model: Int = 0) {
        app.handle(.enter)
        XCTAssertTrue(app.top is LanguageConfigureScreen)
        for _ in 0..<model { app.handle(.right) }
        app.handle(.down)
        app.handle(.left)
        app.handle(.left)
        app.handle(.down)
        for _ in 0..<4 { app.handle(.left) }
        app.handle(.down)
        for _ in 0..<4 { app.handle(.left) }
        app.handle(.down)
        for _ in 0..<4 { app.handle(.left) }
        app.handle(.down)
        for _ in 0..<4 { app.handle(.left) }
        app.handle(.enter)
        XCTAssertTrue(app.top is LanguageScreen)
    }

    func testHomeHelpAndTinyTerminal() {
        let b = TestBackend(width: 100, height: 30)
        let app = App(backend: b, chatModel: .shipped)
        app.render()
        for lab in HomeScreen.labs { XCTAssertTrue(screen(b).contains(lab.title), lab.title) }
        XCTAssertTrue(
            screen(b).contains("idle") && screen(b).contains("model not loaded yet"), "each lab shows its status")
        app.handle(.char("?"))
        app.render()
        XCTAssertTrue(screen(b).contains("choose a lab"))
        app.handle(.char("x"))
        app.render()
        XCTAssertFalse(screen(b).contains("choose a lab"), "any key closes help")
        b.size = (40, 10)
        app.render()
        XCTAssertEqual(
            Array(b.buffer.lines.prefix(2)).map { $0.trimmingCharacters(in: .whitespaces) },
            ["enlarge the terminal: 60×20 needed, now", "40×10"])
        b.size = (100, 30)
        app.render()
        XCTAssertTrue(screen(b).contains("Attention lesson"))
        app.handle(.char("q"))
        XCTAssertTrue(app.quit)
    }

    func testClicksOpenLabsAndFocusPanes() {
        let b = TestBackend(width: 120, height: 40)
        let app = App(backend: b, chatModel: nil)
        app.render()
        guard let row = b.buffer.lines.firstIndex(where: { $0.contains("Chat") }) else { return XCTFail("no Chat row") }
        app.handle(.click(x: 10, y: row))
        XCTAssertTrue(app.top is ChatScreen, "a click on a lab opens it")
        guard let chat = app.top as? ChatScreen else { return }
        app.handle(.click(x: 100, y: 5))
        XCTAssertEqual(chat.focus, .attention, "a click on the attention map focuses it")
        app.handle(.click(x: 10, y: 5))
        XCTAssertEqual(chat.focus, .input)
    }

    func testEveryKeyTableDrivesDispatchAndHelp() {
        let b = TestBackend(width: 160, height: 48)
        let app = App(backend: b, chatModel: nil)
        let screens: [Screen] = [
            HomeScreen(), LanguageConfigureScreen(), LanguageScreen(), ChatScreen(), AttentionLessonScreen(),
        ]
        for s in screens {
            app.home()
            if !(s is HomeScreen) { app.push(s) }
            let table = app.top.keyTable + App.globalKeys
            app.help = true
            app.render()
            let text = screen(b)
            app.help = false
            for binding in table {
                XCTAssertTrue(text.contains(binding.help), "\(s.title): help lists \(binding.help)")
                // The key a binding names triggers that binding, not another one that shadows it.
                for key in binding.keys {
                    XCTAssertEqual(
                        app.binding(for: key)?.help, binding.help, "\(s.title): \(key) dispatches to its row")
                }
            }
        }
    }

    func testLessonAt80x24KeepsTheKeyLinesAndHasASCIISpellings() {
        for unicode in [true, false] {
            let b = TestBackend(width: 80, height: 24, unicode: unicode)
            let app = App(backend: b, chatModel: nil)
            app.handle(.down)
            app.handle(.down)
            app.handle(.down)
            app.handle(.enter)
            XCTAssertTrue(app.top is AttentionLessonScreen)
            app.render()
            let s = screen(b)
            XCTAssertTrue(s.contains("max m:") && s.contains("sum l:") && s.contains("rescale:"), s)
            XCTAssertTrue(s.contains(unicode ? "+ Σ" : "+ sum"), s)
            if !unicode {
                app.handle(.char("?"))
                app.render()
                XCTAssertTrue(screen(b).contains("Right"), screen(b))
                let wide = b.buffer.lines.joined().unicodeScalars.filter { $0.value > 127 }
                XCTAssertTrue(wide.isEmpty, "only ASCII without UTF-8: \(String(String.UnicodeScalarView(wide)))")
            }
        }
        let b = TestBackend(width: 120, height: 40)
        let app = App(backend: b, chatModel: nil)
        app.handle(.down)
        app.handle(.down)
        app.handle(.down)
        app.handle(.enter)
        app.render()
        XCTAssertTrue(screen(b).contains("step 1 of"))
        XCTAssertTrue(waitFor(app, b, "step 2 of", timeout: 3), "plays by itself")
        guard let lesson = app.top as? AttentionLessonScreen else { return XCTFail("lesson") }
        app.handle(.char(" "))
        let i = lesson.lesson.index
        app.handle(.right)
        XCTAssertEqual(lesson.lesson.index, i + 1)
        app.handle(.left)
        app.handle(.left)
        XCTAssertEqual(lesson.lesson.index, i - 1)
    }

    func testLanguageLabTrainsAndExportsPNG() throws {
        let dir = try temporaryDirectory()
        let b = TestBackend(width: 160, height: 48)
        let app = App(backend: b, chatModel: nil, exportDirectory: dir)
        startTinyRun(app)
        guard let runner = app.language else { return XCTFail("no run") }
        XCTAssertTrue(waitUntil(app) { runner.snapshot.get().step >= 3 })
        app.render()
        XCTAssertTrue(screen(b).contains("/200") && screen(b).contains("loss"), screen(b))
        XCTAssertTrue(waitFor(app, b, "attention layer 0 head 0"))
        app.handle(.char("h"))
        app.render()
        XCTAssertTrue(screen(b).contains("attention layer 0 head 1"))
        app.handle(.char("e"))
        app.render()
        XCTAssertTrue(app.status.hasPrefix("wrote "), app.status)
        var w: Int32 = 0
        var h: Int32 = 0
        XCTAssertEqual(png_read_size(String(app.status.dropFirst(6)), &w, &h), 0)
        XCTAssertEqual([w, h], [640, 360], "loss plot PNG")
        app.handle(.tab)
        app.handle(.char("e"))
        XCTAssertEqual(png_read_size(String(app.status.dropFirst(6)), &w, &h), 0)
        XCTAssertGreaterThan(w, 24 * 16, "attention heatmap PNG: labels, cells and a colour bar")
        runner.stopAndWait()
    }

    func testLanguageLabProfilesTenStepsAt80x24() throws {
        for unicode in [true, false] {
            let b = TestBackend(width: 80, height: 24, unicode: unicode)
            let app = App(backend: b, chatModel: nil)
            startTinyRun(app)
            guard let runner = app.language else { return XCTFail("no run") }
            XCTAssertTrue(waitUntil(app) { runner.snapshot.get().step >= 2 })
            app.handle(.char("p"))
            XCTAssertTrue(waitFor(app, b, "where does a step's time go?"), screen(b))
            XCTAssertTrue(waitFor(app, b, "attention backward", timeout: 60), screen(b))
            let text = screen(b)
            for row in ["GEMM", "attention forward", "norms", "optimizer", "allocation", "thread sync"] {
                XCTAssertTrue(text.contains(row), "\(row) in\n\(text)")
            }
            XCTAssertTrue(text.contains("GFLOP/s"), text)
            XCTAssertEqual(runner.snapshot.get().profile?.heapAllocations, 0, "a steady step takes no heap buffers")
            if !unicode {  // the view itself (the status line's "…" becomes "~" in the ncurses backend)
                let view = b.buffer.lines.dropLast().joined(separator: "\n")
                XCTAssertTrue(view.unicodeScalars.allSatisfy { $0.isASCII }, view)
            }
            app.handle(.char("p"))
            app.render()
            XCTAssertTrue(screen(b).contains("loss"), "p again: the plots")
            runner.stopAndWait()
        }
    }

    func testSigintFollowsTheQuitRule() throws {
        let b = TestBackend(width: 120, height: 40)
        let app = App(backend: b, chatModel: nil, exportDirectory: try temporaryDirectory())
        startTinyRun(app)
        guard let runner = app.language else { return XCTFail("no run") }
        XCTAssertTrue(waitUntil(app) { runner.snapshot.get().step >= 2 })
        // Ctrl-C arrives as SIGINT: like q, it asks because the run holds unsaved steps.
        app.run(quitSignal: { SIGINT }, frames: 2)
        XCTAssertNotNil(app.confirmation)
        XCTAssertFalse(app.quit)
        app.handle(.char("n"))
        XCTAssertTrue(app.quit)
        runner.stopAndWait()
    }

    func testLiveScreenDetails() throws {
        let dir = try temporaryDirectory()
        let b = TestBackend(width: 160, height: 24)
        let app = App(backend: b, chatModel: nil, exportDirectory: dir)
        startTinyRun(app)
        guard let runner = app.language, let live = app.top as? LanguageScreen else { return XCTFail("no run") }
        XCTAssertTrue(waitUntil(app) { runner.snapshot.get().step >= 12 && !runner.snapshot.get().attention.isEmpty })
        app.render()
        XCTAssertTrue(screen(b).contains("tensors") && screen(b).contains("rss"), "both memory figures, named")
        XCTAssertTrue(
            screen(b).range(of: "rows [0-9]+-[0-9]+ of [0-9]+", options: .regularExpression) != nil,
            "a heatmap cut to fit says which rows it shows: \(screen(b))")
        app.handle(.char("g"))
        XCTAssertTrue(live.logScale)
        app.render()
        XCTAssertTrue(screen(b).contains("loss (log)"))
        // The exported plot carries its own title: dark pixels in the title band.
        app.handle(.char("e"))
        var w: Int32 = 0
        var h: Int32 = 0
        var px = [UInt8](repeating: 0, count: 640 * 360 * 3)
        XCTAssertEqual(png_read_rgb(String(app.status.dropFirst(6)), &px, Int32(px.count), &w, &h), 0)
        var dark = 0
        for y in 6..<26 { for x in 8..<300 where px[(y * Int(w) + x) * 3] < 80 { dark += 1 } }
        XCTAssertGreaterThan(dark, 100, "a title is drawn")
        runner.stopAndWait()
    }

    func testRecurrentModelsHaveNoAttentionKeysOrPane() throws {
        let dir = try temporaryDirectory()
        let b = TestBackend(width: 160, height: 48)
        let app = App(backend: b, chatModel: nil, exportDirectory: dir)
        startTinyRun(app, model: 1)  // lstm
        guard let runner = app.language else { return XCTFail("no run") }
        XCTAssertTrue(waitUntil(app) { runner.snapshot.get().step >= 2 })
        app.render()
        XCTAssertFalse(app.top.keyTable.contains { $0.keys.contains(.char("l")) }, "no layer keys without attention")
        XCTAssertFalse(screen(b).contains("attention layer"))
        XCTAssertTrue(screen(b).contains("validation loss"))
        app.handle(.tab)
        app.handle(.char("e"))
        XCTAssertTrue(app.status.contains("orrery-loss"), app.status)
        runner.stopAndWait()
    }

    func testSessionLifecycleNeverLosesWork() throws {
        let dir = try temporaryDirectory()
        let b = TestBackend(width: 120, height: 40)
        let app = App(backend: b, chatModel: nil, exportDirectory: dir)
        startTinyRun(app)
        guard let runner = app.language else { return XCTFail("no run") }
        XCTAssertTrue(waitUntil(app) { runner.snapshot.get().step >= 3 })
        // Esc leaves the run training; the home list shows it and Enter reopens it (not a new run).
        app.handle(.escape)
        XCTAssertTrue(app.top is HomeScreen)
        XCTAssertTrue(waitFor(app, b, "training"), screen(b))
        app.handle(.enter)
        XCTAssertTrue(app.top is LanguageScreen, "reopened the running session")
        XCTAssertTrue(app.language === runner)
        // Starting a new run while this one is unsaved asks first; "no" keeps it.
        app.handle(.char("n"))
        XCTAssertTrue(app.top is LanguageConfigureScreen)
        app.handle(.enter)
        XCTAssertNotNil(app.confirmation, "asks before discarding")
        app.handle(.char("x"))
        XCTAssertTrue(app.language === runner, "kept")
        app.pop()
        // w saves; more steps; q then y saves the newest step into the same directory, then quits.
        app.handle(.char("w"))
        XCTAssertTrue(waitUntil(app) { runner.status.get().savedStep != nil })
        let saved = try XCTUnwrap(runner.status.get().savedDirectory)
        let first = try XCTUnwrap(runner.status.get().savedStep)
        XCTAssertTrue(waitUntil(app) { runner.snapshot.get().step > first + 2 })
        app.handle(.char("q"))
        XCTAssertNotNil(app.confirmation)
        XCTAssertFalse(app.quit)
        app.handle(.char("y"))
        XCTAssertTrue(waitUntil(app) { app.quit }, "quits once the save reports back")
        let last = try XCTUnwrap(runner.status.get().savedStep)
        XCTAssertGreaterThan(last, first, "the quit saved the newest step, not the older save")
        XCTAssertEqual(runner.status.get().savedDirectory, saved)
        XCTAssertTrue(app.exitMessages.last?.contains(saved) ?? false, "where it went is printed after the UI closes")
        XCTAssertEqual(app.exitMessages.count, 1, "one line for the session, naming its last save: \(app.exitMessages)")
        XCTAssertTrue(app.exitMessages[0].contains("(step \(last))"), app.exitMessages[0])
        let resumed = try LanguageSessionDirectory.resume(saved)
        XCTAssertEqual(resumed.step, last)
        runner.stopAndWait()
    }

    func testASavedSessionIsOpenedFromThePicker() throws {
        let dir = try temporaryDirectory()
        var c = LMConfig()
        c.steps = 6
        c.layers = 1
        c.width = 16
        c.heads = 2
        c.context = 16
        c.batch = 2
        c.corpusDocuments = 200
        c.evalEvery = 0
        let s = try LanguageSession(config: c, directory: dir + "/my-run")
        while s.step < 3 { s.trainStep() }
        try s.save()
        let b = TestBackend(width: 120, height: 40)
        let app = App(backend: b, chatModel: nil, exportDirectory: dir)
        app.handle(.enter)
        app.handle(.char("o"))
        XCTAssertTrue(app.top is SessionPickerScreen)
        app.render()
        XCTAssertTrue(screen(b).contains("my-run") && screen(b).contains("step 3 of 6"), screen(b))
        app.handle(.enter)
        XCTAssertTrue(app.top is LanguageScreen)
        guard let runner = app.language else { return XCTFail("not opened") }
        XCTAssertTrue(waitUntil(app) { runner.status.get().phase == .finished })
        XCTAssertEqual(runner.snapshot.get().step, 6, "continued from step 3 to the end")
        runner.stopAndWait()
    }

    /// The diffusion lab steps on the UI thread, with no background run: Esc and the home list bring
    /// back the same run, at the step it was left, and home says where it stands.
    func testTheDiffusionLabIsReopenedWhereItWasLeft() {
        let b = TestBackend(width: 120, height: 40)
        let app = App(backend: b, chatModel: nil)
        for _ in 0..<7 { app.handle(.down) }
        app.handle(.enter)
        app.render()
        XCTAssertTrue(screen(b).contains("step 0/50"), screen(b))
        app.handle(.right)
        app.handle(.right)
        app.render()
        XCTAssertTrue(screen(b).contains("step 2/50"), screen(b))
        app.handle(.escape)
        app.render()
        XCTAssertTrue(screen(b).contains("step 2/50, branch 1/1"), "home shows the kept run: \(screen(b))")
        app.handle(.enter)
        app.render()
        XCTAssertTrue(screen(b).contains("step 2/50"), "reopened where it was left: \(screen(b))")
    }

    func testQuittingSavesEveryLabIntoItsOwnFolder() throws {
        let dir = try temporaryDirectory()
        let b = TestBackend(width: 120, height: 40)
        let app = App(backend: b, chatModel: nil, exportDirectory: dir)
        startTinyRun(app)
        app.home()
        app.handle(.down)
        app.handle(.down)
        app.handle(.enter)
        app.handle(.enter)  // classifier
        guard let language = app.language, let classifier = app.runners[LabID.classifier] as? ClassifierRunner else {
            return XCTFail("two runs")
        }
        XCTAssertTrue(waitUntil(app) { language.status.get().step >= 2 && classifier.status.get().step >= 2 })
        app.handle(.char("q"))
        app.handle(.char("y"))
        XCTAssertTrue(waitUntil(app) { app.quit })
        let dirs = Set(
            [language.status.get().savedDirectory, classifier.status.get().savedDirectory].compactMap { $0 })
        XCTAssertEqual(dirs.count, 2, "one folder per lab: \(dirs)")
        XCTAssertEqual(app.exitMessages.count, 2)
        XCTAssertNoThrow(try LanguageSessionDirectory.resume(language.status.get().savedDirectory ?? ""))
        // Opening a saved session over an unsaved run asks first.
        let app2 = App(backend: b, chatModel: nil, exportDirectory: dir)
        startTinyRun(app2)
        guard let run2 = app2.language else { return XCTFail("run") }
        XCTAssertTrue(waitUntil(app2) { run2.status.get().step >= 2 })
        app2.openLanguage(directory: language.status.get().savedDirectory ?? "")
        XCTAssertNotNil(app2.confirmation, "asks before discarding the running session")
        XCTAssertTrue(app2.language === run2)
        language.stopAndWait()
        classifier.stopAndWait()
        run2.stopAndWait()
    }

    func testAFinishedRunSaysSoAndStillAsksBeforeQuitting() throws {
        let b = TestBackend(width: 120, height: 40)
        let app = App(backend: b, chatModel: nil, exportDirectory: try temporaryDirectory())
        var c = LMConfig()
        c.steps = 4
        c.layers = 1
        c.width = 16
        c.heads = 2
        c.context = 16
        c.batch = 2
        c.corpusDocuments = 200
        c.evalEvery = 2
        app.startLanguage(c)
        XCTAssertTrue(waitFor(app, b, "finished"), screen(b))
        XCTAssertFalse(screen(b).contains("training "), "the live screen does not claim it is training")
        app.handle(.char("q"))
        XCTAssertNotNil(app.confirmation, "an unsaved finished run is still work")
        app.handle(.char("n"))
        XCTAssertTrue(app.quit)
        app.language?.stopAndWait()
    }

    func testClassifierPlaygroundSeparatesSpiralsAndExportsBothColours() throws {
        let dir = try temporaryDirectory()
        let b = TestBackend(width: 120, height: 40)
        let app = App(backend: b, chatModel: nil, exportDirectory: dir)
        app.handle(.down)
        app.handle(.down)
        app.handle(.enter)
        XCTAssertTrue(app.top is ClassifierConfigureScreen)
        app.handle(.enter)
        XCTAssertTrue(app.top is ClassifierScreen)
        guard let runner = app.runners[LabID.classifier] as? ClassifierRunner else { return XCTFail("no run") }
        XCTAssertTrue(
            waitUntil(app, timeout: 60) { runner.snapshot.get().accuracy >= 0.98 },
            "accuracy \(runner.snapshot.get().accuracy)")
        app.render()
        XCTAssertTrue(screen(b).contains("spirals") && screen(b).contains("accuracy"), screen(b))
        XCTAssertTrue(b.buffer.lines.joined().contains("●"), "data points drawn over the map")
        app.handle(.char("e"))
        XCTAssertTrue(app.status.hasPrefix("wrote "), app.status)
        var w: Int32 = 0
        var h: Int32 = 0
        var px = [UInt8](repeating: 0, count: 512 * 512 * 3)
        XCTAssertEqual(png_read_rgb(String(app.status.dropFirst(6)), &px, Int32(px.count), &w, &h), 0)
        var blueish = 0
        var orangeish = 0
        let count = Int(w) * Int(h)
        for i in 0..<count {
            let r = Int(px[3 * i])
            let bl = Int(px[3 * i + 2])
            if bl > r + 60 { blueish += 1 }
            if r > bl + 60 { orangeish += 1 }
        }
        XCTAssertGreaterThan(blueish, count / 5, "class 0's colour covers its region")
        XCTAssertGreaterThan(orangeish, count / 5, "class 1's colour covers its region")
        // The session can be left and reopened from home, like any lab's.
        app.handle(.escape)
        XCTAssertTrue(waitFor(app, b, "accuracy"), screen(b))
        runner.stopAndWait()
    }

    func testTheRaceStartsFromTheLanguageLabAndPlotsThreeCurves() throws {
        let b = TestBackend(width: 200, height: 60)
        let app = App(backend: b, chatModel: nil, exportDirectory: try temporaryDirectory())
        app.handle(.enter)
        guard let configure = app.top as? LanguageConfigureScreen else { return XCTFail("configure") }
        configure.settings[1].index = 0  // 200 steps
        configure.settings[4].index = 0  // context 32
        configure.settings[5].index = 0  // batch 4
        app.handle(.char("r"))
        XCTAssertTrue(app.top is RaceScreen)
        guard let runner = app.runners[LabID.race] as? RaceRunner else { return XCTFail("no race") }
        XCTAssertTrue(
            waitUntil(app, timeout: 120) {
                let e = runner.snapshot.get().entries
                return !e.isEmpty && e.allSatisfy { $0.byStep.count >= 1 }
            })
        app.render()
        for name in ["gpt 4×128", "lstm 2×256", "gru 2×256", "validation loss vs steps", "seconds of compute"] {
            XCTAssertTrue(screen(b).contains(name), name)
        }
        runner.stopAndWait()
    }

    func testChatTakesUTF8TextAndAnswers() {
        let b = TestBackend(width: 120, height: 30)
        let app = App(backend: b, chatModel: .shipped)
        app.handle(.down)
        app.handle(.enter)
        guard let chat = app.top as? ChatScreen else { return XCTFail("chat") }
        XCTAssertTrue(waitFor(app, b, "gpt 4×128"), "model loaded")
        // Letters are text while the input has the focus: q, e and ? do not quit, export or open help.
        for c in "quiet? e" { app.handle(.char(c)) }
        XCTAssertFalse(app.quit)
        XCTAssertFalse(app.help)
        XCTAssertEqual(chat.field.text, "quiet? e")
        app.handle(.ctrl("u"))
        XCTAssertEqual(chat.field.text, "")
        for c in "héllo 😀 🇫🇷" { app.handle(.char(c)) }
        app.handle(.char("\u{301}"))  // a combining acute joins the flag? no: it joins the character before
        app.handle(.backspace)
        XCTAssertEqual(chat.field.text, "héllo 😀 ", "backspace removes one grapheme (the flag with its mark)")
        app.render()
        XCTAssertTrue(screen(b).contains("you> héllo 😀"), screen(b))
        app.handle(.left)
        app.handle(.left)
        app.handle(.char("!"))
        XCTAssertEqual(chat.field.text, "héllo !😀 ")
        app.handle(.ctrl("u"))
        for c in "what is 3 plus 4?" { app.handle(.char(c)) }
        app.handle(.enter)
        XCTAssertTrue(waitFor(app, b, "bot: 3 plus 4 is 7."), screen(b))
        XCTAssertFalse(app.chat.snapshot.get().attention.isEmpty)
        app.handle(.up)
        XCTAssertEqual(chat.field.text, "what is 3 plus 4?", "↑ recalls the last question")
    }
}
