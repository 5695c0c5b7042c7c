// Where the chat lab's model comes from: the tiny model shipped inside the binary (assets/models/chat
// compiled in), a session directory, or $ORRERY_ASSETS/models/chat when that is set (to try a
// retrained model without rebuilding).
import CAssets
import Formats
import Foundation
import Models

public enum ModelSource: Sendable, Equatable {
    case shipped
    case directory(String)
    /// A real checkpoint in a GGUF file (llama, qwen2).
    case gguf(String)

    /// The default for the chat lab and `orrery chat`: $ORRERY_ASSETS/models/chat if set, else shipped.
    public static var defaultChat: ModelSource {
        if let root = ProcessInfo.processInfo.environment["ORRERY_ASSETS"], !root.isEmpty {
            return .directory(root + "/models/chat")
        }
        return .shipped
    }

    public var description: String {
        switch self {
        case .shipped: return "the shipped chat model"
        case .directory(let d): return d
        case .gguf(let f): return f
        }
    }

    /// Loads config, tokenizer and weights, validated as any session's files are.
    public func load() throws -> (LMConfig, Tokenizer, LanguageModel) {
        switch self {
        case .directory(let dir):
            let (c, t, m, _) = try LanguageSessionDirectory.loadModel(dir)
            return (c, t, m)
        case .gguf(let f):
            throw CheckpointError.unreadable(dir: f, file: f, reason: "a GGUF file is a real checkpoint, not a session")
        case .shipped:
            let files: [String: UnsafeRawBufferPointer] = [
                "config.json": UnsafeRawBufferPointer(
                    start: orrery_chat_config_json_ptr(), count: Int(orrery_chat_config_json_size)),
                "tokenizer.json": UnsafeRawBufferPointer(
                    start: orrery_chat_tokenizer_json_ptr(), count: Int(orrery_chat_tokenizer_json_size)),
                "model.safetensors": UnsafeRawBufferPointer(
                    start: orrery_chat_model_safetensors_ptr(),
                    count: Int(orrery_chat_model_safetensors_size)),
            ]
            let label = description
            let source = SnapshotFiles(
                label: label,
                read: { name, limit in
                    guard let b = files[name] else { throw CheckpointError.missingFile(dir: label, file: name) }
                    guard b.count <= limit else {
                        throw CheckpointError.unreadable(dir: label, file: name, reason: "too large")
                    }
                    return Array(b)
                },
                safetensors: { name in
                    guard let b = files[name] else { throw CheckpointError.missingFile(dir: label, file: name) }
                    return try SafetensorsFile(staticImage: b, name: name)
                })
            let (c, t, m, _) = try LanguageSessionDirectory.loadModel(source)
            return (c, t, m)
        }
    }
}

extension ChatSession {
    /// A chat with the model from `source`.
    public convenience init(source: ModelSource, policy: ChatPolicy = ChatPolicy()) throws {
        if case .gguf(let path) = source {
            self.init(pretrained: try PretrainedModel(path: path))
            return
        }
        let (config, tok, model) = try source.load()
        self.init(
            model: model, tokenizer: tok, modelName: "\(config.model.rawValue) \(config.layers)×\(config.width)",
            policy: policy)
    }
}
