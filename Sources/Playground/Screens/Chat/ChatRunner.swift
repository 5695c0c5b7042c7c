// The chat lab's model on a background thread: answers stream token by token into a snapshot, with
// the attention of the token being generated (the probe over the most recent tokens).
import Compute
import Foundation
import Labs
import Models

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
