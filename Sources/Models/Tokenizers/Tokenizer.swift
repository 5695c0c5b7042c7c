// Tokenizers. Both are exact on any byte string, including invalid UTF-8: decode(encode(b)) == b.
//  - CharTokenizer: one token per Unicode scalar seen in the training text; anything else (unseen
//    characters, invalid UTF-8) falls back to one token per byte.
//  - ByteBPE: byte-level byte-pair encoding (Sennrich et al. 2016; GPT-2's byte-level variant):
//    256 byte tokens plus learned merges, applied in rank order.
import Foundation

public protocol Tokenizer: AnyObject {
    var vocabSize: Int { get }
    func encode(_ bytes: [UInt8]) -> [Int]
    func decode(_ tokens: [Int]) -> [UInt8]
    /// JSON for `save`; `TokenizerFile.load` reads it back.
    func json() -> [String: Any]
    /// The tokens a model trained on this tokenizer's text can meaningfully emit (nil: all). A character
    /// tokenizer's byte-fallback tokens never occur in its training text, yet an untrained model gives
    /// them probability: sampling them printed bytes the vocabulary does not have (`^`, `:`, and lone
    /// UTF-8 continuation bytes shown as U+FFFD).
    var generatableTokens: Range<Int>? { get }
}

extension Tokenizer {
    public func encode(_ text: String) -> [Int] { encode(Array(text.utf8)) }
    public func decodeString(_ tokens: [Int]) -> String { String(decoding: decode(tokens), as: UTF8.self) }
}

public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    case invalid(String)
    public var description: String {
        switch self {
        case .invalid(let s): return "invalid tokenizer: \(s)"
        }
    }
}

/// Byte fallback tokens are 0…255; characters follow.
public final class CharTokenizer: Tokenizer {
    public let chars: [Unicode.Scalar]
    let index: [Unicode.Scalar: Int]

    public init(chars: [Unicode.Scalar]) {
        self.chars = chars
        var m: [Unicode.Scalar: Int] = [:]
        for (i, c) in chars.enumerated() { m[c] = 256 + i }
        index = m
    }

    /// Learns the characters of `text` (sorted, so the vocabulary is reproducible).
    public convenience init(training text: String) {
        self.init(chars: Array(Set(text.unicodeScalars)).sorted { $0.value < $1.value })
    }

    public var vocabSize: Int { 256 + chars.count }

    /// The learned characters only (byte-level mode, with no characters, may emit any byte).
    public var generatableTokens: Range<Int>? { chars.isEmpty ? nil : 256..<vocabSize }

    public func encode(_ bytes: [UInt8]) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if let (scalar, len) = UTF8Scan.scalar(bytes, at: i), let t = index[scalar] {
                out.append(t)
                i += len
            } else if let (_, len) = UTF8Scan.scalar(bytes, at: i) {
                for k in 0..<len { out.append(Int(bytes[i + k])) }
                i += len
            } else {
                out.append(Int(bytes[i]))
                i += 1
            }
        }
        return out
    }

    public func decode(_ tokens: [Int]) -> [UInt8] {
        var out: [UInt8] = []
        for t in tokens {
            if t >= 0 && t < 256 {
                out.append(UInt8(t))
            } else if t >= 256 && t < vocabSize {
                out += Array(String(Character(chars[t - 256])).utf8)
            }
        }
        return out
    }

    public func json() -> [String: Any] {
        ["type": "char", "chars": chars.map { Int($0.value) }]
    }
}

/// Byte-level BPE: tokens 0…255 are bytes; token 256 + r is the r-th learned merge.
public final class ByteBPE: Tokenizer {
    /// The longest token, in bytes. Merges can double a token's length, so a file of a few dozen
    /// self-referencing merges would otherwise describe tokens of gigabytes; training respects the
    /// same bound.
    public static let maxTokenBytes = 256
    /// The largest vocabulary a file may describe (256 byte tokens + merges).
    public static let maxVocabulary = 65536 + 256
    public let merges: [(Int, Int)]
    let rank: [Int64: Int]
    let expansions: [[UInt8]]

    public init(merges: [(Int, Int)]) throws {
        var r: [Int64: Int] = [:]
        var ex: [[UInt8]] = (0..<256).map { [UInt8($0)] }
        guard 256 + merges.count <= ByteBPE.maxVocabulary else {
            throw TokenizerError.invalid("\(merges.count) merges exceed the \(ByteBPE.maxVocabulary - 256) allowed")
        }
        for (i, (a, b)) in merges.enumerated() {
            guard a >= 0, b >= 0, a < 256 + i, b < 256 + i else {
                throw TokenizerError.invalid("merge \(i) refers to a later token")
            }
            guard ex[a].count + ex[b].count <= ByteBPE.maxTokenBytes else {
                throw TokenizerError.invalid("merge \(i) makes a token longer than \(ByteBPE.maxTokenBytes) bytes")
            }
            guard r.updateValue(i, forKey: ByteBPE.key(a, b)) == nil else {
                throw TokenizerError.invalid("merge \(i) repeats an earlier merge")
            }
            ex.append(ex[a] + ex[b])
        }
        self.merges = merges
        rank = r
        expansions = ex
    }

    static func key(_ a: Int, _ b: Int) -> Int64 { Int64(a) << 32 | Int64(b) }

    public var vocabSize: Int { 256 + merges.count }

    /// Every byte and merge: byte-level BPE text is made of them.
    public var generatableTokens: Range<Int>? { nil }

    /// Learns `vocabSize − 256` merges from `bytes`: repeatedly merges the most frequent adjacent pair
    /// (ties: the smallest pair), within chunks split at whitespace so merges do not cross words.
    public static func train(_ bytes: [UInt8], vocabSize: Int) throws -> ByteBPE {
        precondition(vocabSize >= 256, "BPE vocabulary must be at least 256")
        // Words: maximal runs that start at a space or newline boundary, counted once each.
        var words: [[Int]: Int] = [:]
        var cur: [Int] = []
        for b in bytes {
            if (b == 0x20 || b == 0x0A) && !cur.isEmpty {
                words[cur, default: 0] += 1
                cur = []
            }
            cur.append(Int(b))
        }
        if !cur.isEmpty { words[cur, default: 0] += 1 }
        var seqs = Array(words.keys)
        var counts = seqs.map { words[$0] ?? 0 }
        var merges: [(Int, Int)] = []
        var lengths = [Int](repeating: 1, count: 256)  // bytes per token
        while 256 + merges.count < vocabSize {
            var pairs: [Int64: Int] = [:]
            for (s, c) in zip(seqs, counts) where s.count > 1 {
                for i in 0..<(s.count - 1) where lengths[s[i]] + lengths[s[i + 1]] <= maxTokenBytes {
                    pairs[key(s[i], s[i + 1]), default: 0] += c
                }
            }
            guard let best = pairs.max(by: { ($0.value, -$0.key) < ($1.value, -$1.key) }), best.value >= 2 else {
                break
            }
            let a = Int(best.key >> 32)
            let b = Int(best.key & 0xFFFF_FFFF)
            let t = 256 + merges.count
            merges.append((a, b))
            lengths.append(lengths[a] + lengths[b])
            for k in seqs.indices where seqs[k].count > 1 {
                var s = seqs[k]
                var out: [Int] = []
                var i = 0
                while i < s.count {
                    if i + 1 < s.count && s[i] == a && s[i + 1] == b {
                        out.append(t)
                        i += 2
                    } else {
                        out.append(s[i])
                        i += 1
                    }
                }
                s = out
                seqs[k] = s
            }
        }
        return try ByteBPE(merges: merges)
    }

    public func encode(_ bytes: [UInt8]) -> [Int] {
        var out: [Int] = []
        var start = 0
        // Encode word by word (same split as training), merging the lowest-ranked pair first.
        for i in 0...bytes.count where i == bytes.count || ((bytes[i] == 0x20 || bytes[i] == 0x0A) && i > start) {
            var s = bytes[start..<i].map { Int($0) }
            while s.count > 1 {
                var bestRank = Int.max
                var at = -1
                for j in 0..<(s.count - 1) {
                    if let r = rank[ByteBPE.key(s[j], s[j + 1])], r < bestRank {
                        bestRank = r
                        at = j
                    }
                }
                if at < 0 { break }
                let (a, b) = merges[bestRank]
                var o: [Int] = []
                var j = 0
                while j < s.count {
                    if j + 1 < s.count && s[j] == a && s[j + 1] == b {
                        o.append(256 + bestRank)
                        j += 2
                    } else {
                        o.append(s[j])
                        j += 1
                    }
                }
                s = o
            }
            out += s
            start = i
        }
        return out
    }

    public func decode(_ tokens: [Int]) -> [UInt8] {
        var out: [UInt8] = []
        for t in tokens where t >= 0 && t < expansions.count { out += expansions[t] }
        return out
    }

    public func json() -> [String: Any] {
        ["type": "bpe", "merges": merges.map { [$0.0, $0.1] }]
    }
}

public enum TokenizerFile {
    /// Reads a tokenizer saved by `json()`, validating every value: character codes must be Unicode
    /// scalars (no negatives, no surrogates) without repeats; merges must refer to earlier tokens and
    /// stay within the token-length and vocabulary bounds.
    public static func load(_ obj: [String: Any]) throws -> Tokenizer {
        switch obj["type"] as? String {
        case "char":
            guard let cs = obj["chars"] as? [Int] else {
                throw TokenizerError.invalid("char tokenizer without a list of character codes")
            }
            guard cs.count <= 0x110000 else {
                throw TokenizerError.invalid("\(cs.count) characters is more than Unicode has")
            }
            var seen = Set<UInt32>()
            let scalars = try cs.enumerated().map { (i, v) -> Unicode.Scalar in
                guard v > 0, v <= 0x10FFFF, let s = Unicode.Scalar(UInt32(v)) else {
                    throw TokenizerError.invalid("character \(i) has code \(v), which is not a Unicode scalar")
                }
                guard seen.insert(s.value).inserted else {
                    throw TokenizerError.invalid("character \(i) (code \(v)) is repeated")
                }
                return s
            }
            return CharTokenizer(chars: scalars)
        case "bpe":
            guard let ms = obj["merges"] as? [[Int]], ms.allSatisfy({ $0.count == 2 }) else {
                throw TokenizerError.invalid("bpe tokenizer without a list of merge pairs")
            }
            return try ByteBPE(merges: ms.map { ($0[0], $0[1]) })
        default:
            throw TokenizerError.invalid("unknown type \((obj["type"] as? String).map { "\"\($0)\"" } ?? "(missing)")")
        }
    }
}

/// Strict UTF-8 scanning (shortest form, no surrogates, ≤ U+10FFFF).
public enum UTF8Scan {
    public static func scalar(_ b: [UInt8], at i: Int) -> (Unicode.Scalar, Int)? {
        let c0 = b[i]
        if c0 < 0x80 { return (Unicode.Scalar(c0), 1) }
        let len: Int
        let minV: UInt32
        let initial: UInt32
        switch c0 {
        case 0xC2...0xDF:
            len = 2
            minV = 0x80
            initial = UInt32(c0 & 0x1F)
        case 0xE0...0xEF:
            len = 3
            minV = 0x800
            initial = UInt32(c0 & 0x0F)
        case 0xF0...0xF4:
            len = 4
            minV = 0x10000
            initial = UInt32(c0 & 0x07)
        default: return nil
        }
        guard i + len <= b.count else { return nil }
        var v = initial
        for k in 1..<len {
            let c = b[i + k]
            guard c & 0xC0 == 0x80 else { return nil }
            v = v << 6 | UInt32(c & 0x3F)
        }
        guard v >= minV, v <= 0x10FFFF, !(0xD800...0xDFFF).contains(v), let s = Unicode.Scalar(v) else { return nil }
        return (s, len)
    }

    /// Length of the longest prefix of `b` that does not end inside a UTF-8 sequence (for streaming).
    public static func completePrefix(_ b: [UInt8]) -> Int {
        var i = max(0, b.count - 3)
        while i < b.count {
            let c = b[i]
            let need: Int
            switch c {
            case 0xC2...0xDF: need = 2
            case 0xE0...0xEF: need = 3
            case 0xF0...0xF4: need = 4
            default: need = 1
            }
            if need > 1 && i + need > b.count {
                // incomplete only if the bytes so far are valid continuations
                if (i + 1..<b.count).allSatisfy({ b[$0] & 0xC0 == 0x80 }) { return i }
            }
            i += 1
        }
        return b.count
    }
}
