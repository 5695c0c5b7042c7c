// The chat lab's model on a background thread. Answers come from a ChatSession (the same policy as
// `orrery chat`) and stream token by token into a snapshot, with the attention of each generated token
// over its context, read from the decoder's own KV cache (no second forward pass).
import Compute
import Foundation
import Labs
import Models

public struct ChatSnapshot: Sendable {
    public var turns: [(user: String, assistant: String)] = []
    public var pending: String?
    /// Rows: one per generated token (newest last), over the last `attentionLabels.count` positions.
    public var attention: [[Float]] = []
    public var attentionLabels: [String] = []
    public var layer = 0, head = 0, layers = 1, heads = 1
    public var hasAttention = true
    public var error: String?
    public var modelName = ""
    public var tokensPerSecond = 0.0
    public init() {}
}

public final class ChatRunner: @unchecked Sendable {
    public let snapshot = LatestValue(ChatSnapshot())
    let source: ModelSource?
    var session: ChatSession?
    let queue = DispatchQueue(label: "orrery.chat")
    let view = LatestValue((layer: 0, head: 0))
    /// Positions shown in the attention view.
    static let window = 24

    /// nil: no chat model (benchmarks and tests of other screens).
    public init(source: ModelSource?) { self.source = source }

    public func selectHead(layerDelta: Int, headDelta: Int) {
        let s = snapshot.get()
        view.update { v in
            v.layer = (v.layer + layerDelta + s.layers) % max(1, s.layers)
            v.head = (v.head + headDelta + s.heads) % max(1, s.heads)
        }
        let v = view.get()
        snapshot.update {
            $0.layer = v.layer
            $0.head = v.head
        }
    }

    public func load() {
        queue.async { [self] in
            guard session == nil else { return }
            guard let source else {
                snapshot.update { $0.error = "no chat model given" }
                return
            }
            do {
                let chat = try ChatSession(source: source)
                session = chat
                let probe = chat.model.makeDecoder().attentionShape
                snapshot.update { s in
                    s.modelName = chat.modelName
                    s.layers = probe?.layers ?? 1
                    s.heads = probe?.heads ?? 1
                    s.hasAttention = probe != nil
                }
            } catch { snapshot.update { $0.error = "\(error)" } }
        }
    }

    public func ask(_ question: String) {
        queue.async { [self] in
            guard let chat = session else { return }
            snapshot.update {
                $0.pending = ""
                $0.attention = []
            }
            var answer = ""
            var rows: [(end: Int, values: [Float])] = []  // each token's attention over absolute positions ..<end
            let t0 = Date()
            var produced = 0
            do {
                _ = try chat.reply(to: question) { piece, gen in
                    answer += piece
                    produced = gen.produced
                    let v = view.get()
                    var labels: [String] = []
                    let end = gen.tokens.count
                    var start = end
                    // A stop string ends the answer before its last token is fed: no new row then.
                    if !gen.finished, let row = gen.attentionRow(layer: v.layer, head: v.head) {
                        let n = min(ChatRunner.window, row.count)
                        start = end - n
                        rows.append((end, row))
                        if rows.count > ChatRunner.window { rows.removeFirst(rows.count - ChatRunner.window) }
                        labels = gen.windowTokens.suffix(n).map {
                            chat.tokenizer.decodeString([$0]).replacingOccurrences(of: "\n", with: "⏎")
                        }
                    }
                    let tps = Double(produced) / max(1e-9, Date().timeIntervalSince(t0))
                    // Columns are the same absolute positions for every row; a position after a row's
                    // token is in its future (0).
                    let shown = rows.map { r in
                        (start..<end).map { p -> Float in
                            let first = r.end - r.values.count
                            return p >= first && p < r.end ? r.values[p - first] : 0
                        }
                    }
                    snapshot.update { s in
                        s.pending = answer
                        if !labels.isEmpty {
                            s.attention = shown
                            s.attentionLabels = labels
                        }
                        s.tokensPerSecond = tps
                    }
                }
            } catch { snapshot.update { $0.error = "\(error)" } }
            snapshot.update { s in
                s.turns.append((question, answer))
                s.pending = nil
            }
        }
    }
}
