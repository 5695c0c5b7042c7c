import ArgumentParser
import Compute
import Formats
import Foundation

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the tensors of a .safetensors file (names, dtypes, shapes, bytes), after validating it.")
    @Argument(help: "A .safetensors file.") var file: String
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
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
}
