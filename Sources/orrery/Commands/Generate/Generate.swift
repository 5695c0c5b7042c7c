import ArgumentParser
import Compute
import Foundation
import Labs
import Models

struct SamplingFlags: ParsableArguments {
    @Option(help: "Sampling temperature (0: greedy).") var temperature: Float?
    @Option(help: "Keep only the k most likely tokens (0: off).") var topK = 0
    @Option(help: "Nucleus sampling: keep the smallest set with this probability (1: off).") var topP: Float = 1
    @Option(help: "Min-p: keep tokens at least this fraction as likely as the most likely (0: off).") var minP: Float =
        0
    @Option(help: "Repetition penalty (1: off).") var repetitionPenalty: Float = 1
    @Option(help: "Random seed for sampling.") var seed: UInt64 = 0

    func validate() throws {
        if let t = temperature, !(t >= 0 && t <= 10) { throw ValidationError("--temperature must be 0…10, got \(t)") }
        guard topK >= 0 else { throw ValidationError("--top-k must be ≥ 0, got \(topK)") }
        guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1], got \(topP)") }
        guard minP >= 0 && minP <= 1 else { throw ValidationError("--min-p must be in [0, 1], got \(minP)") }
        guard repetitionPenalty > 0 && repetitionPenalty.isFinite && repetitionPenalty <= 100 else {
            throw ValidationError("--repetition-penalty must be in (0, 100], got \(repetitionPenalty)")
        }
    }

    func options(maxTokens: Int, defaultTemperature: Float) -> SamplingOptions {
        var o = SamplingOptions()
        o.temperature = temperature ?? defaultTemperature
        o.topK = topK
        o.topP = topP
        o.minP = minP
        o.repetitionPenalty = repetitionPenalty
        o.seed = seed
        o.maxTokens = maxTokens
        return o
    }
}

/// The model of a session directory, or (no directory given) the chat model shipped in the binary.
func loadCheckpoint(_ dir: String?) throws -> (LMConfig, Tokenizer, LanguageModel) {
    let source = dir.map { ModelSource.directory($0) } ?? .defaultChat
    do { return try source.load() } catch let e as CheckpointError { throw CLIError(e.description) } catch {
        throw CLIError("\(error)")
    }
}

/// `orrery sample`: text (the default), or images from the image lab's generators.
struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sample from a model: text (default), or images (sample gan, sample vqgan).",
        subcommands: [SampleText.self, SampleGAN.self, SampleVQGAN.self], defaultSubcommand: SampleText.self)
}

struct SampleText: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "text", abstract: "Generate text from a trained language model, streaming tokens.")
    @OptionGroup var common: CommonOptions
    @Option(help: "Session directory (default: the chat model shipped in the binary).") var checkpoint: String?
    @Option(help: "Text to continue.") var prompt = ""
    @Option(help: "Tokens to generate.") var maxTokens = 200
    @Option(help: "Stop when this text is generated (repeatable).") var stop: [String] = []
    @OptionGroup var sampling: SamplingFlags
    @Flag(
        help: ArgumentHelp(
            "Greedy, self-speculative with the model's MTP module (train mtp): plain greedy runs too, the texts "
                + "are compared, and acceptance and speed-up are printed."))
    var speculative = false
    @Flag(help: "JSON lines: one token event per piece, then done.") var json = false

    func validate() throws {
        if speculative && (sampling.temperature ?? 0) != 0 {
            throw ValidationError("--speculative decodes greedily; drop --temperature")
        }
        guard maxTokens >= 1 && maxTokens <= 100_000 else {
            throw ValidationError("--max-tokens must be 1…100000, got \(maxTokens)")
        }
        guard stop.allSatisfy({ !$0.isEmpty }) else { throw ValidationError("--stop needs a non-empty string") }
        guard prompt.utf8.count <= 1 << 20 else { throw ValidationError("--prompt is longer than 1 MiB") }
    }

    func run() throws {
        try common.apply()
        let (_, tok, model) = try loadCheckpoint(checkpoint)
        if speculative { return try runSpeculative(tok, model) }
        var o = sampling.options(maxTokens: maxTokens, defaultTemperature: 0.8)
        o.stop = stop
        let gen = TextGenerator(model: model, tokenizer: tok, prompt: tok.encode(prompt), options: o)
        let start = Date()
        if !json {
            print(prompt, terminator: "")
            fflush(standardOut)
        }
        var text = ""
        while let piece = gen.next() {
            text += piece
            if json {
                if !piece.isEmpty { print(JSONLine.encode(["type": "token", "text": piece])) }
            } else {
                print(piece, terminator: "")
                fflush(standardOut)
            }
            try StandardOutput.check()
        }
        if let why = gen.failure {
            if !json { print() }
            throw CLIError(why)
        }
        let secs = Date().timeIntervalSince(start)
        if json {
            print(
                JSONLine.encode([
                    "type": "done", "text": text, "tokens": gen.produced,
                    "tokens_per_s": Double(gen.produced) / max(secs, 1e-9),
                ]))
        } else {
            print()
        }
    }
}

extension SampleText {
    /// Plain greedy and self-speculative greedy decoding of the same prompt, side by side.
    func runSpeculative(_ tok: Tokenizer, _ model: LanguageModel) throws {
        guard let gpt = model as? GPT, !gpt.mtp.isEmpty else {
            throw CLIError("--speculative needs a GPT trained with multi-token prediction ('orrery train mtp')")
        }
        guard gpt.config.mla == nil else { throw CLIError("--speculative does not draft through latent attention yet") }
        let ids = tok.encode(prompt.isEmpty ? "\n" : prompt)
        guard ids.count < gpt.config.contextLength else {
            throw CLIError("the prompt is \(ids.count) tokens; the context holds \(gpt.config.contextLength)")
        }
        gpt.train(false)
        _ = SpeculativeDecoding.greedy(gpt, prompt: ids, maxTokens: 8)  // warm-up
        let plain = SpeculativeDecoding.greedy(gpt, prompt: ids, maxTokens: maxTokens)
        let fast = SpeculativeDecoding.selfSpeculative(gpt, prompt: ids, maxTokens: maxTokens)
        guard fast.tokens == plain.tokens else {
            throw CLIError("self-speculative decoding differs from greedy decoding (a bug: please report it)")
        }
        let text = tok.decodeString(fast.tokens)
        let speedup = plain.seconds / max(fast.seconds, 1e-9)
        if json {
            print(
                JSONLine.encode([
                    "type": "done", "text": text, "tokens": fast.tokens.count, "drafted": fast.drafted,
                    "accepted": fast.accepted, "acceptance": fast.acceptanceRate, "passes": fast.passes,
                    "greedy_passes": plain.passes, "tokens_per_s": Double(fast.tokens.count) / max(fast.seconds, 1e-9),
                    "greedy_tokens_per_s": Double(plain.tokens.count) / max(plain.seconds, 1e-9), "speedup": speedup,
                    "identical": true,
                ]))
            return
        }
        print(prompt + TerminalText.safe(text))
        print(
            String(
                format:
                    "self-speculative: %d tokens, %d of %d drafts accepted (%.0f %%), %d main passes instead of %d; "
                    + "%.0f tokens/s vs %.0f greedy (%.2f×); the text equals greedy decoding's",
                fast.tokens.count, fast.accepted, fast.drafted, fast.acceptanceRate * 100, fast.passes, plain.passes,
                Double(fast.tokens.count) / max(fast.seconds, 1e-9),
                Double(plain.tokens.count) / max(plain.seconds, 1e-9),
                speedup))
    }
}

struct Chat: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Chat with a language model (default: the shipped tiny chat model).",
        discussion: "When stdin is not a terminal, each input line is one user turn and each output line one answer.")
    @OptionGroup var common: CommonOptions
    @Option(help: "Session directory (default: the chat model shipped in the binary).") var checkpoint: String?
    @Option(help: "A GGUF model file (a real checkpoint: llama, qwen2) instead of a session.") var model: String?
    @Option(help: "With --model: chat template chatml, llama2 or zephyr (default: from the file).") var template:
        String?
    @Option(help: "Longest answer in tokens (default 120; 256 with --model).") var maxTokens: Int?
    @OptionGroup var sampling: SamplingFlags
    @Flag(help: "Forget earlier turns (each question stands alone).") var noHistory = false

    func validate() throws {
        if let m = maxTokens, !(m >= 1 && m <= 100_000) {
            throw ValidationError("--max-tokens must be 1…100000, got \(m)")
        }
        guard model == nil || checkpoint == nil else { throw ValidationError("give --model or --checkpoint, not both") }
        guard template == nil || model != nil else { throw ValidationError("--template goes with --model") }
        if let t = template, ChatTemplate.Family(rawValue: t.lowercased()) == nil {
            throw ValidationError("--template must be chatml, llama2 or zephyr, got \(t)")
        }
    }

    func run() throws {
        try common.apply()
        var policy = ChatPolicy()
        let chat: ChatSession
        if let path = model {
            let m = try loadPretrained(path, template: template)
            chat = ChatSession(pretrained: m)
            policy = chat.policy
        } else {
            let (config, tok, lm) = try loadCheckpoint(checkpoint)
            chat = ChatSession(
                model: lm, tokenizer: tok, modelName: "\(config.model.rawValue) \(config.layers)×\(config.width)")
        }
        if let m = maxTokens { policy.maxTokens = m }
        policy.temperature = sampling.temperature ?? 0
        policy.topK = sampling.topK
        policy.topP = sampling.topP
        policy.minP = sampling.minP
        policy.repetitionPenalty = sampling.repetitionPenalty
        policy.seed = sampling.seed
        policy.rememberHistory = !noHistory
        chat.policy = policy
        let interactive = isatty(0) == 1
        if interactive { print("chatting with \(chat.modelName) — an empty line or Ctrl-D ends") }
        var input = LineReader()
        while true {
            if interactive {
                print("you> ", terminator: "")
                fflush(standardOut)
            }
            guard let line = try input.next() else { break }
            let user = line.trimmingCharacters(in: .whitespaces)
            if user.isEmpty {
                if interactive {
                    break
                } else {
                    print()
                    continue
                }
            }
            if interactive { print("bot> ", terminator: "") }
            let answer: String
            do {
                answer = try chat.reply(to: user) { piece, _ in
                    if interactive {
                        print(piece, terminator: "")
                        fflush(standardOut)
                    }
                }
            } catch let e as ChatError { throw CLIError(e.description) }
            if interactive {
                print()
            } else {
                // One line per answer: a real model's line breaks are written as \n.
                print(answer.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n"))
                fflush(standardOut)
            }
            try StandardOutput.check()
        }
    }
}
