// Sampling and streaming generation: temperature, top-k, top-p (nucleus, Holtzman et al. 2020),
// repetition penalty (Keskar et al. 2019: divide positive logits, multiply negative ones), stop
// strings, and streaming that holds back a UTF-8 character split across tokens until it is whole.
import Compute
import Foundation

public struct SamplingOptions: Codable, Equatable, Sendable {
    public var temperature: Float = 0.8
    public var topK: Int = 0  // 0: off
    public var topP: Float = 1  // 1: off
    /// Min-p (Nguyen et al. 2024): keep tokens whose probability is at least minP × the largest (0: off).
    public var minP: Float = 0
    public var repetitionPenalty: Float = 1
    public var maxTokens: Int = 200
    public var stop: [String] = []
    public var seed: UInt64 = 0
    public init() {}
}

public struct Sampler {
    public let options: SamplingOptions
    var rng: RNG
    public init(_ o: SamplingOptions) {
        options = o
        rng = RNG(seed: o.seed)
    }

    /// Picks the next token from logits [V]; `history` feeds the repetition penalty; tokens outside
    /// `allowed` are never picked.
    public mutating func pick(_ logits: Tensor, history: [Int], allowed: Range<Int>? = nil) -> Int {
        var l = logits.toArray()
        if let a = allowed, !a.isEmpty {
            for i in l.indices where !a.contains(i) { l[i] = -.infinity }
        }
        if options.repetitionPenalty != 1 {
            for t in Set(history) where t < l.count {
                l[t] = l[t] > 0 ? l[t] / options.repetitionPenalty : l[t] * options.repetitionPenalty
            }
        }
        if options.temperature <= 0 { return l.indices.max { l[$0] < l[$1] } ?? 0 }  // greedy
        var idx = Array(l.indices).sorted { l[$0] > l[$1] }
        if options.topK > 0 { idx = Array(idx.prefix(options.topK)) }
        let m = l[idx[0]]
        var p = idx.map { Foundation.exp(Double((l[$0] - m) / options.temperature)) }
        if options.topP < 1 {
            let total = p.reduce(0, +)
            var acc = 0.0
            var keep = 0
            while keep < p.count {
                acc += p[keep] / total
                keep += 1
                if acc >= Double(options.topP) { break }
            }
            idx = Array(idx.prefix(keep))
            p = Array(p.prefix(keep))
        }
        if options.minP > 0 {  // p is sorted, p[0] the largest
            let floor = p[0] * Double(options.minP)
            let keep = max(1, p.prefix { $0 >= floor }.count)
            idx = Array(idx.prefix(keep))
            p = Array(p.prefix(keep))
        }
        return idx[rng.categorical(p.map { Float($0) })]
    }
}

/// Streams generated text from a model: `next()` returns the next printable piece (possibly empty
/// while a UTF-8 character is incomplete), nil when finished (max tokens or a stop string).
public final class TextGenerator {
    let model: AutoregressiveModel
    let tokenizer: Tokenizer
    /// Tokens that end generation without being shown (EOS, <|im_end|>, …).
    let stopTokens: Set<Int>
    /// The logits the token sampled last was drawn from (for UIs: the next-token distribution).
    public private(set) var lastLogits: Tensor?
    var sampler: Sampler
    var decoder: IncrementalDecoder
    public private(set) var tokens: [Int]
    var pendingLogits: Tensor?
    var emitted: [UInt8] = []  // bytes already returned
    var generated: [UInt8] = []  // bytes of generated tokens
    public private(set) var produced = 0
    public private(set) var finished = false
    /// The token just sampled (for UIs that show per-token state).
    public private(set) var lastToken: Int?
    /// Why generation stopped early, if it did (the model produced NaN or infinite logits).
    public private(set) var failure: String?

    public init(
        model: AutoregressiveModel, tokenizer: Tokenizer, prompt: [Int], options: SamplingOptions,
        stopTokens: Set<Int> = []
    ) {
        var o = options
        self.stopTokens = stopTokens
        o.stop = o.stop.filter { !$0.isEmpty }  // an empty stop string would match everywhere and nowhere
        self.model = model
        self.tokenizer = tokenizer
        sampler = Sampler(o)
        decoder = model.makeDecoder()
        tokens = prompt.isEmpty ? [0] : prompt
        pendingLogits = feedWindow(tokens)
    }

    /// Feeds tokens, sliding the window (re-encoding the most recent half context) when full.
    func feedWindow(_ new: [Int]) -> Tensor {
        let ctx = model.contextLength
        if decoder.length + new.count > ctx {
            decoder = model.makeDecoder()
            let keep = Array(tokens.suffix(max(1, ctx / 2)))
            return decoder.feed(keep)
        }
        return decoder.feed(new)
    }

    public func next() -> String? {
        if finished { return nil }
        let o = sampler.options
        guard produced < o.maxTokens, let logits = pendingLogits else { return finish() }
        guard Kernels.allFinite(logits) else {
            failure =
                "the model produced non-finite logits after \(produced) tokens (its weights or inputs hold NaN or inf)"
            return finish()
        }
        let t = sampler.pick(logits, history: tokens, allowed: tokenizer.generatableTokens)
        lastToken = t
        lastLogits = logits
        if stopTokens.contains(t) { return finish() }
        tokens.append(t)
        produced += 1
        generated += tokenizer.decode([t])
        // Stop strings: end before the stop text.
        let text = generated
        for s in o.stop where !s.isEmpty {
            let sb = Array(s.utf8)
            if let r = text.firstRange(of: sb) {
                generated = Array(text[..<r.lowerBound])
                finished = true
                return flush(all: true)
            }
        }
        pendingLogits = feedWindow([t])
        // Hold back a possible stop-string prefix and an incomplete UTF-8 character.
        let hold =
            o.stop.map { s -> Int in
                let sb = Array(s.utf8)
                var k = min(sb.count - 1, text.count)
                while k > 0 && Array(text.suffix(k)) != Array(sb.prefix(k)) { k -= 1 }
                return k
            }.max() ?? 0
        return flush(all: false, hold: hold)
    }

    func flush(all: Bool, hold: Int = 0) -> String {
        let limit = all ? generated.count : UTF8Scan.completePrefix(Array(generated.dropLast(hold)))
        guard limit > emitted.count else { return "" }
        let piece = Array(generated[emitted.count..<limit])
        emitted = Array(generated[..<limit])
        return String(decoding: piece, as: UTF8.self)
    }

    func finish() -> String? {
        finished = true
        // A character cut in half by the token limit is dropped, never shown as U+FFFD.
        let s = flush(all: false)
        return s.isEmpty ? nil : s
    }

    /// The attention capability of the model's decoder (nil shape: no attention, e.g. LSTM/GRU).
    public var attentionShape: (layers: Int, heads: Int)? { decoder.attentionShape }

    /// The decoder in use (UIs read per-layer state from it, e.g. a logit lens).
    public var currentDecoder: IncrementalDecoder { decoder }

    /// The attention of the token sampled last over the tokens in the decoder's window.
    public func attentionRow(layer: Int, head: Int) -> [Float]? { decoder.attentionRow(layer: layer, head: head) }

    /// The ids of the tokens in the decoder's window, oldest first (what `attentionRow` spans).
    public var windowTokens: [Int] { Array(tokens.suffix(decoder.length)) }

    /// Runs to the end and returns the whole text.
    public func run() -> String {
        var s = ""
        while let piece = next() { s += piece }
        return s
    }
}

/// Chat formatting: the turn template of the built-in dialogue corpus ("User: …\nBot: …\n") and
/// context management that drops the oldest turns first.
public struct ChatFormat: Sendable {
    public var userPrefix = "User: ", assistantPrefix = "Bot: "
    public init() {}

    public func prompt(history: [(user: String, assistant: String)], user: String) -> String {
        var s = ""
        for (u, a) in history { s += userPrefix + u + "\n" + assistantPrefix + a + "\n" }
        return s + userPrefix + user + "\n" + assistantPrefix
    }

    /// Token ids of the prompt with as many of the most recent turns as leave `reserve` tokens of room
    /// (the oldest are dropped first). Grows from the newest turn backwards, so the cost depends on
    /// what fits the context, not on how long the conversation has been.
    public func fit(
        history: [(user: String, assistant: String)], user: String, tokenizer: Tokenizer,
        context: Int, reserve: Int
    ) -> (tokens: [Int], keptTurns: Int) {
        let budget = max(1, context - reserve)
        var best = tokenizer.encode(prompt(history: [], user: user))
        if best.count > budget { return (Array(best.suffix(budget)), 0) }
        var kept = 0
        while kept < history.count {
            let t = tokenizer.encode(prompt(history: Array(history.suffix(kept + 1)), user: user))
            if t.count > budget { break }
            best = t
            kept += 1
        }
        return (best, kept)
    }
}
