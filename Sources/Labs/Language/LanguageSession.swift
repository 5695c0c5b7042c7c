// The language lab's training session: config + tokenizer + model + data + optimizer + metrics.
// It runs headless (tests, `orrery train`) exactly as it will under the TUI, is deterministic for a
// seed and thread count (batch k depends only on (seed, k)), saves and resumes as one directory,
// and survives non-finite losses by skipping, then rolling back and lowering the learning rate.
import Compute
import Formats
import Foundation
import Models
import NN

/// Which tokenizer a language session trains.
public enum TokenizerKind: String, Codable, CaseIterable, Sendable { case char, bpe }

/// Where a language session's text comes from: a built-in corpus, or a file. Written in config.json as
/// one string ("stories", "dialogue", or the path), as it always was.
public enum CorpusSource: Codable, Equatable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    case stories, dialogue
    case file(String)

    public init(_ s: String) {
        switch s {
        case "stories": self = .stories
        case "dialogue": self = .dialogue
        default: self = .file(s)
        }
    }
    public init(stringLiteral s: String) { self.init(s) }
    public init(from decoder: Decoder) throws { self.init(try decoder.singleValueContainer().decode(String.self)) }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
    public var description: String {
        switch self {
        case .stories: return "stories"
        case .dialogue: return "dialogue"
        case .file(let p): return p
        }
    }
}

/// Learning-rate schedules after warm-up: cosine decay to minLR, or DeepSeek LLM's multi-step
/// (31.6 % of the peak after 80 % of the steps, 10 % after 90 %).
public enum LRScheduleKind: String, Codable, CaseIterable, Sendable {
    case cosine, multistep
}

public struct LMConfig: Codable, Equatable, Sendable {
    public enum ModelKind: String, Codable, Sendable, CaseIterable { case gpt, lstm, gru }
    public var model: ModelKind = .gpt
    /// "stories", "dialogue", or a path to a text file.
    public var corpus: CorpusSource = .stories
    /// Documents generated for a built-in corpus.
    public var corpusDocuments = 4000
    /// Accept binary / non-UTF-8 files (byte-level tokens).
    public var byteLevel = false
    /// "char" or "bpe".
    public var tokenizer: TokenizerKind = .char
    public var bpeVocab = 512
    public var layers = 4, width = 128, heads = 4, context = 128, batch = 32
    public var kvHeads: Int? = nil
    public var steps = 1000, warmup = 50
    public var lr: Float = 3e-3, minLR: Float = 3e-4, weightDecay: Float = 0.1, clip: Float = 1
    /// GPT residual dropout (nil or 0: off; optional so older session files still load).
    public var dropout: Float? = nil
    /// A DeepSeekMoE feed-forward in every GPT block (nil: dense SwiGLU).
    public var moe: MoEConfig? = nil
    /// Simulated FP8 GEMM inputs in the GPT blocks' Linear layers (nil or false: FP32).
    public var fp8: Bool? = nil
    /// Multi-head latent attention in every GPT block (nil: multi-head / grouped-query attention).
    public var mla: MLAConfig? = nil
    /// Multi-token prediction depth D (nil or 0: none) and loss weight λ.
    public var mtpDepth: Int? = nil
    public var mtpWeight: Float? = nil
    /// The learning-rate schedule after warm-up (nil: cosine to minLR).
    public var schedule: LRScheduleKind? = nil
    public var seed: UInt64 = 1
    public var evalEvery = 100, evalBatches = 8, checkpointEvery = 250
    public var valFraction: Float = 0.1
    public init() {}

    /// Ready-made configurations by lab name.
    public static func preset(_ name: String) -> LMConfig? {
        var c = LMConfig()
        switch name {
        case "gpt": break
        case "lstm":
            c.model = .lstm
            c.layers = 2
            c.width = 256
            c.lr = 3e-3
        case "gru":
            c.model = .gru
            c.layers = 2
            c.width = 256
            c.lr = 3e-3
        case "moe":
            // 8 routed experts (top-2) and 1 shared, each expert a third of the dense MLP's hidden
            // width: the same active parameters per token as the dense GPT.
            var m = MoEConfig()
            m.expertHidden =
                GPTConfig(vocabSize: 1, contextLength: 1, layers: 1, heads: 4, width: c.width).mlpHidden / 3
            m.biasUpdate = 0.01
            c.moe = m
        case "fp8":
            c.fp8 = true
        case "mla":
            c.mla = MLAConfig()
        case "mtp":
            c.mtpDepth = 1
            c.mtpWeight = 0.3
        case "chat":
            c.corpus = .dialogue
            c.corpusDocuments = 30000
            c.steps = 3000
            c.warmup = 100
            c.layers = 4
            c.width = 128
            c.heads = 4
            c.context = 128
            c.batch = 32
            c.lr = 3e-3
            c.minLR = 1e-4
        default: return nil
        }
        return c
    }
}

public struct StepMetrics: Codable, Equatable, Sendable {
    public var step: Int
    public var loss: Float
    public var valLoss: Float?
    public var lr: Float
    public var tokensPerSecond: Double
    public var gradNorm: Float
    public var layerGradNorms: [String: Float]
    public var clipped: Bool
    public var skipped: Bool
    /// MoE GPT: each layer's expert loads as multiples of the mean (1 = balanced), and the balance
    /// loss added to the cross-entropy (nil for dense models).
    public var expertLoad: [[Float]]? = nil
    public var balanceLoss: Float? = nil
    /// MTP GPT: each depth's cross-entropy (predicting 2, 3, … tokens ahead).
    public var mtpLosses: [Float]? = nil
}

public enum SessionEvent: Equatable, Sendable {
    case nonFiniteLoss(step: Int)
    case rollback(toStep: Int, lrScale: Float)
    case saved(step: Int)
    /// The newest steps were not finite, so a save went back to the last good state first.
    case restoredForSave(toStep: Int)
}

public enum SessionError: Error, CustomStringConvertible {
    case checkpoint(CheckpointError)
    case corpus(CorpusError)
    case config(String)
    /// Training could not recover from non-finite losses within `LanguageSession.maxRollbacks` rollbacks.
    case diverged(step: Int, rollbacks: Int)
    public var reason: String {
        switch self {
        case .checkpoint(let e): return e.description
        case .corpus(let e): return e.description
        case .config(let why): return why
        case .diverged(let step, let n):
            return "training diverged: the loss was still not finite at step \(step) after \(n) rollbacks (lower --lr)"
        }
    }
    public var description: String {
        switch self {
        case .config(let why): return "invalid configuration: \(why)"
        default: return reason
        }
    }
}

public final class LanguageSession {
    public let config: LMConfig
    public let tokenizer: Tokenizer
    public let model: LanguageModel
    public let optimizer: Adam
    public let trainTokens: [Int], valTokens: [Int]
    let schedule: any LRSchedule
    public internal(set) var step = 0
    /// Multiplies the schedule's learning rate (halved at each rollback).
    public var lrScale: Float { divergence.lrScale }
    public internal(set) var history: [StepMetrics] = []
    public internal(set) var events: [SessionEvent] = []
    public var directory: String?
    /// Steps whose loss is replaced by NaN once (fault injection for tests and demos).
    public var injectNaN: Set<Int> = []
    /// Skips, rollbacks and the last good state (the guard every training session uses).
    public let divergence: DivergenceGuard
    /// Steps skipped for a non-finite loss or gradient, and rollbacks, over the whole run.
    public var skippedSteps: Int { divergence.skippedSteps }
    public var rollbacks: Int { divergence.rollbacks }
    /// Set when the guard's rollbacks did not bring the loss back: the caller stops training.
    public var diverged: Bool { divergence.diverged }

    // MARK: building

    public init(config: LMConfig, directory: String? = nil) throws {
        try LanguageSession.validate(config)
        self.config = config
        self.directory = directory
        let bytes = try LanguageSession.corpusBytes(config)
        let tok: Tokenizer
        switch config.tokenizer {
        case .bpe: tok = try ByteBPE.train(Array(bytes.prefix(4 << 20)), vocabSize: config.bpeVocab)
        case .char:
            tok =
                config.byteLevel
                ? CharTokenizer(chars: []) : CharTokenizer(training: String(decoding: bytes, as: UTF8.self))
        }
        tokenizer = tok
        (trainTokens, valTokens) = LanguageSession.split(tok.encode(bytes), config)
        try LanguageSession.checkLongEnough(trainTokens.count, config)
        try ModelBudget.check(config, vocab: tok.vocabSize, training: true)
        model = LanguageSession.makeModel(config, vocab: tok.vocabSize)
        optimizer = Adam.adamW(
            model.namedParameters(), lr: config.lr, betas: (0.9, 0.95), weightDecay: config.weightDecay)
        schedule = LanguageSession.makeSchedule(config)
        divergence = DivergenceGuard(parameters: model.parameters, optimizer: optimizer)
        divergence.remember(step: 0)
    }

    init(config: LMConfig, tokenizer: Tokenizer, model: LanguageModel, directory: String) throws {
        self.config = config
        self.tokenizer = tokenizer
        self.model = model
        self.directory = directory
        let bytes = try LanguageSession.corpusBytes(config)
        (trainTokens, valTokens) = LanguageSession.split(tokenizer.encode(bytes), config)
        try LanguageSession.checkLongEnough(trainTokens.count, config)
        optimizer = Adam.adamW(
            model.namedParameters(), lr: config.lr, betas: (0.9, 0.95), weightDecay: config.weightDecay)
        schedule = LanguageSession.makeSchedule(config)
        divergence = DivergenceGuard(parameters: model.parameters, optimizer: optimizer)
    }

    static func makeSchedule(_ c: LMConfig) -> any LRSchedule {
        switch c.schedule ?? .cosine {
        case .cosine: return WarmupCosine(peak: c.lr, warmup: c.warmup, total: c.steps, minLR: c.minLR)
        case .multistep: return MultiStepLR(peak: c.lr, warmup: c.warmup, total: c.steps)
        }
    }

    /// A batch window needs context + 1 tokens (inputs and their next-token targets).
    static func checkLongEnough(_ tokens: Int, _ c: LMConfig) throws {
        guard tokens >= c.context + 2 else {
            throw SessionError.config(
                "the corpus gives \(tokens) training tokens; a context of \(c.context) needs at least "
                    + "\(c.context + 2) (lower --context or use a longer corpus)")
        }
    }

    /// Every field of a configuration (from flags or from a session file) within its range.
    public static func validate(_ c: LMConfig) throws {
        func check(_ ok: Bool, _ what: String) throws { if !ok { throw SessionError.config(what) } }
        try check(c.layers >= 1 && c.layers <= 64, "layers must be 1…64, got \(c.layers)")
        try check(c.width >= 4 && c.width <= 4096, "width must be 4…4096, got \(c.width)")
        try check(c.context >= 2 && c.context <= 8192, "context must be 2…8192, got \(c.context)")
        try check(c.batch >= 1 && c.batch <= 4096, "batch must be 1…4096, got \(c.batch)")
        try check(c.steps >= 1 && c.steps <= 100_000_000, "steps must be 1…100000000, got \(c.steps)")
        try check(c.warmup >= 0 && c.warmup <= 100_000_000, "warmup must be 0…100000000, got \(c.warmup)")
        try check(c.lr > 0 && c.lr.isFinite && c.lr <= 1e6, "learning rate must be in (0, 1000000], got \(c.lr)")
        try check(c.minLR >= 0 && c.minLR <= c.lr, "minimum learning rate must be 0…lr (\(c.lr)), got \(c.minLR)")
        try check(c.weightDecay >= 0 && c.weightDecay <= 10, "weight decay must be 0…10, got \(c.weightDecay)")
        try check(c.clip > 0 && c.clip.isFinite, "gradient clip must be a positive number, got \(c.clip)")
        try check(c.valFraction > 0 && c.valFraction <= 0.5, "valFraction must be in (0, 0.5], got \(c.valFraction)")
        try check(c.evalEvery >= 0, "evalEvery must be ≥ 0 (0: never), got \(c.evalEvery)")
        try check(c.evalBatches >= 1 && c.evalBatches <= 1000, "evalBatches must be 1…1000, got \(c.evalBatches)")
        try check(c.checkpointEvery >= 0, "checkpointEvery must be ≥ 0 (0: only at the end), got \(c.checkpointEvery)")
        try check(
            c.corpusDocuments >= 1 && c.corpusDocuments <= 200_000,
            "corpus documents must be 1…200000, got \(c.corpusDocuments)")
        if case .file(let path) = c.corpus { try check(!path.isEmpty, "corpus must name a built-in corpus or a file") }
        if c.model == .gpt {
            let kv = c.kvHeads ?? c.heads
            try check(c.heads >= 1, "heads must be at least 1, got \(c.heads)")
            try check(
                c.heads >= 1 && c.heads <= c.width && c.width % c.heads == 0 && (c.width / c.heads) % 2 == 0,
                "width (\(c.width)) must be a multiple of 2 × heads (\(c.heads))")
            try check(
                kv >= 1 && kv <= c.heads && c.heads % kv == 0,
                "kvHeads must divide heads (\(c.heads)) and be at least 1, got \(kv)")
        }
        try check(c.bpeVocab >= 256 && c.bpeVocab <= 65536, "bpe vocabulary must be 256…65536, got \(c.bpeVocab)")
        try check((c.dropout ?? 0) >= 0 && (c.dropout ?? 0) < 1, "dropout must be in [0, 1)")
        if let m = c.moe {
            try check(c.model == .gpt, "mixture of experts needs a GPT")
            do { try m.validate() } catch { throw SessionError.config("\(error)") }
        }
        try check(c.fp8 != true || c.model == .gpt, "FP8 training needs a GPT")
        if let d = c.mtpDepth, d != 0 {
            try check(c.model == .gpt, "multi-token prediction needs a GPT")
            try check(d >= 1 && d <= 4 && d < c.context, "MTP depth must be 1…4 (and below the context), got \(d)")
            let w = c.mtpWeight ?? 0.3
            try check(w >= 0 && w <= 10, "MTP weight must be 0…10, got \(w)")
        }
        if let m = c.mla {
            try check(c.model == .gpt, "latent attention needs a GPT")
            try check(c.kvHeads == nil || c.kvHeads == c.heads, "latent attention replaces grouped-query attention")
            do { try m.validate(width: c.width, heads: c.heads) } catch { throw SessionError.config("\(error)") }
        }
    }

    static func corpusBytes(_ c: LMConfig) throws -> [UInt8] {
        switch c.corpus {
        case .stories: return Array(StoryCorpus.corpus(stories: c.corpusDocuments, seed: c.seed).utf8)
        case .dialogue: return Array(DialogueWorld.corpus(dialogues: c.corpusDocuments, seed: c.seed).utf8)
        case .file(let path):
            do { return try CorpusLoader.load(path, allowBytes: c.byteLevel) } catch let e as CorpusError {
                throw SessionError.corpus(e)
            }
        }
    }

    static func split(_ tokens: [Int], _ c: LMConfig) -> ([Int], [Int]) {
        let nVal = max(c.context + 2, Int(Float(tokens.count) * c.valFraction))
        if tokens.count < 2 * nVal { return (tokens, tokens) }  // tiny corpus: validate on training text
        return (Array(tokens.prefix(tokens.count - nVal)), Array(tokens.suffix(nVal)))
    }

    public static func makeModel(_ c: LMConfig, vocab: Int) -> LanguageModel {
        switch c.model {
        case .gpt:
            var g = GPTConfig(
                vocabSize: vocab, contextLength: c.context, layers: c.layers, heads: c.heads, kvHeads: c.kvHeads,
                width: c.width)
            g.dropout = c.dropout ?? 0
            g.moe = c.moe
            g.fp8 = c.fp8
            g.mla = c.mla
            g.mtpDepth = c.mtpDepth
            g.mtpWeight = c.mtpWeight
            return GPT(g, seed: c.seed)
        case .lstm:
            return RNNLM(
                RNNConfig(kind: .lstm, vocabSize: vocab, contextLength: c.context, layers: c.layers, width: c.width),
                seed: c.seed)
        case .gru:
            return RNNLM(
                RNNConfig(kind: .gru, vocabSize: vocab, contextLength: c.context, layers: c.layers, width: c.width),
                seed: c.seed)
        }
    }

    // MARK: training

    /// Batch of `batch` windows for step k: inputs and next-token targets, from (seed, k) alone.
    func batch(_ tokens: [Int], index k: Int, salt: UInt64) -> ([Int], [Int]) {
        var rng = RNG(seed: config.seed &* 0x9E37_79B9 &+ UInt64(k) &* 0x1000_0001 &+ salt)
        let T = config.context
        var x: [Int] = []
        var y: [Int] = []
        x.reserveCapacity(config.batch * T)
        y.reserveCapacity(config.batch * T)
        for _ in 0..<config.batch {
            let o = rng.int(below: tokens.count - T)
            x += tokens[o..<(o + T)]
            y += tokens[(o + 1)..<(o + T + 1)]
        }
        return (x, y)
    }

    public var learningRate: Float { schedule.lr(at: step) * lrScale }

    /// One optimisation step (or a skipped one if the loss is not finite).
    @discardableResult
    public func trainStep() -> StepMetrics {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let (x, y) = batch(trainTokens, index: step, salt: 0)
        (model as? GPT)?.seedDropout(config.seed &* 31 &+ UInt64(step))
        model.train(true)
        model.zeroGrad()
        let gpt = model as? GPT
        var loss: Tensor
        var mtpLosses: [Float] = []
        var mtpTotal: Tensor?
        if let g = gpt, !g.mtp.isEmpty {
            // The main loss, then λ/D Σ_k of the MTP depths' losses (reported apart).
            let h = g.hidden(x, batch: config.batch)
            loss = g.head(h.reshape([x.count, g.config.width])).crossEntropy(y)
            let parts = g.mtpLosses(x, targets: y, batch: config.batch, hidden: h)
            mtpLosses = parts.map { $0.item() }
            if !parts.isEmpty {
                let w = (g.config.mtpWeight ?? 0.3) / Float(parts.count)
                mtpTotal = parts.dropFirst().reduce(parts[0], +) * w
            }
        } else {
            loss = model.logits(x, batch: config.batch).crossEntropy(y)
        }
        var value = loss.item()
        if let t = mtpTotal { loss = loss + t }
        if injectNaN.remove(step) != nil { value = .nan }
        var m = StepMetrics(
            step: step, loss: value, valLoss: nil, lr: learningRate, tokensPerSecond: 0, gradNorm: .nan,
            layerGradNorms: [:], clipped: false, skipped: false)
        if !mtpLosses.isEmpty { m.mtpLosses = mtpLosses }
        if let g = gpt, !g.moeLayers.isEmpty {
            m.expertLoad = g.moeLayers.map(\.lastRouting.relativeLoad)
            if let b = g.balanceLoss {
                m.balanceLoss = b.item()
                loss = loss + b
            }
        }
        if value.isFinite {
            loss.backward()
            m.layerGradNorms = layerNorms()
            m.gradNorm = Autograd.clipGradNorm(model.parameters, maxNorm: config.clip)
            m.clipped = m.gradNorm > config.clip
        }
        switch divergence.judge(finite: value.isFinite && m.gradNorm.isFinite) {
        case .stepped:
            optimizer.learningRate = learningRate
            optimizer.step()
            gpt?.updateRouterBiases()
            step += 1
        case .skipped, .diverged:
            m.skipped = true
            events.append(.nonFiniteLoss(step: step))
            step += 1
        case .rolledBack(let to, let scale):
            m.skipped = true
            events.append(.nonFiniteLoss(step: step))
            step = to
            events.append(.rollback(toStep: to, lrScale: scale))
        }
        m.tokensPerSecond =
            Double(config.batch * config.context) / (Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        // Validation is not part of a training step: a step profile leaves it out.
        if config.evalEvery > 0 && (step % config.evalEvery == 0 || step == config.steps) {
            m.valLoss = Profiler.suspended { evaluate() }
        }
        history.append(m)
        // The rollback target: a sound state (finite validation loss too), every checkpoint or 100 steps.
        let every = config.checkpointEvery > 0 ? config.checkpointEvery : 100
        if !m.skipped && step % every == 0 && (m.valLoss ?? Profiler.suspended { evaluate() }).isFinite {
            divergence.remember(step: step)
        }
        return m
    }

    func layerNorms() -> [String: Float] {
        var sums: [String: Double] = [:]
        for (name, p) in model.namedParameters() {
            guard let g = p.grad else { continue }
            let parts = name.split(separator: ".")
            let key = parts.count > 2 && Int(parts[1]) != nil ? "\(parts[0]).\(parts[1])" : String(parts[0])
            sums[key, default: 0] += Double(Kernels.sumSquares(g))
        }
        return sums.mapValues { Float($0.squareRoot()) }
    }

    /// Mean validation loss over `evalBatches` fixed batches.
    public func evaluate() -> Float {
        model.train(false)
        defer { model.train(true) }
        return noGrad {
            var total: Float = 0
            for k in 0..<config.evalBatches {
                let (x, y) = batch(valTokens, index: k, salt: 0xE7A1)
                total += model.logits(x, batch: config.batch).crossEntropy(y).item()
            }
            return total / Float(max(1, config.evalBatches))
        }
    }

    /// Whether the newest step was a good one (a save of a state after non-finite steps would keep
    /// weights that no longer give finite outputs).
    public var isInGoodState: Bool { divergence.isInGoodState }

    /// Whether the current state is worth saving: its newest step was finite and the model still gives
    /// a finite validation loss (weights can grow huge yet finite and overflow only later).
    public func isSound() -> Bool { isInGoodState && evaluate().isFinite }

    /// Goes back to the last good state (without changing the learning rate) so that a save keeps a
    /// model that works. Returns false when there is no such state.
    @discardableResult
    public func restoreLastGood() -> Bool {
        guard let to = divergence.restore() else { return false }
        step = to
        events.append(.restoredForSave(toStep: to))
        return true
    }

    // MARK: seeing inside

    /// Attention probabilities of a fixed probe sequence (the first `length` validation tokens) for
    /// every layer and head — [layer][head][query][key] — and the probe's tokens as text.
    /// nil for models without attention (LSTM, GRU).
    public func attentionProbe(length: Int = 24) -> (tokens: [String], maps: [[[[Float]]]])? {
        guard let gpt = model as? GPT else { return nil }
        let ids = Array(valTokens.prefix(min(length, gpt.config.contextLength)))
        let n = ids.count
        let maps = (0..<gpt.config.layers).map { l in
            (0..<gpt.config.heads).map { h -> [[Float]] in
                let a = gpt.attentionProbabilities(ids, layer: l, head: h).toArray()
                return (0..<n).map { Array(a[($0 * n)..<($0 * n + n)]) }
            }
        }
        return (ids.map { tokenizer.decodeString([$0]).replacingOccurrences(of: "\n", with: "⏎") }, maps)
    }

    /// A sample from the current model, starting with the corpus's natural opening.
    public func sampleText(maxTokens: Int = 160, temperature: Float = 0.8) -> String {
        var o = SamplingOptions()
        o.maxTokens = maxTokens
        o.seed = UInt64(step)
        o.temperature = temperature
        let prompt: String
        switch config.corpus {
        case .dialogue: prompt = "User: "
        case .stories: prompt = "Once"
        case .file: prompt = ""
        }
        return prompt + generator(prompt: prompt, options: o).run()
    }

    // MARK: generation

    public func generator(prompt: String, options: SamplingOptions) -> TextGenerator {
        TextGenerator(model: model, tokenizer: tokenizer, prompt: tokenizer.encode(prompt), options: options)
    }
}
