// Measures the UI: frame time of every screen rendered from recorded snapshots, and training
// throughput with the UI drawing at its frame rate versus headless.
import Foundation
import Labs
import TerminalUI

public enum TUIBenchmark {
    public struct FrameResult {
        public let screen: String
        public let timesMs: [Double]
    }

    /// A short real run of the language lab, recorded as a snapshot (with attention maps and a sample).
    public static func recordLanguageSnapshot(steps: Int = 20) -> LanguageSnapshot {
        var c = LMConfig()
        c.steps = steps
        c.layers = 2
        c.width = 64
        c.context = 64
        c.batch = 8
        c.evalEvery = 5
        c.corpusDocuments = 500
        let r = LanguageRunner.language(c)
        r.start()
        let end = Date().addingTimeInterval(120)
        while r.snapshot.get().step < steps && Date() < end { Thread.sleep(forTimeInterval: 0.02) }
        r.send(.lab(.sample))
        Thread.sleep(forTimeInterval: 0.3)
        r.send(.stop)
        return r.snapshot.get()
    }

    /// Renders each screen `frames` times at width × height; returns per-frame milliseconds.
    public static func frameTimes(width: Int = 200, height: Int = 60, frames: Int = 60, chatModel: ModelSource?)
        -> [FrameResult]
    {
        let backend = TestBackend(width: width, height: height)
        let app = App(backend: backend, chatModel: chatModel)
        let lang = LanguageRunner.language(LMConfig())
        lang.snapshot.set(recordLanguageSnapshot())
        app.adopt(lang)
        var chat = ChatSnapshot()
        chat.turns = [("what is 3 plus 4?", "3 plus 4 is 7."), ("where is Ana?", "Ana is in the kitchen.")]
        chat.attention = (0..<24).map { i in (0..<24).map { j in j <= i ? 1 / Float(i + 1) : 0 } }
        chat.attentionLabels = (0..<24).map { String(UnicodeScalar(UInt8(97 + $0 % 26))) }
        chat.modelName = "gpt 4×128"
        chat.layers = 4
        chat.heads = 4
        app.chat.snapshot.set(chat)
        var out: [FrameResult] = []
        let screens: [(String, () -> Screen?)] = [
            ("home", { nil }), ("configure", { LanguageConfigureScreen() }),
            ("language", { LanguageScreen() }), ("chat", { ChatScreen() }),
            ("lesson", { AttentionLessonScreen() }),
        ]
        for (name, make) in screens {
            app.home()
            if let screen = make() { app.push(screen) }
            var times: [Double] = []
            for i in 0..<(frames + 5) {
                let t0 = DispatchTime.now().uptimeNanoseconds
                app.render()
                if i >= 5 { times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6) }
                (app.top as? AttentionLessonScreen)?.lesson.forward()
            }
            out.append(FrameResult(screen: name, timesMs: times))
        }
        return out
    }

    /// Median training tokens/s of `steps` steps headless, and with the app rendering at ~30 fps.
    public static func trainingUnderUI(config: LMConfig) throws -> (headless: Double, underUI: Double) {
        func median(_ a: [Double]) -> Double {
            let s = a.sorted()
            return s.isEmpty ? 0 : s[s.count / 2]
        }
        let session = try LanguageSession(config: config)
        var headless: [Double] = []
        while session.step < config.steps { headless.append(session.trainStep().tokensPerSecond) }
        let backend = TestBackend(width: 200, height: 60)
        let app = App(backend: backend, chatModel: nil)
        let runner = LanguageRunner.language(config)
        app.adopt(runner)
        app.push(LanguageScreen())
        runner.start()
        var seen = Set<Int>()
        var ui: [Double] = []
        let end = Date().addingTimeInterval(600)
        while Date() < end {
            app.render()
            let s = runner.snapshot.get()
            if s.step > 1 && !seen.contains(s.step) {
                seen.insert(s.step)
                ui.append(s.tokensPerSecond)
            }
            if s.step >= config.steps { break }
            if case .failed = runner.status.get().phase { break }
            Thread.sleep(forTimeInterval: 1.0 / 30)
        }
        runner.send(.stop)
        return (median(headless.dropFirst(2).map { $0 }), median(ui))
    }
}
