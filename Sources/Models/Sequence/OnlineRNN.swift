// The recurrent online detectors OadTR replaced: a GRU or an LSTM over the frame features, carrying its
// state from frame to frame, with a linear classifier on the hidden state. Trained with truncated
// backpropagation through time on contiguous chunks whose state carries over (detached), so training
// sees the same unbounded history that streaming inference does.
import Compute
import Foundation
import NN

public struct OnlineRNNConfig: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable, CaseIterable { case gru, lstm }
    public var kind: Kind = .gru
    public var features = 64
    public var classes = 7
    public var hidden = 128
    public init() {}

    public func validate() throws {
        if !(1...4096).contains(features) { throw OADError.config("features must be 1…4096, got \(features)") }
        if !(2...1000).contains(classes) { throw OADError.config("classes must be 2…1000, got \(classes)") }
        if !(1...4096).contains(hidden) { throw OADError.config("hidden width must be 1…4096, got \(hidden)") }
    }

    /// Parameters of a detector with this configuration.
    public var parameterCount: Int {
        let gates = kind == .gru ? 3 : 4
        return gates * hidden * (features + hidden + 2) + hidden * classes + classes
    }

    /// The hidden width whose parameter count is nearest `target`.
    public static func hidden(matching target: Int, kind: Kind, features: Int, classes: Int) -> Int {
        var c = OnlineRNNConfig()
        c.kind = kind
        c.features = features
        c.classes = classes
        var best = 1
        var bestGap = Int.max
        for h in 1...4096 {
            c.hidden = h
            let gap = abs(c.parameterCount - target)
            if gap < bestGap {
                best = h
                bestGap = gap
            } else if c.parameterCount > target {
                break
            }
        }
        return best
    }
}

public final class OnlineRNN: Module {
    public let config: OnlineRNNConfig
    public let cell: any RecurrentCell
    public let head: Linear

    public init(_ c: OnlineRNNConfig, seed: UInt64) {
        var rng = RNG(seed: seed)
        config = c
        switch c.kind {
        case .gru: cell = GRUCell(input: c.features, hidden: c.hidden, rng: &rng)
        case .lstm: cell = LSTMCell(input: c.features, hidden: c.hidden, rng: &rng)
        }
        head = Linear(c.hidden, c.classes, rng: &rng)
    }

    public func zeroState(batch: Int) -> RecurrentState { cell.zeroState(batch: batch) }

    /// Logits [B·L, classes] (row b·L + t) for features [B, L, F] from `state`, and the final state.
    public func callAsFunction(_ x: Tensor, state: RecurrentState) -> (Tensor, RecurrentState) {
        let B = x.shape[0]
        let L = x.shape[1]
        let (h, s) = cell.scan(cell.inputProjection(x), state)  // one GEMM for every step's input gates
        return (head(h.reshape([B * L, config.hidden])), s)
    }

    /// Class probabilities of every frame of a stream [N][classes], run over the whole stream from
    /// the zero state (batched inference: one pass, one input GEMM).
    public func predict(_ stream: ActionStream) -> [[Float]] {
        noGrad {
            let (logits, _) = self(stream.tensor.unsqueeze(0), state: zeroState(batch: 1))
            let p = logits.softmax(-1).toArray()
            let K = config.classes
            return (0..<stream.frames).map { Array(p[($0 * K)..<(($0 + 1) * K)]) }
        }
    }
}

/// Streaming recurrent detector: the hidden (and cell) state is the cache.
public final class OnlineRNNStream {
    public let model: OnlineRNN
    var state: RecurrentState
    public private(set) var seen = 0

    public init(_ model: OnlineRNN) {
        self.model = model
        state = model.zeroState(batch: 1)
    }

    /// Feeds one frame [F]; returns its class probabilities.
    public func push(_ frame: [Float]) -> [Float] {
        let F = model.config.features
        precondition(frame.count == F, "OnlineRNNStream: frame of \(F) features expected")
        return noGrad {
            let (logits, s) = model(Tensor(shape: [1, 1, F], data: frame), state: state)
            state = s
            seen += 1
            return logits.softmax(-1).toArray()
        }
    }
}
