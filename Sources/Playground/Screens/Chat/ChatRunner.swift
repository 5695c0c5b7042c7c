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
    /// The question whose answer is streaming.
    public var pendingQuestion: String?
    /// Rows: one per generated token (newest last), over the last `attentionLabels.count` positions.
    public var attention: [[Float]] = []
    public var attentionLabels: [String] = []
    public var layer = 0, head = 0, layers = 1, heads = 1
    public var hasAttention = true
    public var error: String?
    public var modelName = ""
    public var tokensPerSecond = 0.0
    /// The distribution the latest token was drawn from: its five most likely tokens.
    public var nextTokens: [(text: String, probability: Float)] = []
    /// A real checkpoint (a GGUF file) rather than a model trained here.
    public var pretrained = false
    /// Logit lens of the latest token (when on): layer, its most likely next token, probability.
    public var lens: [(layer: Int, text: String, probability: Float)] = []
    public var lensOn = false
    public var loading = false
    public init() {}
}

public final class ChatRunner: @unchecked Sendable {
    public let snapshot = LatestValue(ChatSnapshot())
    /// The model in use (changed by `switchModel`, on the chat queue).
    public private(set) var source: ModelSource?
    /// Models given on the command line besides the default (GGUF files), offered by the picker.
    public let extraModels: [ModelSource]
    var session: ChatSession?
    let queue = DispatchQueue(label: "orrery.chat")
    let view = LatestValue((layer: 0, head: 0))
    /// Whether answers compute the logit lens (costs one output-head product per shown layer).
    let lensWanted = LatestValue(false)

    public func toggleLens() {
        lensWanted.update { $0.toggle() }
        let on = lensWanted.get()
        snapshot.update { $0.lensOn = on }
    }
    /// Positions shown in the attention view.
    static let window = 24

    /// nil: no chat model (benchmarks and tests of other screens).
    public init(source: ModelSource?, extraModels: [ModelSource] = []) {
        self.source = source
        self.extraModels = extraModels
    }

    /// What the model picker offers: the default model, models given on the command line, and every
    /// GGUF file in the model cache.
    public func choices() -> [ModelSource] {
        var out: [ModelSource] = []
        for m in [source ?? .shipped, .shipped] + extraModels + ModelCache.ggufFiles().map({ .gguf($0) })
        where !out.contains(m) {
            out.append(m)
        }
        return out
    }

    /// Loads another model (the conversation starts over).
    public func switchModel(to new: ModelSource) {
        source = new  // set here, read on the queue after this dispatch
        queue.async { [self] in
            session = nil
            let lens = lensWanted.get()
            snapshot.update { s in
                s = ChatSnapshot()
                s.lensOn = lens
            }
            view.update { $0 = (0, 0) }
        }
        load()
    }

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
            snapshot.update { $0.loading = true }
            do {
                let chat = try ChatSession(source: source)
                session = chat
                let probe = chat.model.makeDecoder().attentionShape
                snapshot.update { s in
                    s.modelName = chat.modelName
                    s.layers = probe?.layers ?? 1
                    s.heads = probe?.heads ?? 1
                    s.hasAttention = probe != nil
                    s.pretrained = chat.pretrained != nil
                    s.loading = false
                }
            } catch {
                snapshot.update {
                    $0.error = "\(error)"
                    $0.loading = false
                }
            }
        }
    }

    public func ask(_ question: String) {
        queue.async { [self] in
            guard let chat = session else { return }
            snapshot.update {
                $0.pending = ""
                $0.pendingQuestion = question
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
                    let next = gen.lastLogits.map { ChatRunner.top(5, of: $0, chat.tokenizer) } ?? []
                    var lens: [(layer: Int, text: String, probability: Float)] = []
                    if let d = gen.currentDecoder as? LlamaDecoder {
                        d.recordLayerStates = lensWanted.get()
                        if d.recordLayerStates {
                            lens = d.logitLens(stride: max(1, d.model.config.layers / 6)).map {
                                ($0.layer, chat.tokenizer.decodeString([$0.token]), $0.probability)
                            }
                        }
                    }
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
                        if !next.isEmpty { s.nextTokens = next }
                        if !lens.isEmpty { s.lens = lens }
                    }
                }
            } catch { snapshot.update { $0.error = "\(error)" } }
            snapshot.update { s in
                s.turns.append((question, answer))
                s.pending = nil
                s.pendingQuestion = nil
            }
        }
    }

    /// The k most likely tokens of a logit vector with their softmax probabilities.
    static func top(_ k: Int, of logits: Tensor, _ tok: Tokenizer) -> [(text: String, probability: Float)] {
        let l = logits.toArray()
        guard let m = l.max(), m.isFinite else { return [] }
        var z: Float = 0
        for v in l { z += expf(v - m) }
        var best: [Int] = []
        for i in l.indices {
            if best.count < k {
                best.append(i)
                best.sort { l[$0] > l[$1] }
            } else if l[i] > l[best[k - 1]] {
                best[k - 1] = i
                best.sort { l[$0] > l[$1] }
            }
        }
        return best.map { i in
            let text = String(decoding: tok.decode([i]), as: UTF8.self)
            return (text, expf(l[i] - m) / z)
        }
    }
}
