import ArgumentParser
import Compute
import Formats
import Foundation

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model in another form (PNG figures come from the labs' --png options and the UI's e key).",
        subcommands: [ExportHalf.self])
}

/// `orrery export half IN.safetensors OUT.safetensors`: the same tensors stored as float16 — half the
/// bytes; every loader in Orrery reads F16 back as Float32.
struct ExportHalf: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "half",
        abstract: "Store a safetensors file's floating-point tensors as float16 (half the size), atomically.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "A .safetensors file.") var input: String
    @Argument(help: "Where to write the float16 copy.") var output: String
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        try common.apply()
        let f: SafetensorsFile
        do { f = try SafetensorsFile(path: input) } catch let e as SafetensorsError {
            if case .io(_, let reason) = e { throw CLIError("cannot open: \(reason) (\(input))") }
            throw CLIError("invalid safetensors file: \(e) (\(input))")
        }
        var items: [SafetensorsWriter.Item] = []
        var worst: Float = 0
        for e in f.entries {
            let t: Tensor
            do { t = try f.tensor(e) } catch { throw CLIError("\(error) (\(input))") }
            let v = t.toArray()
            // float16 holds magnitudes up to 65504; report the relative rounding error it costs.
            if let big = v.first(where: { !$0.isFinite || abs($0) > 65504 }) {
                throw CLIError(
                    "tensor \"\(TerminalText.safe(e.name))\" holds \(big), beyond float16's range (\(input))")
            }
            let bits = HalfConversion.toFloat16Bits(t)
            let back = bits.withUnsafeBufferPointer { HalfConversion.fromFloat16Bits($0, shape: t.shape) }.toArray()
            for (a, b) in zip(v, back) where abs(a) > 1e-4 { worst = max(worst, abs(a - b) / abs(a)) }
            items.append(SafetensorsWriter.Item(e.name, t, dtype: .F16))
        }
        do { try SafetensorsWriter.write(items, metadata: f.metadata, to: output) } catch {
            throw CLIError("cannot write \(output): \(error)")
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
        if json {
            print(
                JSONLine.encode([
                    "type": "done", "tensors": items.count, "input_bytes": f.fileSize, "output_bytes": size,
                    "max_relative_error": Double(worst),
                ]))
        } else {
            print(
                "\(TerminalText.safe(output)): \(items.count) tensors as float16, \(f.fileSize) → \(size) bytes, "
                    + String(format: "largest relative rounding %.2g", Double(worst)))
        }
    }
}
