// What every language model here offers to training sessions and generation.
import Compute
import NN

/// Anything that generates token by token: the trainable models here and real checkpoints.
public protocol AutoregressiveModel: AnyObject {
    var contextLength: Int { get }
    /// A fresh incremental decoder (KV cache for GPT, recurrent state for RNNs).
    func makeDecoder() -> IncrementalDecoder
}

public protocol LanguageModel: Module, AutoregressiveModel {
    var vocabSize: Int { get }
    var contextLength: Int { get }
    /// Logits [B·T, V] for tokens [B, T] (row-major).
    func logits(_ tokens: [Int], batch: Int) -> Tensor
    /// A fresh incremental decoder (KV cache for GPT, recurrent state for RNNs).
    func makeDecoder() -> IncrementalDecoder
}

/// Feeds tokens one chunk at a time and returns the logits [V] after the last one.
public protocol IncrementalDecoder: AnyObject {
    /// Number of tokens consumed so far.
    var length: Int { get }
    func feed(_ tokens: [Int]) -> Tensor
    /// Layers and heads whose attention `attentionRow` can report (nil: the model has no attention).
    var attentionShape: (layers: Int, heads: Int)? { get }
    /// The attention probabilities of the token fed last over every position in the cache ([length]),
    /// computed from the decoder's own cache — no second forward pass. nil without attention.
    func attentionRow(layer: Int, head: Int) -> [Float]?
}

extension IncrementalDecoder {
    public var attentionShape: (layers: Int, heads: Int)? { nil }
    public func attentionRow(layer: Int, head: Int) -> [Float]? { nil }
}
