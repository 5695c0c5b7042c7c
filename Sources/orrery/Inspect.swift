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
            let tensors: [[String: Any]] = f.entries.map {
                ["name": $0.name, "dtype": $0.dtype.rawValue, "shape": $0.shape, "bytes": $0.byteCount]
            }
            print(JSONLine.encode(["file": file, "format": "safetensors", "file_bytes": f.fileSize,
                                   "tensors": tensors, "metadata": f.metadata, "parameters": params,
                                   "data_bytes": total]))
            return
        }
        // Names and metadata come from the file: printed with control characters escaped.
        let safe = TerminalText.safe
        print("\(safe(file)): safetensors, \(f.entries.count) tensors, \(params) elements, \(total) data bytes")
        for (k, v) in f.metadata.sorted(by: { $0.key < $1.key }) { print("  metadata \(safe(k)) = \(safe(v))") }
        let names = f.entries.map { safe($0.name) }
        let nameW = min(80, max(4, names.map(\.count).max() ?? 0))
        print("  " + "name".padding(toLength: nameW, withPad: " ", startingAt: 0) + "  dtype    shape                 bytes")
        for (e, name) in zip(f.entries, names) {
            let shape = "[" + e.shape.map(String.init).joined(separator: ", ") + "]"
            let column = name.count >= nameW ? name : name.padding(toLength: nameW, withPad: " ", startingAt: 0)
            print("  " + column + "  "
                  + e.dtype.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0) + "  "
                  + shape.padding(toLength: 20, withPad: " ", startingAt: 0) + "  \(e.byteCount)")
        }
    }
}
