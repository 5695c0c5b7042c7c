import ArgumentParser
import Compute
import Formats
import Foundation
import Labs
import Models

/// Opens a GGUF model for the command line: errors as one line naming the problem.
func loadPretrained(
    _ path: String, template: String?, contextCap: Int = PretrainedModel.defaultContextCap
) throws -> PretrainedModel {
    do {
        return try PretrainedModel(path: path, template: template, contextCap: contextCap)
    } catch let e as GGUFError {
        if case .io = e { throw CLIError(e.description) }  // names the path itself
        throw CLIError("\(path): \(e.description)")
    } catch let e as ChatTemplateError {
        throw CLIError("\(path): \(e.description)")
    }
}

/// `orrery generate --model FILE.gguf`: text from a real checkpoint, token by token.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text with a real model from a GGUF file (llama, qwen2).",
        discussion: """
            The prompt is --prompt TEXT (with --chat: one user turn rendered by the model's chat template) or
            --prompt-tokens 1,2,3 (token ids as they are). Greedy with --temperature 0 (the default). With
            --json: one line per token (id, text and, with --top-logits K, the K largest logits), then done
            with tokens/s.
            """)
    @OptionGroup var common: CommonOptions
    @Option(help: "A GGUF model file.") var model: String
    @Option(help: "Text to continue (or, with --chat, the user's message).") var prompt: String?
    @Option(help: "Comma-separated token ids to start from.") var promptTokens: String?
    @Flag(help: "Render --prompt as a chat turn with the model's template.") var chat = false
    @Option(help: "Chat template: chatml, llama2 or zephyr (default: recognised from the file).") var template: String?
    @Option(help: "Tokens to generate.") var maxTokens = 128
    @Option(help: "Report the K largest logits of each step (with --json).") var topLogits = 0
    @Option(help: "Stop when this text is generated (repeatable; end-of-turn tokens always stop).")
    var stop: [String] = []
    @OptionGroup var sampling: SamplingFlags
    @Flag(help: "JSON lines: one event per token, then done.") var json = false

    func validate() throws {
        guard (prompt == nil) != (promptTokens == nil) else {
            throw ValidationError("give exactly one of --prompt and --prompt-tokens")
        }
        guard !(chat && promptTokens != nil) else {
            throw ValidationError("--chat takes --prompt, not --prompt-tokens")
        }
        guard maxTokens >= 1 && maxTokens <= 100_000 else {
            throw ValidationError("--max-tokens must be 1…100000, got \(maxTokens)")
        }
        guard topLogits >= 0 && topLogits <= 1000 else { throw ValidationError("--top-logits must be 0…1000") }
        guard topLogits == 0 || json else { throw ValidationError("--top-logits reports through --json; add --json") }
        if let t = template, ChatTemplate.Family(rawValue: t.lowercased()) == nil {
            throw ValidationError("--template must be chatml, llama2 or zephyr, got \(t)")
        }
        guard stop.allSatisfy({ !$0.isEmpty }) else { throw ValidationError("--stop needs a non-empty string") }
        if let p = prompt, p.utf8.count > 1 << 20 { throw ValidationError("--prompt is longer than 1 MiB") }
        _ = try parsedTokens()
    }

    func parsedTokens() throws -> [Int]? {
        guard let s = promptTokens else { return nil }
        let parts = s.split(separator: ",", omittingEmptySubsequences: false).map {
            Int($0.trimmingCharacters(in: .whitespaces))
        }
        guard !parts.isEmpty, parts.allSatisfy({ ($0 ?? -1) >= 0 }) else {
            throw ValidationError("--prompt-tokens takes comma-separated token ids, e.g. 1,2,3")
        }
        return parts.map { $0! }
    }

    func run() throws {
        try common.apply()
        let m = try loadPretrained(model, template: template)
        let ids: [Int]
        if let t = try parsedTokens() {
            if let bad = t.first(where: { $0 >= m.tokenizer.vocabSize }) {
                throw ValidationError("token \(bad) is outside the model's \(m.tokenizer.vocabSize)-token vocabulary")
            }
            ids = t
        } else if chat {
            ids = m.chatPrompt([ChatMessage(.user, prompt ?? "")])
        } else {
            ids = m.textPrompt(prompt ?? "")
        }
        try generate(m, ids)
    }

    func generate(_ m: PretrainedModel, _ ids: [Int]) throws {
        guard !ids.isEmpty else { throw CLIError("the prompt is empty") }
        guard ids.count < m.model.config.context else {
            throw CLIError("the prompt has \(ids.count) tokens; the context holds \(m.model.config.context)")
        }
        var o = sampling.options(maxTokens: min(maxTokens, m.model.config.context - ids.count), defaultTemperature: 0)
        o.stop = stop
        let start = Date()
        let gen = TextGenerator(
            model: m.model, tokenizer: m.tokenizer, prompt: ids, options: o, stopTokens: m.tokenizer.endTokens)
        let promptSeconds = Date().timeIntervalSince(start)
        if !json, !chat, let p = prompt {
            print(p, terminator: "")
            fflush(standardOut)
        }
        var text = ""
        var out: [Int] = []
        let genStart = Date()
        while let piece = gen.next() {
            text += piece
            if json {
                if let t = gen.lastToken, out.count < gen.produced {
                    out.append(t)
                    var event: [String: Any] = ["type": "token", "id": t, "text": piece]
                    if topLogits > 0, let l = gen.lastLogits { event["top_logits"] = top(l, topLogits) }
                    print(JSONLine.encode(event))
                }
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
        let secs = Date().timeIntervalSince(genStart)
        if json {
            print(
                JSONLine.encode([
                    "type": "done", "text": text, "tokens": gen.produced, "prompt_tokens": ids.count, "prompt_ids": ids,
                    "ids": Array(gen.tokens.suffix(gen.produced)),
                    "prompt_tokens_per_s": Double(ids.count) / max(promptSeconds, 1e-9),
                    "tokens_per_s": Double(gen.produced) / max(secs, 1e-9),
                ]))
        } else {
            print()
        }
    }

    func top(_ logits: Tensor, _ k: Int) -> [[String: Any]] {
        let l = logits.toArray()
        let order = l.indices.sorted { l[$0] > l[$1] }.prefix(k)
        return order.map { ["id": $0, "logit": Double(l[$0])] }
    }
}
