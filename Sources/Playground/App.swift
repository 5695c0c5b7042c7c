// The playground app, Elm-style: State + Message (keys and ticks) → update → view into a Buffer.
// Side effects (starting a session, asking the chat model, writing a PNG) go through the runners;
// the UI thread never computes a model step and never waits for one.
import Foundation
import Labs
import Models
import TerminalUI

public enum ScreenID: Equatable, Sendable { case home, configure, language, chat, lesson }

public struct LabEntry: Sendable {
    public let title: String, summary: String, screen: ScreenID
}

public struct ConfigField: Sendable {
    public let name: String
    public let values: [String]
    public var index: Int
    public var value: String { values[index] }
}

public final class AppState {
    public var screen: ScreenID = .home
    public var selected = 0
    public var help = false
    public var confirmQuit = false
    public var quit = false
    public var status = ""
    public var width = 0, height = 0
    public var layer = 0, head = 0
    public var focus = 0              // focused pane on the language screen (0 loss plot, 1 attention)
    public var chatInput = ""
    public var lesson = AttentionLesson()
    public var lessonPlaying = true
    public var lastLessonTick = Date()
    public var fields: [ConfigField] = [
        ConfigField(name: "model", values: ["gpt", "lstm", "gru"], index: 0),
        ConfigField(name: "steps", values: ["200", "500", "1000", "2000", "5000"], index: 2),
        ConfigField(name: "layers", values: ["1", "2", "3", "4", "6"], index: 3),
        ConfigField(name: "width", values: ["32", "64", "128", "192", "256"], index: 2),
        ConfigField(name: "context", values: ["32", "64", "128", "256"], index: 2),
        ConfigField(name: "batch", values: ["4", "8", "16", "32"], index: 3),
        ConfigField(name: "learning rate", values: ["3e-4", "1e-3", "3e-3", "1e-2"], index: 2),
        ConfigField(name: "corpus", values: ["stories", "dialogue"], index: 0),
    ]
    public var field = 0
    public init() {}
}

public final class App {
    public static let labs = [
        LabEntry(title: "Language lab", summary: "train a GPT, LSTM or GRU on built-in stories; watch loss, samples, attention", screen: .configure),
        LabEntry(title: "Chat", summary: "talk to the shipped tiny chat model; see the attention of each generated token", screen: .chat),
        LabEntry(title: "Attention lesson", summary: "FlashAttention's online softmax, tile by tile", screen: .lesson),
    ]
    public static let minWidth = 60, minHeight = 20

    public let state = AppState()
    public var language: LanguageRunner?
    public let chat: ChatRunner
    let backend: Backend
    let exportDirectory: String

    public init(backend: Backend, chatCheckpoint: String?, exportDirectory: String = FileManager.default.currentDirectoryPath) {
        self.backend = backend
        chat = ChatRunner(checkpoint: chatCheckpoint)
        self.exportDirectory = exportDirectory
    }

    /// Runs until the user quits or a signal asks to; `quitSignal` is polled every frame.
    public func run(quitSignal: () -> Int32 = { 0 }, frames: Int = .max) {
        var n = 0
        while !state.quit && n < frames {
            if quitSignal() != 0 { break }
            render()
            if let k = backend.poll(timeoutMs: 33) { handle(k) }
            tick()
            n += 1
        }
        language?.send(.stop)
    }

    public func render() {
        let (w, h) = backend.size
        state.width = w; state.height = h
        var buf = Buffer(width: w, height: h)
        view(into: &buf)
        backend.draw(buf)
    }

    /// Time-driven updates (the lesson animation).
    public func tick() {
        if state.screen == .lesson && state.lessonPlaying && Date().timeIntervalSince(state.lastLessonTick) > 0.35 {
            state.lesson.forward(); state.lastLessonTick = Date()
        }
    }

    // MARK: update

    public func handle(_ key: Key) {
        if key == .resize { return }
        if state.confirmQuit {
            switch key {
            case .char("y"):
                let dir = exportDirectory + "/orrery-session-\(Int(Date().timeIntervalSince1970))"
                language?.send(.save(dir))
                // Give the session thread a moment to finish its step and save.
                let deadline = Date().addingTimeInterval(30)
                while Date() < deadline && !(language?.snapshot.get().message.hasPrefix("sav") ?? true) { Thread.sleep(forTimeInterval: 0.02) }
                state.quit = true
            case .char("n"): state.quit = true
            default: state.confirmQuit = false
            }
            return
        }
        if state.help { state.help = false; return }
        if state.screen == .chat, handleChatTyping(key) { return }
        switch key {
        case .char("?"): state.help = true; return
        case .char("q"), .ctrl("c"):
            if let l = language, !l.snapshot.get().finished { state.confirmQuit = true } else { state.quit = true }
            return
        case .escape:
            if state.screen != .home { state.screen = .home }
            return
        default: break
        }
        switch state.screen {
        case .home:
            switch key {
            case .up, .char("k"): state.selected = (state.selected + App.labs.count - 1) % App.labs.count
            case .down, .char("j"): state.selected = (state.selected + 1) % App.labs.count
            case .enter:
                let s = App.labs[state.selected].screen
                state.screen = s
                if s == .chat { chat.load() }
            default: break
            }
        case .configure:
            switch key {
            case .up: state.field = (state.field + state.fields.count - 1) % state.fields.count
            case .down: state.field = (state.field + 1) % state.fields.count
            case .left: state.fields[state.field].index = max(0, state.fields[state.field].index - 1)
            case .right: state.fields[state.field].index = min(state.fields[state.field].values.count - 1, state.fields[state.field].index + 1)
            case .enter: startLanguage()
            default: break
            }
        case .language:
            guard let l = language else { return }
            switch key {
            case .char(" "): l.send(l.snapshot.get().paused ? .resume : .pause)
            case .char("s"): l.send(.sample)
            case .char("l"): state.layer += 1
            case .char("L"): state.layer -= 1
            case .char("h"): state.head += 1
            case .char("H"): state.head -= 1
            case .tab: state.focus = 1 - state.focus
            case .char("e"): exportLanguagePane()
            case .char("w"):
                let dir = exportDirectory + "/orrery-session-\(Int(Date().timeIntervalSince1970))"
                l.send(.save(dir)); state.status = "saving to \(dir)…"
            default: break
            }
        case .chat:
            switch key {
            case .right: chat.selectHead(layerDelta: 0, headDelta: 1)
            case .left: chat.selectHead(layerDelta: 0, headDelta: -1)
            case .up: chat.selectHead(layerDelta: 1, headDelta: 0)
            case .down: chat.selectHead(layerDelta: -1, headDelta: 0)
            case .char("e") where state.chatInput.isEmpty: exportChatHeatmap()
            default: break
            }
        case .lesson:
            switch key {
            case .char(" "): state.lessonPlaying.toggle()
            case .right: state.lesson.forward(); state.lessonPlaying = false
            case .left: state.lesson.back(); state.lessonPlaying = false
            default: break
            }
        }
    }

    /// Typing into the chat input; returns true when the key was consumed.
    func handleChatTyping(_ key: Key) -> Bool {
        switch key {
        case .char(let c) where !(state.chatInput.isEmpty && (c == "?" || c == "q" || c == "e")):
            state.chatInput.append(c); return true
        case .backspace: if !state.chatInput.isEmpty { state.chatInput.removeLast() }; return true
        case .enter:
            let q = state.chatInput.trimmingCharacters(in: .whitespaces)
            if !q.isEmpty && chat.snapshot.get().pending == nil { chat.ask(q); state.chatInput = "" }
            return true
        default: return false
        }
    }

    public func startLanguage() {
        var c = LMConfig()
        let f = Dictionary(uniqueKeysWithValues: state.fields.map { ($0.name, $0.value) })
        c.model = LMConfig.ModelKind(rawValue: f["model"]!) ?? .gpt
        c.steps = Int(f["steps"]!)!; c.layers = Int(f["layers"]!)!; c.width = Int(f["width"]!)!
        c.context = Int(f["context"]!)!; c.batch = Int(f["batch"]!)!; c.lr = Float(f["learning rate"]!)!
        c.minLR = c.lr / 10; c.corpus = f["corpus"]!; c.evalEvery = 50; c.checkpointEvery = 100
        c.corpusDocuments = c.corpus == "dialogue" ? 8000 : 4000
        language?.send(.stop)
        let r = LanguageRunner(config: c)
        language = r
        r.start()
        state.screen = .language
        state.status = "training \(c.model.rawValue)"
    }

    func exportLanguagePane() {
        guard let l = language else { return }
        let s = l.snapshot.get()
        do {
            if state.focus == 1, let map = attentionMap(s) {
                let (w, h, px) = PNGExport.heatmap(map.values)
                let path = exportDirectory + "/orrery-attention-L\(map.layer)H\(map.head)-step\(s.step).png"
                try PNGExport.write(path, width: w, height: h, rgb: px)
                state.status = "wrote \(path)"
            } else {
                let (w, h, px) = PNGExport.plot(lossSeries(s))
                let path = exportDirectory + "/orrery-loss-step\(s.step).png"
                try PNGExport.write(path, width: w, height: h, rgb: px)
                state.status = "wrote \(path)"
            }
        } catch { state.status = "\(error)" }
    }

    func exportChatHeatmap() {
        let s = chat.snapshot.get()
        guard !s.attention.isEmpty else { state.status = "no attention to export yet"; return }
        let (w, h, px) = PNGExport.heatmap(s.attention)
        let path = exportDirectory + "/orrery-chat-attention-L\(s.layer)H\(s.head).png"
        do { try PNGExport.write(path, width: w, height: h, rgb: px); state.status = "wrote \(path)" } catch { state.status = "\(error)" }
    }

    func lossSeries(_ s: LanguageSnapshot) -> [Series] {
        [Series(name: "train", points: s.losses, color: 75), Series(name: "validation", points: s.valLosses, color: 214)]
    }

    func attentionMap(_ s: LanguageSnapshot) -> (values: [[Float]], layer: Int, head: Int)? {
        guard !s.attention.isEmpty, !s.attention[0].isEmpty else { return nil }
        let L = s.attention.count, H = s.attention[0].count
        let l = ((state.layer % L) + L) % L, h = ((state.head % H) + H) % H
        return (s.attention[l][h], l, h)
    }
}
