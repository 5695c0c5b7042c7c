// Sequence packing (as in T5 / LLaMA pre-training pipelines): documents are laid end to end in
// fixed-capacity buffers instead of each being padded to the context length. Attention is kept
// inside each document by cumulative sequence lengths, and positions restart per document, so a
// packed buffer trains exactly as its documents would alone — without computing on padding.

/// One training sequence: input tokens, their next-token targets (−100 where none), each token's
/// position within its document, and the documents' cumulative lengths ([0, n₀, n₀+n₁, …]).
public struct PackedSequence: Equatable, Sendable {
    public var tokens: [Int] = []
    public var targets: [Int] = []
    public var positions: [Int] = []
    public var cuSeqlens: [Int] = [0]
    public var count: Int { tokens.count }
    /// Number of tokens that carry a training target.
    public var realTokens: Int { targets.filter { $0 != SequencePacker.ignore }.count }
}

public enum SequencePacker {
    public static let ignore = -100

    /// Splits a document into pieces of at most `capacity` training pairs (inputs doc[i], target
    /// doc[i+1]); a document shorter than 2 tokens has no pair and is dropped.
    static func pieces(_ doc: [Int], capacity: Int) -> [[Int]] {
        guard doc.count >= 2 else { return [] }
        var out: [[Int]] = []
        var start = 0
        while start < doc.count - 1 {
            let end = min(doc.count, start + capacity + 1)
            out.append(Array(doc[start..<end]))
            start = end - 1
        }
        return out
    }

    /// Packs documents into buffers of at most `capacity` tokens (first-fit decreasing: whole
    /// documents, only those longer than a buffer split). No padding is added: a buffer's length is
    /// the sum of its documents', so the padding-free path computes on real tokens only.
    public static func pack(_ documents: [[Int]], capacity: Int) -> [PackedSequence] {
        precondition(capacity >= 1, "packing capacity must be positive")
        let ps = documents.flatMap { pieces($0, capacity: capacity) }
        let order = ps.indices.sorted { (ps[$0].count, $1) > (ps[$1].count, $0) }
        var bins: [PackedSequence] = []
        for i in order {
            let p = ps[i]
            let n = p.count - 1
            let slot =
                bins.firstIndex { $0.count + n <= capacity }
                ?? {
                    bins.append(PackedSequence())
                    return bins.count - 1
                }()
            bins[slot].tokens += p.dropLast()
            bins[slot].targets += p.dropFirst()
            bins[slot].positions += Array(0..<n)
            bins[slot].cuSeqlens.append(bins[slot].count)
        }
        return bins
    }

    /// The padded alternative: each document piece alone in a row of exactly `length` tokens, padding
    /// (token `padToken`, target ignored) after it.
    public static func padded(_ documents: [[Int]], length: Int, padToken: Int = 0) -> [PackedSequence] {
        documents.flatMap { pieces($0, capacity: length) }.map { p in
            let n = p.count - 1
            var s = PackedSequence()
            s.tokens = Array(p.dropLast()) + Array(repeating: padToken, count: length - n)
            s.targets = Array(p.dropFirst()) + Array(repeating: ignore, count: length - n)
            s.positions = Array(0..<length)
            s.cuSeqlens = [0, length]
            return s
        }
    }
}
