// Multi-head, grouped-query and multi-head latent attention side by side: the KV cache each keeps per
// token and how fast each decodes at batch 1, for GPTs of the same width (random weights: neither
// number depends on them). `orrery bench mla-decode` and the DeepSeek lab's MTP view both read it.
import Compute
import Foundation
import Models

public struct DecodeCase: Sendable, Equatable {
    /// "mha", "gqa" or "mla".
    public var name: String
    public var kvBytesPerToken: Int
    public var parameters: Int
    /// Each run's wall time in milliseconds (the first, warm-up run left out).
    public var timesMs: [Double]
    public var tokens: Int
    public var medianMs: Double {
        let s = timesMs.sorted()
        return s.isEmpty ? 0 : s[s.count / 2]
    }
    public var tokensPerSecond: Double { medianMs > 0 ? Double(tokens) / (medianMs / 1000) : 0 }
}

public enum DecodeComparison {
    /// The three configurations of the comparison: MHA, GQA with `kvHeads`, MLA (DeepSeek's defaults).
    public static func configs(layers: Int, width: Int, heads: Int, kvHeads: Int, context: Int) -> [(String, GPTConfig)]
    {
        let base = GPTConfig(vocabSize: 256, contextLength: context, layers: layers, heads: heads, width: width)
        let gqa = GPTConfig(
            vocabSize: 256, contextLength: context, layers: layers, heads: heads, kvHeads: kvHeads, width: width)
        var mla = base
        mla.mla = MLAConfig()
        return [("mha", base), ("gqa", gqa), ("mla", mla)]
    }

    /// Greedy decoding of `tokens` tokens after a 16-token prompt, `runs` times (plus one warm-up) for
    /// each configuration.
    public static func measure(
        layers: Int, width: Int, heads: Int, kvHeads: Int, tokens: Int, runs: Int
    ) -> [DecodeCase] {
        configs(layers: layers, width: width, heads: heads, kvHeads: kvHeads, context: tokens + 16).map { name, c in
            let model = GPT(c, seed: 1)
            model.train(false)
            let prompt = Array(0..<16)
            var times: [Double] = []
            var bytes = 0
            for _ in 0..<(runs + 1) {
                let dec = model.makeDecoder() as! GPTDecoder
                let t0 = DispatchTime.now().uptimeNanoseconds
                noGrad {
                    var logits = dec.feed(prompt)
                    for _ in 0..<tokens {
                        let v = logits.toArray()
                        var best = 0
                        for i in v.indices where v[i] > v[best] { best = i }
                        logits = dec.feed([best])
                    }
                }
                times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
                bytes = dec.cacheBytesPerToken
            }
            times.removeFirst()
            return DecodeCase(
                name: name, kvBytesPerToken: bytes, parameters: model.parameterCount, timesMs: times, tokens: tokens)
        }
    }
}
