// Multi-token prediction (DeepSeek-V3, 2024): D sequential modules after the main model, module k
// predicting the token k + 1 places ahead while keeping the causal chain:
//
//   h′ᵏᵢ = M_k [RMSNorm(hᵏ⁻¹ᵢ) ; RMSNorm(Emb(t_{i+k}))]     (concatenation, then a projection 2C → C)
//   hᵏ   = TRM_k(h′ᵏ)                                     (one transformer block, causal)
//   Pᵏ_{i+k+1} = OutHead(hᵏᵢ)                              (the embedding and output head are shared)
//   L_MTP = λ / D · Σ_k CE(Pᵏ, t_{·+k+1})
//
// h⁰ is the main model's last hidden state. At inference the first module drafts the token after the
// main model's next one; the main model verifies the draft in the same pass that extends it
// (self-speculative decoding). With greedy decoding the text is exactly plain greedy decoding's: a
// draft is kept only when it is the main model's own argmax.
import Compute
import Foundation
import NN

public final class MTPModule: Module {
    public let hiddenNorm: RMSNorm, embeddingNorm: RMSNorm
    public let projection: Linear
    public let block: GPTBlock

    public init(_ c: GPTConfig, rng: inout RNG) {
        hiddenNorm = RMSNorm(c.width)
        embeddingNorm = RMSNorm(c.width)
        projection = Linear(2 * c.width, c.width, bias: false, rng: &rng)
        block = GPTBlock(c, rng: &rng)
    }

    /// h′ = M [RMSNorm(h) ; RMSNorm(e)] for h, e [B, T, C].
    func combine(_ h: Tensor, _ e: Tensor) -> Tensor {
        projection(Tensor.cat([hiddenNorm(h), embeddingNorm(e)], dim: 2))
    }
}

extension GPT {
    /// Cross-entropy of each MTP depth for inputs x [B, T] and next-token targets y [B, T] (y_i = x_{i+1}),
    /// given the main model's hidden states h⁰ [B, T, C]. Depth k predicts y_{i+k} from position i.
    public func mtpLosses(_ x: [Int], targets y: [Int], batch B: Int, hidden h0: Tensor) -> [Tensor] {
        let T = x.count / B
        let C = config.width
        var h = h0
        var out: [Tensor] = []
        for (j, m) in mtp.enumerated() {
            let k = j + 1
            let n = T - k  // positions with a token k places ahead
            guard n >= 1 else { break }
            var ids: [Int] = []
            var targets: [Int] = []
            ids.reserveCapacity(B * n)
            for b in 0..<B {
                ids += x[(b * T + k)..<(b * T + T)]
                targets += y[(b * T + k)..<(b * T + T)]
            }
            let e = embed(ids).reshape([B, n, C])
            let hk = m.block(
                m.combine(h.slice(1, 0, n), e), rope: rope, positions: Array(0..<n), cuSeqlens: nil)
            out.append(head(hk.reshape([B * n, C])).crossEntropy(targets))
            h = hk
        }
        return out
    }
}

extension GPT {
    /// Acceptance by draft position, teacher-forced: over `tokens` (say the main model's own greedy
    /// output after a prompt), the fraction of positions i ≥ `from` at which MTP depths 1…k all predict
    /// the sequence's tokens i + 2 … i + k + 1, for k = 1…D — what a drafter chaining the D modules
    /// would have accepted at each draft position (a draft counts only if every earlier one did).
    public func mtpAgreement(_ tokens: [Int], from: Int) -> [Double] {
        noGrad {
            let T = tokens.count
            let C = config.width
            let V = config.vocabSize
            var h = hidden(tokens, batch: 1)
            var accepted = [Bool](repeating: true, count: T)
            var rates: [Double] = []
            for (j, m) in mtp.enumerated() {
                let k = j + 1
                let n = T - k
                guard n >= 2, from < n - 1 else { break }
                let e = embed(Array(tokens[k..<T])).reshape([1, n, C])
                let hk = m.block(m.combine(h.slice(1, 0, n), e), rope: rope, positions: Array(0..<n), cuSeqlens: nil)
                let logits = head(hk.reshape([n, C])).toArray()
                var seen = 0
                var kept = 0
                for i in Swift.max(0, from)..<(n - 1) {
                    var best = 0
                    for v in 1..<V where logits[i * V + v] > logits[i * V + best] { best = v }
                    accepted[i] = accepted[i] && best == tokens[i + k + 1]
                    seen += 1
                    if accepted[i] { kept += 1 }
                }
                rates.append(seen > 0 ? Double(kept) / Double(seen) : 0)
                h = hk
            }
            return rates
        }
    }
}

/// The first MTP module run incrementally (its block's keys and values cached), to draft tokens.
final class MTPDrafter {
    let model: GPT
    let module: MTPModule
    let keys: Tensor, values: Tensor
    var length = 0

    init(_ model: GPT) {
        precondition(!model.mtp.isEmpty, "MTPDrafter: the model has no MTP module")
        self.model = model
        module = model.mtp[0]
        let c = model.config
        precondition(c.mla == nil, "MTPDrafter: drafting through latent attention is not supported")
        keys = Tensor.zeros([1, c.kvHeads, c.contextLength, c.headDim])
        values = Tensor.zeros([1, c.kvHeads, c.contextLength, c.headDim])
    }

    /// Feeds position `length` (main hidden state h [C] there and the token that follows it) and returns
    /// the logits of the token after that [V].
    func feed(hidden h: Tensor, next token: Int) -> Tensor {
        noGrad {
            let C = model.config.width
            let x = module.combine(h.reshape([1, 1, C]), model.embed([token]).reshape([1, 1, C]))
            let b = module.block
            let (q, k, v) = b.queriesKeysValues(x, rope: model.rope, positions: [length])
            keys.slice(2, length, length + 1).assign(k)
            values.slice(2, length, length + 1).assign(v)
            let a = Tensor.attention(
                q, keys.slice(2, 0, length + 1), values.slice(2, 0, length + 1), causal: true)
            length += 1
            return model.head(b.finish(x, a).reshape([1, C])).reshape([model.config.vocabSize])
        }
    }
}

/// Greedy decoding, plain or self-speculative with the first MTP module as the drafter.
public enum SpeculativeDecoding {
    public struct Result: Sendable {
        public var tokens: [Int] = []
        /// Drafts proposed and accepted; main-model passes made.
        public var drafted = 0, accepted = 0, passes = 0
        /// For each token: whether it was an accepted draft (came free with the verifying pass).
        public var fromDraft: [Bool] = []
        public var seconds = 0.0
        public var acceptanceRate: Double { drafted > 0 ? Double(accepted) / Double(drafted) : 0 }
        public init() {}
    }

    static func argmax(_ t: Tensor) -> Int {
        let v = t.toArray()
        var best = 0
        for i in v.indices where v[i] > v[best] { best = i }
        return best
    }

    /// Plain greedy decoding: one main-model pass per token.
    public static func greedy(_ model: GPT, prompt: [Int], maxTokens: Int) -> Result {
        let start = Date()
        var r = Result()
        let dec = model.makeDecoder()
        var logits = dec.feed(prompt)
        r.passes = 1
        let limit = Swift.min(maxTokens, model.config.contextLength - prompt.count)
        while r.tokens.count < limit {
            let t = argmax(logits)
            r.tokens.append(t)
            if r.tokens.count == limit { break }
            logits = dec.feed([t])
            r.passes += 1
        }
        r.seconds = Date().timeIntervalSince(start)
        return r
    }

    /// Self-speculative greedy decoding: the main model's next token t is certain; the MTP module drafts
    /// the one after it; one main pass over [t, draft] verifies the draft (kept if it is the main
    /// model's argmax) and predicts the next. The tokens equal `greedy`'s.
    public static func selfSpeculative(_ model: GPT, prompt: [Int], maxTokens: Int) -> Result {
        let start = Date()
        var r = Result()
        // Drafting needs an MTP module with a plain attention cache; otherwise this is plain greedy.
        guard !model.mtp.isEmpty, model.config.mla == nil, let main = model.makeDecoder() as? GPTDecoder else {
            return greedy(model, prompt: prompt, maxTokens: maxTokens)
        }
        let drafter = MTPDrafter(model)
        let limit = Swift.min(maxTokens, model.config.contextLength - prompt.count)
        guard limit > 0 else { return r }
        var logits = main.feed(prompt)
        r.passes = 1
        // Bring the drafter up to the prompt: position i needs h⁰ᵢ and token i + 1.
        var hidden = main.lastHidden!  // [n, C] of the last feed
        for i in 0..<(prompt.count - 1) { _ = drafter.feed(hidden: hidden.select(0, i), next: prompt[i + 1]) }
        var last = hidden.select(0, prompt.count - 1)
        var next = argmax(logits)  // t_{p+1}: certain
        r.tokens.append(next)
        r.fromDraft.append(false)
        while r.tokens.count < limit {
            let draft = argmax(drafter.feed(hidden: last, next: next))  // d_{p+2}
            if r.tokens.count + 1 >= limit || main.length + 2 > model.config.contextLength {
                logits = main.feed([next])  // no room for a draft: one token
                r.passes += 1
                hidden = main.lastHidden!
                last = hidden.select(0, 0)
                next = argmax(logits)
                r.tokens.append(next)
                r.fromDraft.append(false)
                continue
            }
            r.drafted += 1
            let both = main.feedAll([next, draft])  // [2, V]
            r.passes += 1
            hidden = main.lastHidden!
            let verified = argmax(both.select(0, 0))
            if verified == draft {
                r.accepted += 1
                r.tokens.append(draft)
                r.fromDraft.append(true)
                if r.tokens.count >= limit { break }
                _ = drafter.feed(hidden: hidden.select(0, 0), next: draft)  // keep the drafter's cache whole
                last = hidden.select(0, 1)
                next = argmax(both.select(0, 1))
            } else {
                main.truncate(to: main.length - 1)  // drop the rejected draft
                last = hidden.select(0, 0)
                next = verified
            }
            r.tokens.append(next)
            r.fromDraft.append(false)
        }
        r.tokens = Array(r.tokens.prefix(limit))
        r.fromDraft = Array(r.fromDraft.prefix(limit))
        r.seconds = Date().timeIntervalSince(start)
        return r
    }
}
