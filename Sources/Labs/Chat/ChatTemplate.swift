// Chat templates of real checkpoints. A GGUF file carries its Jinja template in
// `tokenizer.chat_template`; rather than interpret Jinja, Orrery recognises the families small models
// use and renders them exactly (the tests compare against the Jinja output for a 3-turn conversation):
//  - ChatML (SmolLM, Qwen): <|im_start|>role\ncontent<|im_end|>\n …, then <|im_start|>assistant\n.
//    A template that inserts a default system message when the conversation has none (SmolLM2's and
//    Qwen2's do) has that message read out of the template text.
//  - Llama 2: <s>[INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser [/INST] answer </s><s>[INST] …
//  - Zephyr: <|system|>\nsystem</s>\n<|user|>\ncontent</s>\n<|assistant|>\n
import Foundation

public struct ChatMessage: Equatable, Sendable {
    public enum Role: String, Sendable { case system, user, assistant }
    public var role: Role
    public var content: String
    public init(_ role: Role, _ content: String) {
        self.role = role
        self.content = content
    }
}

public enum ChatTemplateError: Error, Equatable, CustomStringConvertible {
    case unknownTemplate(String)
    case unrecognised(String)
    public var description: String {
        switch self {
        case .unknownTemplate(let n): return "unknown chat template \(n.debugDescription) (chatml, llama2, zephyr)"
        case .unrecognised(let t):
            return "the model's chat template is not one Orrery recognises (\(t.prefix(40).debugDescription)…); "
                + "pass --template chatml|llama2|zephyr"
        }
    }
}

public struct ChatTemplate: Equatable, Sendable {
    public enum Family: String, Sendable, CaseIterable { case chatml, llama2, zephyr }
    public var family: Family
    /// The system message the template inserts when the conversation has none (nil: none).
    public var defaultSystem: String?
    /// BOS text the template writes itself (Llama 2's <s>).
    public var bosText = "<s>"
    public var eosText = "</s>"

    public init(family: Family, defaultSystem: String? = nil) {
        self.family = family
        self.defaultSystem = defaultSystem
    }

    /// Picks the family from a GGUF template text (nil text: ChatML, the common default).
    public static func recognise(_ jinja: String?) throws -> ChatTemplate {
        guard let t = jinja else { return ChatTemplate(family: .chatml) }
        if t.contains("<|im_start|>") {
            return ChatTemplate(
                family: .chatml, defaultSystem: defaultSystem(in: t, open: "<|im_start|>system\n", close: "<|im_end|>"))
        }
        if t.contains("[INST]") { return ChatTemplate(family: .llama2) }
        if t.contains("<|user|>") && t.contains("<|assistant|>") { return ChatTemplate(family: .zephyr) }
        throw ChatTemplateError.unrecognised(t)
    }

    public static func named(_ name: String) throws -> ChatTemplate {
        guard let f = Family(rawValue: name.lowercased()) else { throw ChatTemplateError.unknownTemplate(name) }
        return ChatTemplate(family: f)
    }

    /// The default system text inside a template literal such as '<|im_start|>system\nYou are …<|im_end|>'.
    static func defaultSystem(in t: String, open: String, close: String) -> String? {
        // The Jinja source writes the newline as a real newline or as the two characters \n.
        for o in [open, open.replacingOccurrences(of: "\n", with: "\\n")] {
            guard let r = t.range(of: o), let e = t.range(of: close, range: r.upperBound..<t.endIndex) else { continue }
            let inner = String(t[r.upperBound..<e.lowerBound])
            // Only a literal (no Jinja expression inside).
            if inner.contains("{{") || inner.contains("+") || inner.contains("message") { continue }
            return inner.replacingOccurrences(of: "\\n", with: "\n")
        }
        return nil
    }

    /// The prompt text for a conversation, ending where the assistant's answer begins.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) -> String {
        var out = ""
        switch family {
        case .chatml:
            if let d = defaultSystem, messages.first?.role != .system {
                out += "<|im_start|>system\n\(d)<|im_end|>\n"
            }
            for m in messages { out += "<|im_start|>\(m.role.rawValue)\n\(m.content)<|im_end|>\n" }
            if addGenerationPrompt { out += "<|im_start|>assistant\n" }
        case .llama2:
            var system: String?
            var rest = messages[...]
            if let f = messages.first, f.role == .system {
                system = f.content
                rest = messages.dropFirst()
            }
            var first = true
            for m in rest {
                switch m.role {
                case .user:
                    var content = m.content
                    if first, let s = system { content = "<<SYS>>\n\(s)\n<</SYS>>\n\n" + content }
                    out += "\(bosText)[INST] \(content.trimmingCharacters(in: .whitespaces)) [/INST]"
                    first = false
                case .assistant:
                    out += " \(m.content.trimmingCharacters(in: .whitespaces)) \(eosText)"
                case .system:
                    break
                }
            }
        case .zephyr:
            for m in messages { out += "<|\(m.role.rawValue)|>\n\(m.content)\(eosText)\n" }
            if addGenerationPrompt { out += "<|assistant|>\n" }
        }
        return out
    }
}
