// Tokenizers of real checkpoints, built from the vocabulary a GGUF file carries:
//  - `gpt2`: byte-level BPE (GPT-2, SmolLM, Qwen): text is split by a pre-tokenizer pattern, each piece's
//    bytes are mapped to printable characters (GPT-2's byte↔unicode table) and merged by rank.
//  - `llama`: SentencePiece-style BPE over the pieces' scores ("▁" for spaces, a leading space added),
//    with <0xNN> byte tokens for anything the vocabulary lacks.
// Special tokens (control and user-defined, e.g. <|im_start|>) are matched as whole strings before
// pre-tokenization when `special` is true, as llama.cpp does for chat prompts.
import Foundation

public enum PretrainedTokenizerError: Error, Equatable, CustomStringConvertible {
    case unsupportedModel(String)
    case malformedToken(index: Int, text: String)
    case inconsistent(String)

    public var description: String {
        switch self {
        case .unsupportedModel(let m):
            return "tokenizer model \(m.debugDescription) is not supported (gpt2 and llama are)"
        case .malformedToken(let i, let t): return "token \(i) (\(t.debugDescription)) is malformed"
        case .inconsistent(let s): return "tokenizer metadata is inconsistent: \(s)"
        }
    }
}

public final class PretrainedTokenizer: Tokenizer {
    public enum Kind: String, Sendable { case gpt2, llama }
    /// How text is split before BPE (llama.cpp's pre-tokenizer names).
    public enum PreTokenizer: String, Sendable {
        /// GPT-2's pattern.
        case gpt2
        /// Every digit its own piece, then GPT-2's pattern (SmolLM, StarCoder).
        case digitsThenGPT2
        /// Qwen2/Llama-3 style: case-insensitive contractions, digits in runs of 1–3, letters may take
        /// one leading non-letter.
        case qwen2
    }
    public enum TokenType: Int, Sendable {
        case normal = 1
        case unknown = 2
        case control = 3
        case userDefined = 4
        case unused = 5
        case byte = 6
    }

    public let kind: Kind
    public let pre: PreTokenizer
    public let pieces: [String]
    public let types: [TokenType]
    public let scores: [Float]
    let index: [String: Int]
    let mergeRanks: [String: Int]
    public let bos: Int?
    public let eos: Int?
    public let addBOS: Bool
    /// SentencePiece's leading space before the first piece (`tokenizer.ggml.add_space_prefix`).
    public let addSpacePrefix: Bool
    /// Tokens whose text ends generation besides EOS (e.g. <|im_end|>, <|eot_id|>).
    public let endTokens: Set<Int>
    /// Special tokens longest first, for splitting.
    let specials: [(text: [UInt8], id: Int)]
    /// SentencePiece byte tokens <0xNN> → id.
    let byteTokens: [Int]
    /// Decoded bytes of every token.
    let tokenBytes: [[UInt8]]
    var cache: [String: [Int]] = [:]

    public var vocabSize: Int { pieces.count }
    public var generatableTokens: Range<Int>? { nil }

    public init(
        kind: Kind, pre: PreTokenizer, pieces: [String], types: [Int]?, scores: [Float]?, merges: [String]?,
        bos: Int?, eos: Int?, addBOS: Bool, addSpacePrefix: Bool = true
    ) throws {
        self.kind = kind
        self.addSpacePrefix = addSpacePrefix
        self.pre = pre
        self.pieces = pieces
        let n = pieces.count
        guard n > 0 else { throw PretrainedTokenizerError.inconsistent("the vocabulary is empty") }
        if let t = types, t.count != n {
            throw PretrainedTokenizerError.inconsistent("\(t.count) token types for \(n) tokens")
        }
        if let s = scores, s.count != n {
            throw PretrainedTokenizerError.inconsistent("\(s.count) scores for \(n) tokens")
        }
        self.types = (types ?? Array(repeating: 1, count: n)).map { TokenType(rawValue: $0) ?? .normal }
        self.scores = scores ?? Array(repeating: 0, count: n)
        for (name, id) in [("bos", bos), ("eos", eos)] {
            if let i = id, i < 0 || i >= n {
                throw PretrainedTokenizerError.inconsistent("\(name) token \(i) outside the \(n)-token vocabulary")
            }
        }
        self.bos = bos
        self.eos = eos
        self.addBOS = addBOS
        var index: [String: Int] = [:]
        index.reserveCapacity(n)
        for (i, p) in pieces.enumerated() where index[p] == nil { index[p] = i }
        self.index = index
        var ranks: [String: Int] = [:]
        if let m = merges {
            ranks.reserveCapacity(m.count)
            for (i, s) in m.enumerated() where ranks[s] == nil { ranks[s] = i }
        }
        mergeRanks = ranks
        if kind == .gpt2 && merges == nil {
            throw PretrainedTokenizerError.inconsistent("gpt2 tokenizer without merges")
        }

        // Bytes of each token.
        var bytes: [[UInt8]] = []
        bytes.reserveCapacity(n)
        var byteTokens = [Int](repeating: -1, count: 256)
        let unmap = PretrainedTokenizer.unicodeToByte
        for (i, p) in pieces.enumerated() {
            let t = self.types[i]
            switch kind {
            case .gpt2:
                if t == .control || t == .userDefined {
                    bytes.append(Array(p.utf8))
                } else {
                    var b: [UInt8] = []
                    for s in p.unicodeScalars {
                        if let v = unmap[s] { b.append(v) } else { b += Array(String(s).utf8) }
                    }
                    bytes.append(b)
                }
            case .llama:
                if t == .byte {
                    let u = Array(p.utf8)
                    guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E,
                        let v = UInt8(String(decoding: u[3..<5], as: UTF8.self), radix: 16)
                    else { throw PretrainedTokenizerError.malformedToken(index: i, text: p) }
                    byteTokens[Int(v)] = i
                    bytes.append([v])
                } else if t == .control || t == .unknown {
                    bytes.append([])
                } else {
                    bytes.append(Array(p.replacingOccurrences(of: "\u{2581}", with: " ").utf8))
                }
            }
        }
        tokenBytes = bytes
        self.byteTokens = byteTokens
        let typeList = self.types
        specials = pieces.enumerated()
            .filter { typeList[$0.offset] == .control || typeList[$0.offset] == .userDefined }
            .filter { !$0.element.isEmpty }
            .map { (Array($0.element.utf8), $0.offset) }
            .sorted { $0.text.count > $1.text.count }
        var ends = Set<Int>()
        if let e = eos { ends.insert(e) }
        for s in ["<|im_end|>", "<|eot_id|>", "<|endoftext|>", "<end_of_turn>", "</s>"] {
            if let i = index[s], typeList[i] == .control || typeList[i] == .userDefined { ends.insert(i) }
        }
        endTokens = ends
    }

    public func id(of piece: String) -> Int? { index[piece] }

    // MARK: encoding

    public func encode(_ bytes: [UInt8]) -> [Int] { encode(bytes, special: false) }

    /// Token ids of `bytes`; with `special`, control and user-defined token strings become their ids.
    public func encode(_ bytes: [UInt8], special: Bool, addBOS: Bool = false) -> [Int] {
        var out: [Int] = []
        if addBOS, let b = bos { out.append(b) }
        var start = 0
        var i = 0
        func flushText(_ end: Int) {
            if end > start {
                out += encodeText(Array(bytes[start..<end]), first: out.isEmpty || (addBOS && out.count == 1))
            }
        }
        if special && !specials.isEmpty {
            while i < bytes.count {
                var matched: (Int, Int)?
                for s in specials where s.text.count <= bytes.count - i && s.text[0] == bytes[i] {
                    if bytes[i..<(i + s.text.count)].elementsEqual(s.text) {
                        matched = (s.id, s.text.count)
                        break
                    }
                }
                if let (id, len) = matched {
                    flushText(i)
                    out.append(id)
                    i += len
                    start = i
                } else {
                    i += 1
                }
            }
        }
        flushText(bytes.count)
        return out
    }

    func encodeText(_ bytes: [UInt8], first: Bool) -> [Int] {
        switch kind {
        case .gpt2:
            let text = String(decoding: bytes, as: UTF8.self)
            var out: [Int] = []
            for piece in PretrainedTokenizer.preTokenize(text, pre) { out += bpeGPT2(piece) }
            return out
        case .llama:
            var text = String(decoding: bytes, as: UTF8.self)
            if first && addSpacePrefix { text = " " + text }
            return bpeSentencePiece(text.replacingOccurrences(of: " ", with: "\u{2581}"))
        }
    }

    /// GPT-2's byte-level BPE on one pre-tokenized piece.
    func bpeGPT2(_ piece: String) -> [Int] {
        if let c = cache[piece] { return c }
        let map = PretrainedTokenizer.byteToUnicode
        var symbols = piece.utf8.map { String(map[Int($0)]) }
        mergeLoop(&symbols) { a, b in mergeRanks[a + " " + b] }
        var ids: [Int] = []
        for s in symbols {
            if let i = index[s] {
                ids.append(i)
            } else {  // a symbol the vocabulary lacks: its characters one by one
                for ch in s.unicodeScalars { if let i = index[String(ch)] { ids.append(i) } }
            }
        }
        if cache.count < 50_000 { cache[piece] = ids }
        return ids
    }

    /// SentencePiece BPE: merge the adjacent pair whose merged piece is in the vocabulary with the
    /// highest score; characters missing from the vocabulary fall back to byte tokens.
    func bpeSentencePiece(_ text: String) -> [Int] {
        var symbols = text.unicodeScalars.map { String($0) }
        mergeLoop(&symbols) { a, b in
            guard let i = index[a + b] else { return nil }
            // Higher score first: rank by negated score (scaled to keep order).
            return Int((-scores[i] * 1_000_000).rounded(.down).clamped(to: -4e18...4e18))
        }
        var ids: [Int] = []
        for s in symbols {
            if let i = index[s] {
                ids.append(i)
            } else {
                for b in s.utf8 where byteTokens[Int(b)] >= 0 { ids.append(byteTokens[Int(b)]) }
            }
        }
        return ids
    }

    /// Repeatedly merges the adjacent pair of lowest rank (leftmost on ties), in O(n log n): symbols
    /// form a linked list, candidate pairs sit in a heap, and a popped pair whose symbols changed since
    /// it was pushed is skipped. (Rescanning all pairs after each merge took 53 s for a 40,000-letter
    /// word.)
    func mergeLoop(_ symbols: inout [String], rank: (String, String) -> Int?) {
        let n = symbols.count
        guard n >= 2 else { return }
        var next = Array(1...n)
        next[n - 1] = -1
        var prev = Array(-1..<(n - 1))
        var version = [Int](repeating: 0, count: n)
        var alive = [Bool](repeating: true, count: n)
        var heap = PairHeap()
        func push(_ i: Int, _ j: Int) {
            if let r = rank(symbols[i], symbols[j]) { heap.push((r, i, version[i], j, version[j])) }
        }
        for i in 0..<(n - 1) { push(i, i + 1) }
        while let (_, i, vi, j, vj) = heap.pop() {
            guard alive[i], alive[j], next[i] == j, version[i] == vi, version[j] == vj else { continue }
            symbols[i] += symbols[j]
            version[i] += 1
            alive[j] = false
            next[i] = next[j]
            if next[j] >= 0 { prev[next[j]] = i }
            if prev[i] >= 0 { push(prev[i], i) }
            if next[i] >= 0 { push(i, next[i]) }
        }
        var out: [String] = []
        var k = 0
        while k >= 0 {
            out.append(symbols[k])
            k = next[k]
        }
        symbols = out
    }

    // MARK: decoding

    public func decode(_ tokens: [Int]) -> [UInt8] { decode(tokens, special: false) }

    /// Bytes of tokens; control tokens are left out unless `special`.
    public func decode(_ tokens: [Int], special: Bool) -> [UInt8] {
        var out: [UInt8] = []
        for t in tokens where t >= 0 && t < tokenBytes.count {
            if types[t] == .control && !special { continue }
            if special && types[t] == .control { out += Array(pieces[t].utf8) } else { out += tokenBytes[t] }
        }
        return out
    }

    public func json() -> [String: Any] { ["type": "pretrained-\(kind.rawValue)", "vocab": pieces.count] }

    // MARK: GPT-2's byte ↔ unicode table

    /// Printable bytes map to themselves; the others to U+0100 onwards, in order.
    public static let byteToUnicode: [Character] = {
        var table = [Character](repeating: " ", count: 256)
        var n = 0
        for b in 0..<256 {
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            if printable {
                table[b] = Character(Unicode.Scalar(UInt8(b)))
            } else {
                table[b] = Character(Unicode.Scalar(UInt32(256 + n))!)
                n += 1
            }
        }
        return table
    }()

    static let unicodeToByte: [Unicode.Scalar: UInt8] = {
        var m: [Unicode.Scalar: UInt8] = [:]
        for (b, c) in byteToUnicode.enumerated() { m[c.unicodeScalars.first!] = UInt8(b) }
        return m
    }()

    // MARK: pre-tokenization

    static func isLetter(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    static func isNumber(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    static func isSpace(_ s: Unicode.Scalar) -> Bool { s.properties.isWhitespace }

    /// Splits text as the pre-tokenizer's patterns do.
    public static func preTokenize(_ text: String, _ pre: PreTokenizer) -> [String] {
        let scalars = Array(text.unicodeScalars)
        var ranges: [Range<Int>] = []
        switch pre {
        case .gpt2:
            ranges = gpt2Split(scalars, 0..<scalars.count, qwen: false)
        case .qwen2:
            ranges = gpt2Split(scalars, 0..<scalars.count, qwen: true)
        case .digitsThenGPT2:
            // First every number character alone, then GPT-2's pattern on the stretches between.
            var start = 0
            for i in 0..<scalars.count where isNumber(scalars[i]) {
                if i > start { ranges += gpt2Split(scalars, start..<i, qwen: false) }
                ranges.append(i..<(i + 1))
                start = i + 1
            }
            if start < scalars.count { ranges += gpt2Split(scalars, start..<scalars.count, qwen: false) }
        }
        return ranges.map { r in
            var s = String.UnicodeScalarView()
            s.append(contentsOf: scalars[r])
            return String(s)
        }
    }

    /// GPT-2's `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` over a range
    /// (with `qwen`: contractions case-insensitive, `[^\r\n\p{L}\p{N}]?\p{L}+`, `\p{N}{1,3}`, and
    /// ` ?[^\s\p{L}\p{N}]+[\r\n]*`, `\s*[\r\n]+` as Qwen2's pattern has them).
    static func gpt2Split(_ s: [Unicode.Scalar], _ range: Range<Int>, qwen: Bool) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var i = range.lowerBound
        let end = range.upperBound
        func lower(_ c: Unicode.Scalar) -> Unicode.Scalar {
            qwen && c.value >= 65 && c.value <= 90 ? Unicode.Scalar(c.value + 32)! : c
        }
        while i < end {
            let c = s[i]
            // Contractions.
            if c == "'" && i + 1 < end {
                let a = lower(s[i + 1])
                if a == "s" || a == "t" || a == "m" || a == "d" {
                    out.append(i..<(i + 2))
                    i += 2
                    continue
                }
                if i + 2 < end {
                    let b = lower(s[i + 2])
                    if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") {
                        out.append(i..<(i + 3))
                        i += 3
                        continue
                    }
                }
            }
            if qwen {
                // [^\r\n\p{L}\p{N}]?\p{L}+
                let lead = !isLetter(c) && !isNumber(c) && c != "\r" && c != "\n" ? 1 : 0
                if i + lead < end && isLetter(s[i + lead]) {
                    var j = i + lead
                    while j < end && isLetter(s[j]) { j += 1 }
                    out.append(i..<j)
                    i = j
                    continue
                }
                if isNumber(c) {  // \p{N}{1,3}
                    var j = i
                    while j < end && j < i + 3 && isNumber(s[j]) { j += 1 }
                    out.append(i..<j)
                    i = j
                    continue
                }
            } else {
                let sp = c == " " ? 1 : 0
                if i + sp < end {
                    let d = s[i + sp]
                    if isLetter(d) || isNumber(d) {
                        let letters = isLetter(d)
                        var j = i + sp
                        while j < end && (letters ? isLetter(s[j]) : isNumber(s[j])) { j += 1 }
                        out.append(i..<j)
                        i = j
                        continue
                    }
                }
            }
            // ` ?[^\s\p{L}\p{N}]+` (Qwen: followed by [\r\n]*)
            let sp = c == " " ? 1 : 0
            if i + sp < end {
                let d = s[i + sp]
                if !isSpace(d) && !isLetter(d) && !isNumber(d) {
                    var j = i + sp
                    while j < end && !isSpace(s[j]) && !isLetter(s[j]) && !isNumber(s[j]) { j += 1 }
                    if qwen { while j < end && (s[j] == "\r" || s[j] == "\n") { j += 1 } }
                    out.append(i..<j)
                    i = j
                    continue
                }
            }
            // Whitespace.
            var j = i
            while j < end && isSpace(s[j]) { j += 1 }
            if j > i {
                if qwen {  // \s*[\r\n]+ : up to the last newline of the run
                    var lastNL = -1
                    for k in i..<j where s[k] == "\r" || s[k] == "\n" { lastNL = k }
                    if lastNL >= 0 {
                        var e = lastNL + 1
                        while e < j && (s[e] == "\r" || s[e] == "\n") { e += 1 }
                        out.append(i..<e)
                        i = e
                        continue
                    }
                }
                if j == end || j - i == 1 {
                    out.append(i..<j)
                    i = j
                } else {  // \s+(?!\S): leave the last space to the next piece
                    out.append(i..<(j - 1))
                    i = j - 1
                }
                continue
            }
            out.append(i..<(i + 1))  // unreachable in practice: one scalar alone
            i += 1
        }
        return out
    }
}

extension Comparable {
    fileprivate func clamped(to r: ClosedRange<Self>) -> Self { min(max(self, r.lowerBound), r.upperBound) }
}

/// A binary min-heap of merge candidates ordered by (rank, left position).
struct PairHeap {
    var items: [(rank: Int, i: Int, vi: Int, j: Int, vj: Int)] = []

    static func less(_ a: (Int, Int, Int, Int, Int), _ b: (Int, Int, Int, Int, Int)) -> Bool {
        a.0 != b.0 ? a.0 < b.0 : a.1 < b.1
    }

    mutating func push(_ x: (Int, Int, Int, Int, Int)) {
        items.append(x)
        var c = items.count - 1
        while c > 0 {
            let p = (c - 1) / 2
            guard PairHeap.less(items[c], items[p]) else { break }
            items.swapAt(c, p)
            c = p
        }
    }

    mutating func pop() -> (Int, Int, Int, Int, Int)? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var p = 0
            while true {
                let l = 2 * p + 1
                let r = l + 1
                var m = p
                if l < items.count && PairHeap.less(items[l], items[m]) { m = l }
                if r < items.count && PairHeap.less(items[r], items[m]) { m = r }
                if m == p { break }
                items.swapAt(p, m)
                p = m
            }
        }
        return top
    }
}
