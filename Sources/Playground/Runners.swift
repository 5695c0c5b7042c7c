// Sessions run on their own threads and publish immutable Snapshots into a latest-value cell; the
// UI reads the newest one each frame and sends Commands into a mailbox drained between steps.
// Tensors never leave the session thread: snapshots hold plain arrays.
import Compute
import Foundation
import Labs
import Models

/// A value one thread publishes and another reads; the reader always sees the newest.
public final class LatestValue<T>: @unchecked Sendable {
    private var value: T
    private let lock = NSLock()
    public init(_ v: T) { value = v }
    public func get() -> T { lock.lock(); defer { lock.unlock() }; return value }
    public func set(_ v: T) { lock.lock(); value = v; lock.unlock() }
    public func update(_ f: (inout T) -> Void) { lock.lock(); f(&value); lock.unlock() }
}

public enum LanguageCommand: Sendable { case pause, resume, sample, save(String), stop }

public struct LanguageSnapshot: Sendable {
    public var step = 0, totalSteps = 0
    public var model = "", parameters = 0
    public var losses: [(x: Double, y: Double)] = []
    public var valLosses: [(x: Double, y: Double)] = []
    public var tokensPerSecond = 0.0, learningRate: Float = 0
    public var gradNorms: [(label: String, value: Double)] = []
    /// Attention probabilities of the probe sequence: [layer][head] → rows × cols.
    public var attention: [[[[Float]]]] = []
    public var probeTokens: [String] = []
    public var sample = ""
    public var paused = false, finished = false
    public var error: String?
    public var message = ""
    public var memoryBytes = 0
    public var elapsed = 0.0
    public init() {}
}

public final class LanguageRunner: @unchecked Sendable {
    public let snapshot = LatestValue(LanguageSnapshot())
    let mailbox = LatestValue<[LanguageCommand]>([])
    var thread: Thread?
    public let config: LMConfig
    /// Steps between attention probes and samples.
    let probeEvery = 10, sampleEvery = 100

    public init(config: LMConfig) { self.config = config }

    public func send(_ c: LanguageCommand) { mailbox.update { $0.append(c) } }

    public func start() {
        let t = Thread { [self] in self.main() }
        t.stackSize = 8 << 20
        thread = t
        t.start()
    }

    func main() {
        let session: LanguageSession
        do { session = try LanguageSession(config: config) } catch {
            snapshot.update { $0.error = "\(error)"; $0.finished = true }
            return
        }
        let start = Date()
        var paused = false
        let crashAfter = ProcessInfo.processInfo.environment["ORRERY_DEBUG_CRASH_AFTER_STEPS"].flatMap(Int.init)
        snapshot.update { s in
            s.totalSteps = config.steps; s.model = "\(config.model.rawValue) \(config.layers)×\(config.width)"
            s.parameters = session.model.parameterCount
        }
        publishProbe(session)
        while true {
            var commands: [LanguageCommand] = []
            mailbox.update { commands = $0; $0 = [] }
            for c in commands {
                switch c {
                case .pause: paused = true
                case .resume: paused = false
                case .stop: snapshot.update { $0.finished = true }; return
                case .sample: publishSample(session)
                case .save(let dir):
                    session.directory = dir
                    do { try session.save(); snapshot.update { $0.message = "saved to \(dir)" } } catch {
                        snapshot.update { $0.message = "save failed: \(error)" }
                    }
                }
            }
            if paused || session.step >= config.steps {
                snapshot.update { $0.paused = paused; $0.finished = session.step >= self.config.steps }
                Thread.sleep(forTimeInterval: 0.02)
                continue
            }
            let m = session.trainStep()
            if let n = crashAfter, session.step >= n { fatalError("debug crash on the session thread (ORRERY_DEBUG_CRASH_AFTER_STEPS)") }
            let norms = m.layerGradNorms.sorted { $0.key < $1.key }.map { (label: $0.key, value: Double($0.value)) }
            snapshot.update { s in
                s.step = session.step; s.paused = false
                s.losses.append((Double(m.step), Double(m.loss)))
                if s.losses.count > 4000 { s.losses = stride(from: 0, to: s.losses.count, by: 2).map { s.losses[$0] } }
                if let v = m.valLoss { s.valLosses.append((Double(m.step), Double(v))) }
                s.tokensPerSecond = m.tokensPerSecond; s.learningRate = m.lr
                if !norms.isEmpty { s.gradNorms = norms }
                s.memoryBytes = MemoryStats.liveBytes
                s.elapsed = Date().timeIntervalSince(start)
            }
            if session.step % probeEvery == 0 { publishProbe(session) }
            if session.step % sampleEvery == 0 { publishSample(session) }
        }
    }

    func publishProbe(_ session: LanguageSession) {
        guard let (labels, maps) = session.attentionProbe() else { return }
        snapshot.update { $0.attention = maps; $0.probeTokens = labels }
    }

    func publishSample(_ session: LanguageSession) {
        let text = session.sampleText()
        snapshot.update { $0.sample = text }
    }
}

public struct ChatSnapshot: Sendable {
    public var turns: [(user: String, assistant: String)] = []
    public var pending: String?
    public var attention: [[Float]] = []
    public var attentionLabels: [String] = []
    public var layer = 0, head = 0, layers = 1, heads = 1
    public var error: String?
    public var modelName = ""
    public var tokensPerSecond = 0.0
    public init() {}
}

/// Answers chat turns on a background thread, streaming tokens and the attention of the token
/// being generated (the probe over the most recent tokens) into its snapshot.
public final class ChatRunner: @unchecked Sendable {
    public let snapshot = LatestValue(ChatSnapshot())
    let checkpoint: String?
    var loaded: (LMConfig, Tokenizer, LanguageModel)?
    let queue = DispatchQueue(label: "orrery.chat")
    let view = LatestValue((layer: 0, head: 0))

    public init(checkpoint: String?) { self.checkpoint = checkpoint }

    public func selectHead(layerDelta: Int, headDelta: Int) {
        let s = snapshot.get()
        view.update { v in
            v.layer = (v.layer + layerDelta + s.layers) % max(1, s.layers)
            v.head = (v.head + headDelta + s.heads) % max(1, s.heads)
        }
        snapshot.update { $0.layer = self.view.get().layer; $0.head = self.view.get().head }
    }

    public func load() {
        queue.async { [self] in
            guard let dir = checkpoint else { snapshot.update { $0.error = "no chat model found (assets/models/chat)" }; return }
            do {
                let (c, t, m, _) = try LanguageSessionDirectory.loadModel(dir)
                loaded = (c, t, m)
                snapshot.update { s in
                    s.modelName = "\(c.model.rawValue) \(c.layers)×\(c.width)"
                    s.layers = c.layers; s.heads = c.heads
                }
            } catch { snapshot.update { $0.error = "\(error)" } }
        }
    }

    public func ask(_ question: String) {
        queue.async { [self] in
            guard let (c, tok, model) = loaded else { return }
            let history = snapshot.get().turns
            snapshot.update { $0.pending = "" }
            let (prompt, _) = ChatFormat().fit(history: history, user: question, tokenizer: tok, context: c.context, reserve: 48)
            var o = SamplingOptions(); o.temperature = 0; o.stop = ["\n"]; o.maxTokens = 60
            let gen = TextGenerator(model: model, tokenizer: tok, prompt: prompt, options: o)
            var answer = ""
            let t0 = Date()
            while let piece = gen.next() {
                answer += piece
                var maps: [[Float]] = [], labels: [String] = []
                if let gpt = model as? GPT {
                    let ids = Array(gen.tokens.suffix(min(24, c.context)))
                    let v = view.get()
                    let p = gpt.attentionProbabilities(ids, layer: v.layer, head: v.head).toArray()
                    let n = ids.count
                    maps = (0..<n).map { Array(p[($0 * n)..<($0 * n + n)]) }
                    labels = ids.map { tok.decodeString([$0]).replacingOccurrences(of: "\n", with: "⏎") }
                }
                let tps = Double(gen.produced) / max(1e-9, Date().timeIntervalSince(t0))
                snapshot.update { s in
                    s.pending = answer
                    if !maps.isEmpty { s.attention = maps; s.attentionLabels = labels }
                    s.tokensPerSecond = tps
                }
            }
            snapshot.update { s in
                s.turns.append((question, answer))
                s.pending = nil
                if let why = gen.failure { s.error = why }
            }
        }
    }
}
