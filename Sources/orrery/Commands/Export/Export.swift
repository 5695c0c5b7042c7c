import ArgumentParser
import Compute
import Formats
import Foundation
import Labs
import Models

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model in another form (PNG figures come from the labs' --png options and the UI's e key).",
        subcommands: [ExportModel.self, ExportHalf.self, ExportRetype.self], defaultSubcommand: ExportModel.self)
}

/// `orrery export retype IN.gguf OUT.gguf --type q8_0|f16|f32`: the same GGUF model with its matrices
/// stored in another type (dequantised, then encoded again; metadata and 1-D tensors kept).
struct ExportRetype: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retype",
        abstract: "Rewrite a GGUF model's matrices as f32, f16 or q8_0 (e.g. to benchmark the same model per type).")
    @OptionGroup var common: CommonOptions
    @Argument(help: "A GGUF file.") var input: String
    @Argument(help: "Where to write the copy.") var output: String
    @Option(help: "f32, f16 or q8_0.") var type: String

    func validate() throws {
        guard let t = GGMLType(name: type), GGUFExport.types.contains(t) else {
            throw ValidationError("--type must be f32, f16 or q8_0, got \(type)")
        }
    }

    func run() throws {
        try common.apply()
        let t = GGMLType(name: type)!
        let f: GGUFFile
        do { f = try GGUFFile(path: input) } catch let e as GGUFError { throw CLIError("\(input): \(e.description)") }
        var w = GGUFWriter()
        w.alignment = f.alignment
        for k in f.keys where k != "general.file_type" { w.set(k, f.metadata[k]!) }
        w.set("general.file_type", uint32: t == .f32 ? 0 : t == .f16 ? 1 : 7)
        for info in f.tensors {
            let dims = info.dimensions
            let rows = dims.dropFirst().reduce(1, *)
            let cols = dims.first ?? 0
            guard dims.count >= 2, cols % 32 == 0 || t != .q8_0 else {
                w.add(
                    info.name, dimensions: dims, type: info.type,
                    bytes: Array(UnsafeRawBufferPointer(start: f.data(info), count: info.byteCount)))
                continue
            }
            let m = QuantizedMatrix(type: info.type, rows: rows, cols: cols, data: f.data(info), owner: f)
            let values = m.dequantized().toArray()
            w.add(info.name, dimensions: dims, type: t, bytes: GGUFWriter.encode(values, t))
        }
        do { try w.write(to: output) } catch let e as AtomicFile.WriteError { throw CLIError(e.description) }
        print("wrote \(output): \(f.tensors.count) tensors, matrices as \(t)")
    }
}

/// `orrery export --checkpoint DIR --gguf OUT.gguf [--type f32|f16|q8_0]` and/or `--safetensors DIR`:
/// a language-lab GPT for llama.cpp (a llama-architecture GGUF) or for PyTorch (a Hugging Face
/// LlamaForCausalLM directory).
struct ExportModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "A language-lab GPT as a llama GGUF file (llama.cpp) and/or a Hugging Face Llama directory.",
        discussion: """
            Without --checkpoint the shipped chat model is exported. The GGUF file runs in llama.cpp and in
            'orrery generate --model' / 'orrery chat --model'; the safetensors directory loads with
            transformers' LlamaForCausalLM.from_pretrained(DIR).
            """)
    @OptionGroup var common: CommonOptions
    @Option(help: "Session directory (default: the chat model shipped in the binary).") var checkpoint: String?
    @Option(help: "Write a llama-architecture GGUF file here.") var gguf: String?
    @Option(help: "GGUF weight type: f32, f16 or q8_0.") var type = "f16"
    @Option(help: "Write a Hugging Face Llama directory (config.json, model.safetensors) here.") var safetensors:
        String?
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard gguf != nil || safetensors != nil else {
            throw ValidationError("give --gguf FILE and/or --safetensors DIR")
        }
        guard let t = GGMLType(name: type), GGUFExport.types.contains(t) else {
            throw ValidationError("--type must be f32, f16 or q8_0, got \(type)")
        }
    }

    func run() throws {
        try common.apply()
        let (config, tok, lm) = try loadCheckpoint(checkpoint)
        guard let gpt = lm as? GPT else {
            throw CLIError("only GPT models export to llama formats; this is a \(config.model.rawValue)")
        }
        let name = checkpoint.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "orrery-chat"
        var out: [String: Any] = ["type": "export", "parameters": gpt.parameterCount]
        do {
            if let path = gguf {
                try GGUFExport.write(model: gpt, tokenizer: tok, name: name, type: GGMLType(name: type)!, to: path)
                out["gguf"] = path
                if !json { print("wrote \(path) (llama architecture, \(type) weights)") }
            }
            if let dir = safetensors {
                try HuggingFaceExport.write(model: gpt, to: dir)
                out["safetensors"] = dir
                if !json { print("wrote \(dir)/config.json and model.safetensors (LlamaForCausalLM)") }
            }
        } catch let e as GGUFExportError {
            throw CLIError(e.description)
        } catch let e as AtomicFile.WriteError {
            throw CLIError(e.description)
        }
        if json { print(JSONLine.encode(out)) }
    }
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
