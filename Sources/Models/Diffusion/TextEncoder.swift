// Text conditioning for the diffusion lab: captions of the shapes dataset become word tokens (a fixed
// vocabulary, padded to a fixed length), and a small transformer encoder — GPT blocks with
// bidirectional attention and rotary positions — turns them into context tokens [N, L, width] that
// the UNet's cross-attention reads. The encoder is trained jointly with the UNet (the diffusion loss
// is its only signal), as in Imagen's ablations with a learned encoder.
//
// The empty caption (all padding) is the "null" condition of classifier-free guidance: in training
// a fraction of captions is replaced by it, so one network learns both ε̂(x_t, c) and ε̂(x_t, ∅).
import Compute
import Foundation
import NN

/// Words ↔ token ids for captions: id 0 is padding, then `words` in order.
public struct CaptionTokenizer: Equatable, Sendable {
    public let words: [String]
    public let length: Int
    public init(words: [String], length: Int) {
        self.words = words
        self.length = length
    }

    public enum TokenizeError: Error, CustomStringConvertible, Equatable {
        case unknownWord(String, known: [String])
        case tooLong(words: Int, limit: Int)
        public var description: String {
            switch self {
            case .unknownWord(let w, let known):
                return "unknown word \"\(w)\" in the prompt; the model knows: " + known.joined(separator: " ")
            case .tooLong(let n, let limit):
                return "the prompt has \(n) words; the model reads at most \(limit)"
            }
        }
    }

    /// The words of a prompt: lower-cased, punctuation dropped, "center" read as "centre".
    public static func words(of text: String) -> [String] {
        text.lowercased().split { !$0.isLetter }.map { $0 == "center" ? "centre" : String($0) }
    }

    /// Token ids of a prompt, padded with 0 to `length`.
    public func ids(_ text: String) throws -> [Int] {
        let w = CaptionTokenizer.words(of: text)
        guard w.count <= length else { throw TokenizeError.tooLong(words: w.count, limit: length) }
        var out = try w.map { word -> Int in
            guard let i = words.firstIndex(of: word) else { throw TokenizeError.unknownWord(word, known: words) }
            return i + 1
        }
        out += [Int](repeating: 0, count: length - out.count)
        return out
    }

    /// The position of each word of `text` among the tokens (for the attention map of one word).
    public static func position(of word: String, in text: String) -> Int? {
        CaptionTokenizer.words(of: text).firstIndex(of: word)
    }
}

public struct TextEncoderConfig: Codable, Equatable, Sendable {
    public var width = 64
    public var layers = 2
    public var heads = 4
    public init() {}
}

/// Token ids [N · L] → context tokens [N, L, width].
public final class TextEncoder: Module {
    public let config: TextEncoderConfig
    public let embed: Embedding
    public let blocks: [GPTBlock]
    public let norm: RMSNorm
    let rope: RotaryTable
    let length: Int

    public init(_ c: TextEncoderConfig, vocabulary: Int, length: Int, rng: inout RNG) {
        config = c
        self.length = length
        let g = GPTConfig(
            vocabSize: vocabulary + 1, contextLength: length, layers: c.layers, heads: c.heads, width: c.width)
        embed = Embedding(vocabulary + 1, c.width, rng: &rng)
        blocks = (0..<c.layers).map { _ in GPTBlock(g, rng: &rng) }
        norm = RMSNorm(c.width)
        rope = RotaryTable(headDim: g.headDim, maxPositions: length, base: g.ropeBase)
    }

    public func callAsFunction(_ ids: [Int]) -> Tensor {
        precondition(ids.count % length == 0, "TextEncoder: ids must be whole captions")
        let N = ids.count / length
        var x = embed(ids).reshape([N, length, config.width])
        let positions = Array(0..<length)
        for b in blocks {
            let (q, k, v) = b.queriesKeysValues(x, rope: rope, positions: positions)
            x = b.finish(x, Tensor.attention(q, k, v, causal: false))
        }
        return norm(x)
    }
}
