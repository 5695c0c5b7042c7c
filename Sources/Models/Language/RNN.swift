// Recurrent language models: LSTM (Hochreiter & Schmidhuber 1997) and GRU (Cho et al. 2014), cells
// built from core ops so autograd differentiates them; gate order and equations as PyTorch's.
// The input projection of all time steps is one GEMM; only h·W_hh runs per step.
import Compute
import NN

/// LSTM cell: [i f g o] = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh; c' = σ(f)c + σ(i)tanh(g); h' = σ(o)tanh(c').
public final class LSTMCell: Module {
    public let inputProjection: Linear, hiddenProjection: Linear
    public let hidden: Int
    public init(input: Int, hidden: Int, rng: inout RNG) {
        self.hidden = hidden
        inputProjection = Linear(input, 4 * hidden, rng: &rng)
        hiddenProjection = Linear(hidden, 4 * hidden, rng: &rng)
    }
    /// One step from precomputed input gates xg [B, 4H].
    public func step(_ xg: Tensor, h: Tensor, c: Tensor) -> (Tensor, Tensor) {
        let g = (xg + hiddenProjection(h)).chunk(4, dim: 1)
        let cNew = g[1].sigmoid() * c + g[0].sigmoid() * g[2].tanh()
        return (g[3].sigmoid() * cNew.tanh(), cNew)
    }
}

/// GRU cell: [r z] = σ(x W_irzᵀ + h W_hrzᵀ + b); n = tanh(x W_inᵀ + b_in + r ∘ (h W_hnᵀ + b_hn));
/// h' = (1 − z) n + z h.
public final class GRUCell: Module {
    public let inputProjection: Linear, hiddenProjection: Linear
    public let hidden: Int
    public init(input: Int, hidden: Int, rng: inout RNG) {
        self.hidden = hidden
        inputProjection = Linear(input, 3 * hidden, rng: &rng)
        hiddenProjection = Linear(hidden, 3 * hidden, rng: &rng)
    }
    public func step(_ xg: Tensor, h: Tensor) -> Tensor {
        let xs = xg.chunk(3, dim: 1)
        let hs = hiddenProjection(h).chunk(3, dim: 1)
        let r = (xs[0] + hs[0]).sigmoid()
        let z = (xs[1] + hs[1]).sigmoid()
        let n = (xs[2] + r * hs[2]).tanh()
        return n + z * (h - n)
    }
}

public struct RNNConfig: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable { case lstm, gru }
    public var kind: Kind
    public var vocabSize: Int, contextLength: Int, layers: Int, width: Int
    public init(kind: Kind, vocabSize: Int, contextLength: Int, layers: Int, width: Int) {
        self.kind = kind
        self.vocabSize = vocabSize
        self.contextLength = contextLength
        self.layers = layers
        self.width = width
    }
}

public final class RNNLM: Module, LanguageModel {
    public let config: RNNConfig
    public let embed: Embedding
    public let cells: [Module]
    public let head: Linear

    public init(_ c: RNNConfig, seed: UInt64) {
        var rng = RNG(seed: seed)
        config = c
        embed = Embedding(c.vocabSize, c.width, std: 0.1, rng: &rng)
        cells = (0..<c.layers).map { _ in
            c.kind == .lstm
                ? LSTMCell(input: c.width, hidden: c.width, rng: &rng) as Module
                : GRUCell(input: c.width, hidden: c.width, rng: &rng) as Module
        }
        head = Linear(c.width, c.vocabSize, rng: &rng)
    }

    public var vocabSize: Int { config.vocabSize }
    public var contextLength: Int { config.contextLength }

    /// Runs one layer over the whole sequence x [B, T, C] from state, returning outputs and final state.
    func layer(_ i: Int, _ x: Tensor, h0: Tensor, c0: Tensor?) -> (Tensor, Tensor, Tensor?) {
        let B = x.shape[0]
        let T = x.shape[1]
        var h = h0
        var c = c0
        var outs: [Tensor] = []
        if let cell = cells[i] as? LSTMCell {
            let xg = cell.inputProjection(x)  // [B, T, 4H], one GEMM for all steps
            for t in 0..<T {
                (h, c) = cell.step(xg.select(1, t), h: h, c: c!)
                outs.append(h.unsqueeze(1))
            }
        } else if let cell = cells[i] as? GRUCell {
            let xg = cell.inputProjection(x)
            for t in 0..<T {
                h = cell.step(xg.select(1, t), h: h)
                outs.append(h.unsqueeze(1))
            }
        }
        _ = B
        return (Tensor.cat(outs, dim: 1), h, c)
    }

    public func logits(_ tokens: [Int], batch B: Int) -> Tensor {
        let T = tokens.count / B
        var x = embed(tokens).reshape([B, T, config.width])
        for i in 0..<config.layers {
            let z = Tensor.zeros([B, config.width])
            x = layer(i, x, h0: z, c0: config.kind == .lstm ? z : nil).0
        }
        return head(x.reshape([B * T, config.width]))
    }

    public func makeDecoder() -> IncrementalDecoder { RNNDecoder(self) }
}

/// Carries (h, c) per layer between calls: the recurrent analogue of a KV cache.
final class RNNDecoder: IncrementalDecoder {
    let model: RNNLM
    var h: [Tensor], c: [Tensor?]
    var length = 0
    init(_ m: RNNLM) {
        model = m
        h = (0..<m.config.layers).map { _ in Tensor.zeros([1, m.config.width]) }
        c = (0..<m.config.layers).map { _ in m.config.kind == .lstm ? Tensor.zeros([1, m.config.width]) : nil }
    }
    func feed(_ tokens: [Int]) -> Tensor {
        noGrad {
            var x = model.embed(tokens).reshape([1, tokens.count, model.config.width])
            for i in 0..<model.config.layers {
                let (out, hn, cn) = model.layer(i, x, h0: h[i], c0: c[i])
                x = out
                h[i] = hn
                c[i] = cn
            }
            length += tokens.count
            return model.head(x.select(1, tokens.count - 1)).reshape([model.config.vocabSize])
        }
    }
}
