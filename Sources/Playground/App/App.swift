// The playground app: a run loop, a stack of screens (home at the bottom), two overlays (help and a
// confirmation dialog), and the sessions the labs started. Screens own their state and keys; the app
// owns what outlives a screen: running sessions, the quit rule and the status line.
//
// The quit rule (q, Ctrl-C and SIGINT alike): if a session holds steps that no save holds, ask —
// y saves every such session (into the directory it was last saved to, or a new one) and quits when
// the saves report back, n quits without saving, any other key stays. A second SIGINT ends the
// process at once. SIGTERM and SIGHUP quit at once. The directories saved to are printed after the
// terminal is restored.
import Foundation
import Labs
import Models
import TerminalUI

public final class App {
    public static let minWidth = 60, minHeight = 20

    public private(set) var stack: [Screen] = []
    public var top: Screen { stack[stack.count - 1] }
    public var help = false
    public var confirmation: Confirmation?
    public var quit = false
    /// The newest message ("wrote …", "saved …"); shown on the status line for `statusLifetime` seconds.
    public var status = "" { didSet { statusSetAt = Date() } }
    var statusSetAt = Date.distantPast
    public static let statusLifetime = 8.0
    /// Lines to print once the terminal is restored (where sessions were saved).
    public private(set) var exitMessages: [String] = []
    public let exportDirectory: String
    public let chat: ChatRunner
    /// Each lab's current run, by lab (kept when its screen is left: the home list reopens it).
    public private(set) var runners: [String: ManagedRunner] = [:]
    /// The language lab's current run.
    public var language: LanguageRunner? { runners[LabID.language] as? LanguageRunner }
    /// Screens that keep their state when left, by lab: a lab without a background run (the
    /// diffusion lab steps on the UI thread) is reopened where it was, branches and all.
    var keptScreens: [String: Screen] = [:]

    /// The kept screen of `lab`, made by `make` the first time.
    func kept<S: Screen>(_ lab: String, _ make: () -> S) -> S {
        if let s = keptScreens[lab] as? S { return s }
        let s = make()
        keptScreens[lab] = s
        return s
    }
    var quittingAfterSaves = false
    var interruptHandled = false
    let backend: Backend

    public struct Confirmation {
        public let title: String
        public let lines: [String]
        public let onYes: (App) -> Void
        public let onNo: (App) -> Void
    }

    /// `chatModel` nil: the chat lab has no model (benchmarks and tests of other screens).
    public init(
        backend: Backend, chatModel: ModelSource?, extraChatModels: [ModelSource] = [],
        exportDirectory: String = FileManager.default.currentDirectoryPath
    ) {
        self.backend = backend
        chat = ChatRunner(source: chatModel, extraModels: extraChatModels)
        self.exportDirectory = exportDirectory
        stack = [HomeScreen()]
    }

    // MARK: run loop

    /// Runs until the user quits or a signal asks to; `quitSignal` is polled every frame.
    public func run(quitSignal: () -> Int32 = { 0 }, frames: Int = .max) {
        var n = 0
        while !quit && n < frames {
            let sig = quitSignal()
            if sig == SIGINT {
                if !interruptHandled {
                    interruptHandled = true
                    requestQuit()
                }
            } else if sig != 0 {
                break
            }
            render()
            if let k = backend.poll(timeoutMs: 33) { handle(k) }
            tick()
            n += 1
        }
        for r in runners.values { r.stop() }
    }

    public func render() {
        let (w, h) = backend.size
        var buf = Buffer(width: w, height: h)
        draw(into: &buf, RenderContext(glyphs: backend.glyphs, colors: backend.colors, app: self))
        backend.draw(buf)
    }

    /// Time-driven updates: screen animations and the events sessions report.
    public func tick() {
        top.tick(app: self)
        for (lab, runner) in runners.sorted(by: { $0.key < $1.key }) {
            for event in runner.takeEvents() {
                switch event {
                case .saved(let dir, let step):
                    status = "saved step \(step) to \(dir)"
                    // The last save of a session is the one to name on exit (an earlier `w` and the
                    // save on quit are one session, one line).
                    exitMessages.removeAll { $0.hasPrefix("saved the \(lab) session ") }
                    exitMessages.append("saved the \(lab) session (step \(step)) to \(dir)")
                case .saveFailed(let why):
                    status = "save failed: \(why)"
                    quittingAfterSaves = false
                case .finished(let step):
                    // No colon after the title: a narrow footer keeps the first word and the end,
                    // "Classifier …finished at step 1500".
                    status = "\(runner.title) finished at step \(step)"
                case .failed(let why): status = "\(runner.title): \(why)"
                }
            }
        }
        if quittingAfterSaves && !runners.values.contains(where: { $0.status.get().saving }) { quit = true }
    }

    // MARK: keys

    /// Keys every screen has (listed after the screen's own in help).
    public static let globalKeys: [KeyBinding] = [
        KeyBinding([.char("?")], "?", "keys of this screen", footer: true) { $0.help = true },
        KeyBinding([.escape], "Esc", "back (a running session keeps running)") { $0.pop() },
        KeyBinding([.char("q"), .ctrl("c")], "q", "quit (asks to save unsaved sessions)", footer: true) {
            $0.requestQuit()
        },
    ]

    /// The binding a key triggers on the current screen: the screen's table first, then the global one.
    public func binding(for key: Key) -> KeyBinding? {
        if let b = top.keyTable.first(where: { $0.keys.contains(key) }) { return b }
        return App.globalKeys.first { $0.keys.contains(key) }
    }

    public func handle(_ key: Key) {
        if key == .resize { return }
        if let c = confirmation {
            confirmation = nil
            switch key {
            case .char("y"), .char("Y"): c.onYes(self)
            case .char("n"), .char("N"): c.onNo(self)
            default: break
            }
            return
        }
        if help {
            help = false
            return
        }
        if case .click(let x, let y) = key {
            let (w, h) = backend.size
            top.click(x: x, y: y, area: Rect(x: 0, y: 0, width: w, height: max(0, h - 1)), app: self)
            return
        }
        if top.capturesText && top.input(key, app: self) { return }
        binding(for: key)?.action(self)
    }

    // MARK: screens

    public func push(_ screen: Screen) { stack.append(screen) }

    public func pop() {
        if stack.count > 1 { stack.removeLast() }
    }

    /// Goes back to the home screen.
    public func home() { stack = [stack[0]] }

    // MARK: sessions

    /// Starts a lab's run and shows `screen`; if the lab's current run holds unsaved steps, asks first.
    public func start(lab: String, _ make: @escaping () -> ManagedRunner, screen: @escaping () -> Screen) {
        let start: (App) -> Void = { app in
            app.runners[lab]?.stop()
            let r = make()
            r.start()
            app.runners[lab] = r
            app.home()
            app.push(screen())
            app.status = "started \(r.title)"
        }
        if let r = runners[lab], r.status.get().hasUnsavedWork {
            let s = r.status.get()
            confirmation = Confirmation(
                title: "discard the current run?",
                lines: [
                    "\(r.title) is at step \(s.step) and that step is not saved.",
                    "", "y: discard it and start the new run   any other key: keep it",
                ],
                onYes: start, onNo: { _ in })
        } else {
            start(self)
        }
    }

    /// Starts a language-lab run (asks before discarding an unsaved one).
    public func startLanguage(_ config: LMConfig) {
        start(
            lab: LabID.language,
            { LanguageRunner.language(config) }, screen: { LanguageScreen() })
    }

    /// Shows `runner` as the language lab's run (benchmarks drive recorded snapshots through it).
    public func adopt(_ runner: LanguageRunner) { runners[LabID.language] = runner }

    /// Continues a saved language session (`orrery --open DIR`, the session picker); asks first if
    /// the current run holds unsaved steps.
    public func openLanguage(directory: String) {
        var initial = LanguageSnapshot()
        initial.model = "session \(directory)"
        start(
            lab: LabID.language,
            {
                LanguageRunner(title: "Language lab", initial: initial, savedIn: directory) {
                    LanguageLab(try LanguageSessionDirectory.resume(directory))
                }
            }, screen: { LanguageScreen() })
        status = "opened \(directory)"
    }

    /// A new directory for a lab's session saved from the UI, created at once so that two labs saved
    /// in the same second never share one.
    func newSessionDirectory(lab: String) -> String {
        let stamp = Int(Date().timeIntervalSince1970)
        var dir = exportDirectory + "/orrery-session-\(lab)-\(stamp)"
        var k = 1
        while mkdir(dir, 0o755) != 0 {
            if errno != EEXIST || k > 1000 { break }  // the save reports the real problem
            dir = exportDirectory + "/orrery-session-\(lab)-\(stamp)-\(k)"
            k += 1
        }
        return dir
    }

    /// Saves a lab's run (into the directory it was last saved to, or a new one).
    public func save(lab: String) {
        guard let r = runners[lab] else { return }
        let dir = r.status.get().savedDirectory ?? newSessionDirectory(lab: lab)
        r.requestSave(to: dir)
        status = "saving to \(dir)…"
    }

    public func saveLanguage() { save(lab: LabID.language) }

    /// Quits, first asking about sessions with unsaved steps.
    public func requestQuit() {
        let unsaved = runners.sorted { $0.key < $1.key }.filter { $0.value.status.get().hasUnsavedWork }
        guard !unsaved.isEmpty else {
            quit = true
            return
        }
        var lines = unsaved.map { lab, r -> String in
            let s = r.status.get()
            return "\(r.title) is at step \(s.step); that step is not saved"
                + (s.savedDirectory.map { " (y saves into \($0))" }
                    ?? " (y saves into a new orrery-session-… folder here)") + "."
        }
        lines += ["", "y: save and quit   n: quit without saving   any other key: stay"]
        confirmation = Confirmation(
            title: "quit", lines: lines,
            onYes: { app in
                for (lab, _) in unsaved { app.save(lab: lab) }
                app.quittingAfterSaves = true
            },
            onNo: { app in app.quit = true })
    }
}

/// The labs that run sessions in the app (keys of `App.runners`).
public enum LabID {
    public static let language = "language"
}
