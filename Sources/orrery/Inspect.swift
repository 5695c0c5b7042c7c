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
        print("\(file): safetensors, \(f.entries.count) tensors, \(params) elements, \(total) data bytes")
        for (k, v) in f.metadata.sorted(by: { $0.key < $1.key }) { print("  metadata \(k) = \(v)") }
        let nameW = max(4, f.entries.map(\.name.count).max() ?? 0)
        print("  " + "name".padding(toLength: nameW, withPad: " ", startingAt: 0) + "  dtype    shape                 bytes")
        for e in f.entries {
            let shape = "[" + e.shape.map(String.init).joined(separator: ", ") + "]"
            print("  " + e.name.padding(toLength: nameW, withPad: " ", startingAt: 0) + "  "
                  + e.dtype.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0) + "  "
                  + shape.padding(toLength: 20, withPad: " ", startingAt: 0) + "  \(e.byteCount)")
        }
    }
}
