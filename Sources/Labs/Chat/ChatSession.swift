// One chat policy for every front end (the TUI's chat lab, `orrery chat`, the tests): the prompt
// template, how history is fitted into the context (oldest turns dropped first, and forgotten for
// good so a long conversation costs no more than a short one), the room kept for the answer, the
// answer's length limit and its stop rule.
import Foundation
import Models

public struct ChatPolicy: Sendable {
    public var format = ChatFormat()
    /// Longest answer in tokens.
    public var maxTokens = 120
    /// Answers end at a newline (one turn per line in the dialogue corpus).
    public var stop = ["\n"]
    /// Sampling: greedy by default (the shipped model's answers are then reproducible).
    public var temperature: Float = 0
    public var topK = 0, topP: Float = 1, minP: Float = 0, repetitionPenalty: Float = 1
    public var seed: UInt64 = 0
    /// Keep earlier turns in the prompt.
    public var rememberHistory = true
    public init() {}

    /// Tokens kept free for the answer.
    public func reserve(context: Int) -> Int { min(maxTokens, context / 2) }
}

public enum ChatError: Error, CustomStringConvertible, Equatable {
    case generationFailed(String)
    public var description: String {
        switch self {
        case .generationFailed(let why): return why
        }
    }
}

public final class ChatSession {
    public let model: AutoregressiveModel
    public let tokenizer: Tokenizer
    /// A real checkpoint (GGUF): its chat template renders the prompt, its end tokens stop answers.
    public let pretrained: PretrainedModel?
    public var policy: ChatPolicy
    public private(set) var turns: [(user: String, assistant: String)] = []
    /// Questions answered so far (each answer samples with its own seed).
    public private(set) var answered = 0
    /// A short description of the model ("gpt 4×128").
    public let modelName: String

    public init(model: LanguageModel, tokenizer: Tokenizer, modelName: String, policy: ChatPolicy = ChatPolicy()) {
        self.model = model
        self.tokenizer = tokenizer
        self.modelName = modelName
        self.policy = policy
        pretrained = nil
    }

    /// A chat with a real checkpoint: its template, no stop strings (its end tokens stop answers),
    /// longer answers than the tiny model's.
    public init(pretrained m: PretrainedModel, policy: ChatPolicy? = nil) {
        model = m.model
        tokenizer = m.tokenizer
        pretrained = m
        let c = m.model.config
        modelName = "\(m.name) (\(c.architecture) \(c.layers)×\(c.width))"
        var p = policy ?? ChatPolicy()
        if policy == nil {
            p.stop = []
            p.maxTokens = 256
        }
        self.policy = p
    }

    /// Loads a saved session directory (or the shipped model) for chatting.
    public convenience init(directory: String, policy: ChatPolicy = ChatPolicy()) throws {
        let (config, tok, model, _) = try LanguageSessionDirectory.loadModel(directory)
        self.init(
            model: model, tokenizer: tok, modelName: "\(config.model.rawValue) \(config.layers)×\(config.width)",
            policy: policy)
    }

    /// Answers `user`, streaming each printable piece to `onPiece` together with the generator (whose
    /// attention and tokens a UI may show). The turn joins the history.
    @discardableResult
    public func reply(to user: String, onPiece: (String, TextGenerator) -> Void = { _, _ in }) throws -> String {
        let history = policy.rememberHistory ? turns : []
        let (prompt, kept) =
            pretrained.map { fitTemplate($0, history: history, user: user) }
            ?? policy.format.fit(
                history: history, user: user, tokenizer: tokenizer,
                context: model.contextLength, reserve: policy.reserve(context: model.contextLength))
        if policy.rememberHistory { turns = Array(turns.suffix(kept)) }
        var o = SamplingOptions()
        o.temperature = policy.temperature
        o.topK = policy.topK
        o.topP = policy.topP
        o.minP = policy.minP
        o.repetitionPenalty = policy.repetitionPenalty
        o.maxTokens = policy.maxTokens
        o.stop = policy.stop
        o.seed = policy.seed &+ UInt64(answered)
        let gen = TextGenerator(
            model: model, tokenizer: tokenizer, prompt: prompt, options: o,
            stopTokens: pretrained?.tokenizer.endTokens ?? [])
        var answer = ""
        while let piece = gen.next() {
            answer += piece
            onPiece(piece, gen)
        }
        if let why = gen.failure { throw ChatError.generationFailed(why) }
        turns.append((user, answer))
        answered += 1
        return answer
    }

    /// The template's prompt with as many of the latest turns as fit (oldest dropped first; a
    /// question alone too long for the context keeps its end).
    func fitTemplate(_ m: PretrainedModel, history: [(user: String, assistant: String)], user: String)
        -> (tokens: [Int], keptTurns: Int)
    {
        let budget = max(1, model.contextLength - policy.reserve(context: model.contextLength))
        func messages(_ turns: ArraySlice<(user: String, assistant: String)>) -> [ChatMessage] {
            turns.flatMap { [ChatMessage(.user, $0.user), ChatMessage(.assistant, $0.assistant)] }
                + [ChatMessage(.user, user)]
        }
        var best = m.chatPrompt(messages([]))
        if best.count > budget { return (Array(best.suffix(budget)), 0) }
        var kept = 0
        while kept < history.count {
            let t = m.chatPrompt(messages(history.suffix(kept + 1)))
            if t.count > budget { break }
            best = t
            kept += 1
        }
        return (best, kept)
    }
}
