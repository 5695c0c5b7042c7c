// Recurrent language models: LSTM (Hochreiter & Schmidhuber 1997) and GRU (Cho et al. 2014), cells
// built from core ops so autograd differentiates them; gate order and equations as PyTorch's.
// The input projection of all time steps is one GEMM; only h·W_hh runs per step.
import Compute
import NN

/// What a recurrent layer carries from one step to the next: h, and for an LSTM the cell state c.
public struct RecurrentState {
    public var h: Tensor
    public var c: Tensor?
    public init(h: Tensor, c: Tensor?) {
        self.h = h
        self.c = c
    }
}

/// A recurrent cell: its input projection runs once for all time steps (one GEMM); `step` does the
/// rest of one time step from the projected input.
public protocol RecurrentCell: Module {
    var inputProjection: Linear { get }
    /// The next state from the projected input of one step xg [B, gates·H].
    func step(_ xg: Tensor, _ state: RecurrentState) -> RecurrentState
    /// The all-zero state for `batch` rows.
    func zeroState(batch: Int) -> RecurrentState
}

/// LSTM cell: [i f g o] = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh; c' = σ(f)c + σ(i)tanh(g); h' = σ(o)tanh(c').
public final class LSTMCell: Module, RecurrentCell {
    public let inputProjection: Linear, hiddenProjection: Linear
    public let hidden: Int
    public init(input: Int, hidden: Int, rng: inout RNG) {
        self.hidden = hidden
        inputProjection = Linear(input, 4 * hidden, rng: &rng)
        hiddenProjection = Linear(hidden, 4 * hidden, rng: &rng)
    }
    /// One step from precomputed input gates xg [B, 4H].
    public func step(_ xg: Tensor, h: Tensor, c: Tensor) -> (Tensor, Tensor) {
        Tensor.lstmCell(gates: xg + hiddenProjection(h), c: c)
    }

    public func step(_ xg: Tensor, _ state: RecurrentState) -> RecurrentState {
        let (h, c) = step(xg, h: state.h, c: state.c ?? Tensor.zeros(state.h.shape))
        return RecurrentState(h: h, c: c)
    }

    public func zeroState(batch: Int) -> RecurrentState {
        RecurrentState(h: Tensor.zeros([batch, hidden]), c: Tensor.zeros([batch, hidden]))
    }
}

/// GRU cell: [r z] = σ(x W_irzᵀ + h W_hrzᵀ + b); n = tanh(x W_inᵀ + b_in + r ∘ (h W_hnᵀ + b_hn));
/// h' = (1 − z) n + z h.
public final class GRUCell: Module, RecurrentCell {
    public let inputProjection: Linear, hiddenProjection: Linear
    public let hidden: Int
    public init(input: Int, hidden: Int, rng: inout RNG) {
        self.hidden = hidden
        inputProjection = Linear(input, 3 * hidden, rng: &rng)
        hiddenProjection = Linear(hidden, 3 * hidden, rng: &rng)
    }
    public func step(_ xg: Tensor, h: Tensor) -> Tensor {
        Tensor.gruCell(xg: xg, hg: hiddenProjection(h), h: h)
    }

    public func step(_ xg: Tensor, _ state: RecurrentState) -> RecurrentState {
        RecurrentState(h: step(xg, h: state.h), c: nil)
    }

    public func zeroState(batch: Int) -> RecurrentState { RecurrentState(h: Tensor.zeros([batch, hidden]), c: nil) }
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
    public let cells: [any RecurrentCell]
    public let head: Linear

    public init(_ c: RNNConfig, seed: UInt64) {
        var rng = RNG(seed: seed)
        config = c
        embed = Embedding(c.vocabSize, c.width, std: 0.1, rng: &rng)
        cells = (0..<c.layers).map { _ -> any RecurrentCell in
            switch c.kind {
            case .lstm: return LSTMCell(input: c.width, hidden: c.width, rng: &rng)
            case .gru: return GRUCell(input: c.width, hidden: c.width, rng: &rng)
            }
        }
        head = Linear(c.width, c.vocabSize, rng: &rng)
    }

    public var vocabSize: Int { config.vocabSize }
    public var contextLength: Int { config.contextLength }

    /// Runs layer `i` over the whole sequence x [B, T, C] from `state`; returns outputs and final state.
    func layer(_ i: Int, _ x: Tensor, _ state: RecurrentState) -> (Tensor, RecurrentState) {
        let cell = cells[i]
        return cell.scan(cell.inputProjection(x), state)  // one GEMM for all steps' input gates, then the recurrence
    }

    public func logits(_ tokens: [Int], batch B: Int) -> Tensor {
        let T = tokens.count / B
        var x = embed(tokens).reshape([B, T, config.width])
        for i in 0..<config.layers { x = layer(i, x, cells[i].zeroState(batch: B)).0 }
        return head(x.reshape([B * T, config.width]))
    }

    public func makeDecoder() -> IncrementalDecoder { RNNDecoder(self) }
}

/// Carries (h, c) per layer between calls: the recurrent analogue of a KV cache.
final class RNNDecoder: IncrementalDecoder {
    let model: RNNLM
    var states: [RecurrentState]
    var length = 0
    init(_ m: RNNLM) {
        model = m
        states = m.cells.map { $0.zeroState(batch: 1) }
    }
    func feed(_ tokens: [Int]) -> Tensor {
        noGrad {
            var x = model.embed(tokens).reshape([1, tokens.count, model.config.width])
            for i in 0..<model.config.layers { (x, states[i]) = model.layer(i, x, states[i]) }
            length += tokens.count
            return model.head(x.select(1, tokens.count - 1)).reshape([model.config.vocabSize])
        }
    }
}
