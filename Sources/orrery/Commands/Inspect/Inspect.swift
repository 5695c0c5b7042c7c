import ArgumentParser
import Compute
import Formats
import Foundation
import Labs
import Models

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a .safetensors or .gguf file after validating it (tensors; for GGUF also the model).",
        discussion: """
            A GGUF file (recognised by its magic) shows its architecture and hyper-parameters, tokenizer,
            chat template, metadata and tensor table; a model Orrery can run is also loaded and checked.
            """)
    @Argument(help: "A .safetensors or .gguf file.") var file: String
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        if file.lowercased().hasSuffix(".gguf") || Inspect.startsWithGGUFMagic(file) {
            return try inspectGGUF()
        }
        let f: SafetensorsFile
        do { f = try SafetensorsFile(path: file) } catch let e as SafetensorsError {
            if case .io(_, let reason) = e { throw CLIError("cannot open: \(reason) (\(file))") }
            throw CLIError("invalid safetensors file: \(e) (\(file))")
        }
        let total = f.entries.reduce(0) { $0 + $1.byteCount }
        let params = f.entries.reduce(0) { $0 + $1.shape.reduce(1, *) }
        if json {
            // Built as a JSONValue and serialised directly: Foundation's JSONSerialization takes ~10× longer
            // on a file of a million tensors. Keys in sorted order, as every --json line.
            let tensors: [JSONValue] = f.entries.map {
                .object([
                    ("bytes", .int($0.byteCount)), ("dtype", .string($0.dtype.rawValue)), ("name", .string($0.name)),
                    ("shape", .array($0.shape.map { .int($0) })),
                ])
            }
            let metadata = JSONValue.object(f.metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })
            let object = JSONValue.object([
                ("data_bytes", .int(total)), ("file", .string(file)), ("file_bytes", .int(f.fileSize)),
                ("format", .string("safetensors")), ("metadata", metadata),
                ("parameters", .int(params)), ("tensors", .array(tensors)),
            ])
            print(object.serialized)
            return
        }
        // Names and metadata come from the file: printed with control characters escaped.
        let safe = TerminalText.safe
        print("\(safe(file)): safetensors, \(f.entries.count) tensors, \(params) elements, \(total) data bytes")
        for (k, v) in f.metadata.sorted(by: { $0.key < $1.key }) { print("  metadata \(safe(k)) = \(safe(v))") }
        let names = f.entries.map { safe($0.name) }
        let nameW = min(80, max(4, names.map(\.count).max() ?? 0))
        func pad(_ s: String, _ width: Int) -> String {
            let n = s.count
            return n >= width ? s : s + String(repeating: " ", count: width - n)
        }
        print("  " + pad("name", nameW) + "  dtype    shape                 bytes")
        for (e, name) in zip(f.entries, names) {
            let shape = "[" + e.shape.map(String.init).joined(separator: ", ") + "]"
            print(
                "  " + pad(name, nameW) + "  " + pad(e.dtype.rawValue, 7) + "  " + pad(shape, 20) + "  \(e.byteCount)")
        }
    }

    /// The first four bytes are "GGUF" (read without loading the file).
    static func startsWithGGUFMagic(_ path: String) -> Bool {
        guard let (fd, size) = try? BoundedFile.openRegular(path) else { return false }
        defer { close(fd) }
        guard size >= 4 else { return false }
        var b = [UInt8](repeating: 0, count: 4)
        return b.withUnsafeMutableBytes { read(fd, $0.baseAddress, 4) } == 4 && b == [0x47, 0x47, 0x55, 0x46]
    }

    func inspectGGUF() throws {
        let f: GGUFFile
        do { f = try GGUFFile(path: file) } catch let e as GGUFError {
            throw CLIError("invalid GGUF file: \(e) (\(file))")
        }
        // The model, when it is one Orrery runs: every tensor and key it needs is checked.
        var model: PretrainedModel?
        var problem: String?
        do { model = try PretrainedModel(path: file, repack: false) } catch { problem = "\(error)" }
        let safe = TerminalText.safe
        let params = f.tensors.reduce(0) { $0 + $1.elementCount }
        let bytes = f.tensors.reduce(0) { $0 + $1.byteCount }
        if json {
            let tensors: [JSONValue] = f.tensors.map {
                .object([
                    ("bytes", .int($0.byteCount)), ("name", .string($0.name)), ("offset", .int($0.offset)),
                    ("shape", .array($0.shape.map { .int($0) })), ("type", .string($0.type.description)),
                ])
            }
            var meta: [(String, JSONValue)] = []
            for k in f.keys.sorted() {
                let v = f.metadata[k]!
                switch v {
                case .string(let s): meta.append((k, .string(s)))
                case .bool(let b): meta.append((k, .bool(b)))
                case .array, .packed: meta.append((k, .string(v.summary)))
                default: meta.append((k, v.integer.map { .int($0) } ?? .number(v.number ?? 0)))
                }
            }
            var fields: [(String, JSONValue)] = [
                ("alignment", .int(f.alignment)), ("data_bytes", .int(bytes)), ("file", .string(file)),
                ("file_bytes", .int(f.mapping.size)), ("format", .string("gguf")), ("metadata", .object(meta)),
                ("parameters", .int(params)), ("tensors", .array(tensors)), ("version", .int(Int(f.version))),
            ]
            if let m = model {
                let c = m.model.config
                fields.append(
                    (
                        "model",
                        .object([
                            ("architecture", .string(c.architecture)), ("context", .int(c.context)),
                            ("ffn", .int(c.ffn)), ("head_dim", .int(c.headDim)), ("heads", .int(c.heads)),
                            ("kv_heads", .int(c.kvHeads)), ("layers", .int(c.layers)),
                            ("norm_eps", .number(Double(c.normEps))), ("rope_base", .number(Double(c.ropeBase))),
                            ("rope_ordering", .string(c.ropeOrdering.rawValue)),
                            ("template", .string(m.template.family.rawValue)),
                            ("tokenizer", .string(m.tokenizer.kind.rawValue)), ("vocab", .int(c.vocab)),
                            ("width", .int(c.width)),
                        ])
                    ))
            } else {
                fields.append(("model_error", .string(problem ?? "")))
            }
            print(JSONValue.object(fields.sorted { $0.0 < $1.0 }).serialized)
            return
        }
        print(
            "\(safe(file)): GGUF v\(f.version), \(f.tensors.count) tensors, \(params) parameters, \(bytes) data bytes")
        if let m = model {
            let c = m.model.config
            let types = m.typeCounts.map { "\($0.1) \($0.0)" }.joined(separator: ", ")
            print(
                "  model      \(safe(String(m.name.prefix(80)))): \(c.architecture), \(c.layers) layers × \(c.width), \(c.heads) heads (\(c.kvHeads) KV) of \(c.headDim), FFN \(c.ffn)"
            )
            print(
                "             vocabulary \(c.vocab), context \(c.context) (file: \(try f.optionalInteger("\(c.architecture).context_length") ?? 0)), RoPE base \(c.ropeBase) \(c.ropeOrdering.rawValue), RMSNorm ε \(c.normEps)"
            )
            print("  weights    \(types)")
            print(
                "  tokenizer  \(m.tokenizer.kind.rawValue) (\(m.tokenizer.pre.rawValue)), BOS \(m.tokenizer.bos.map(String.init) ?? "none"), EOS \(m.tokenizer.eos.map(String.init) ?? "none"), end tokens \(m.tokenizer.endTokens.sorted())"
            )
            print(
                "  template   \(m.template.family.rawValue)"
                    + (m.template.defaultSystem.map { ", default system message \(safe($0).debugDescription)" } ?? ""))
        } else if let p = problem {
            print("  model      not runnable here: \(safe(p))")
        }
        print("  metadata")
        for k in f.keys { print("    \(safe(k)) = \(safe(f.metadata[k]!.summary))") }
        let names = f.tensors.map { safe($0.name) }
        let nameW = min(64, max(4, names.map(\.count).max() ?? 0))
        func pad(_ s: String, _ width: Int) -> String {
            s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
        }
        print("  " + pad("tensor", nameW) + "  type   shape              bytes")
        for (t, name) in zip(f.tensors, names) {
            let shape = "[" + t.shape.map(String.init).joined(separator: ", ") + "]"
            print(
                "  " + pad(name, nameW) + "  " + pad(t.type.description, 5) + "  " + pad(shape, 17) + "  \(t.byteCount)"
            )
        }
    }
}
