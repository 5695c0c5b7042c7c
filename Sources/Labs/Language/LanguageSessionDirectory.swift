// The language lab's files in a session directory (see SessionDirectory for how a save is made atomic):
// config.json (format, lab, step, config), tokenizer.json, model.safetensors, optimizer.safetensors,
// metrics.jsonl. Each file is stamped with the step, and loading checks that they agree. Loading treats
// every file as hostile: sizes are capped before reading, JSON is parsed strictly (duplicate keys,
// depth), the configuration is validated and its memory cost checked against the file and the machine
// before the model is built, and weights must be finite.
import Compute
import Formats
import Foundation
import Models
import NN

/// Where a snapshot's files come from: a session directory, or a model compiled into the binary.
public struct SnapshotFiles {
    /// Named in errors (a directory path, or "the shipped chat model").
    public let label: String
    /// The bytes of a small file, at most `limit`.
    public let read: (_ name: String, _ limit: Int) throws -> [UInt8]
    public let safetensors: (_ name: String) throws -> SafetensorsFile
}

public enum LanguageSessionDirectory {
    public static let format = "orrery-language-session-1"
    static let maxJSONBytes = 1 << 20
    static let maxTokenizerBytes = 64 << 20
    static let maxMetricsBytes = 256 << 20

    /// Encoders for files that may hold non-finite numbers (a skipped step's NaN loss).
    static var encoder: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }

    static var decoder: JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }

    static func json(_ o: Any) throws -> [UInt8] {
        Array(try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .prettyPrinted]))
    }

    /// Saves the whole session as one atomic snapshot in `dir`.
    public static func save(_ s: LanguageSession, to dir: String) throws {
        let stepS = "\(s.step)"
        let named = s.model.namedParameters()
        var files: [(name: String, bytes: [UInt8])] = []
        do {
            files.append(
                (
                    "model.safetensors",
                    // Parameters and buffers (a MoE layer's router biases are a buffer).
                    try SafetensorsWriter.encode(
                        s.model.namedState().map { .init($0.0, $0.1) },
                        metadata: ["step": stepS, "format": format])
                ))
            var opt: [SafetensorsWriter.Item] = []
            for (i, (name, _)) in named.enumerated() {
                opt.append(.init("m." + name, s.optimizer.m[i]))
                opt.append(.init("v." + name, s.optimizer.v[i]))
            }
            let optMeta = ["step": stepS, "adam_step": "\(s.optimizer.stepCount)", "lr_scale": "\(s.lrScale)"]
            files.append(("optimizer.safetensors", try SafetensorsWriter.encode(opt, metadata: optMeta)))
            let enc = encoder
            var lines: [UInt8] = []
            for m in s.history {
                lines += try enc.encode(m)
                lines.append(0x0A)
            }
            files.append(("metrics.jsonl", lines))
            files.append(("tokenizer.json", try json(s.tokenizer.json())))
            let manifest = SessionManifest(format: format, lab: "language", step: s.step, config: s.config)
            files.append(("config.json", try manifest.encoded()))
        } catch {
            throw CheckpointError.writeFailed(dir: dir, reason: "cannot encode the session: \(error)")
        }
        try SessionDirectory.commit(files, step: s.step, to: dir)
    }

    /// A one-line description of the language session saved in `dir` ("gpt 4×128, step 340 of 1000"),
    /// from its config alone; nil when `dir` holds no readable language session.
    public static func describe(_ dir: String) -> String? {
        guard let folder = try? SessionDirectory.current(dir),
            let bytes = try? BoundedFile.read(folder + "/config.json", limit: maxJSONBytes),
            let file = try? decoder.decode(SessionManifest<LMConfig>.self, from: Data(bytes)), file.format == format
        else { return nil }
        let c = file.config
        return "\(c.model.rawValue) \(c.layers)×\(c.width), step \(file.step) of \(c.steps), corpus \(c.corpus)"
    }

    /// Reads a small file of the snapshot, capped at `limit` bytes.
    static func readFile(_ folder: String, _ name: String, dir: String, limit: Int) throws -> [UInt8] {
        do { return try BoundedFile.read(folder + "/" + name, limit: limit) } catch let e as BoundedFileError {
            switch e {
            case .missing: throw CheckpointError.missingFile(dir: dir, file: name)
            case .notRegularFile(_, let kind):
                throw CheckpointError.unreadable(dir: dir, file: name, reason: "it is a \(kind)")
            case .tooLarge(_, let size, let limit):
                throw CheckpointError.unreadable(
                    dir: dir, file: name, reason: "\(size) bytes, over the \(limit)-byte limit")
            case .unreadable(_, let r): throw CheckpointError.unreadable(dir: dir, file: name, reason: r)
            }
        }
    }

    /// Parses strictly (duplicate keys, nesting depth, exact UTF-8); returns the top-level object.
    static func strictObject(_ bytes: [UInt8], file: String, dir: String) throws -> [String: Any] {
        let value: JSONValue
        do { value = try StrictJSONParser.parse(bytes) } catch {
            throw CheckpointError.malformed(dir: dir, file: file, reason: "not valid JSON: \(error)")
        }
        guard case .object = value, let obj = value.foundationObject as? [String: Any] else {
            throw CheckpointError.malformed(dir: dir, file: file, reason: "not a JSON object")
        }
        return obj
    }

    /// A safetensors error without the file's path (the session error names the directory and file).
    static func reason(_ error: Error) -> String {
        if case .io(_, let why) = error as? SafetensorsError { return why }
        return "\(error)"
    }

    /// What a failed decode means, in one line (instead of Swift's DecodingError dump).
    static func describe(_ error: Error) -> String {
        guard let e = error as? DecodingError else { return "\(error)" }
        func path(_ c: DecodingError.Context, _ extra: CodingKey? = nil) -> String {
            let keys = c.codingPath + (extra.map { [$0] } ?? [])
            return keys.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        switch e {
        case .typeMismatch(let type, let c): return "\"\(path(c))\" should be \(typeName(type))"
        case .valueNotFound(let type, let c): return "\"\(path(c))\" is null; it should be \(typeName(type))"
        case .keyNotFound(let key, let c): return "\"\(path(c, key))\" is missing"
        case .dataCorrupted(let c):
            if c.codingPath.isEmpty { return "not valid JSON" }
            return
                "\"\(path(c))\" has an invalid value (\(c.debugDescription.replacingOccurrences(of: "\n", with: " ")))"
        @unknown default: return "\(e)"
        }
    }

    static func typeName(_ t: Any.Type) -> String {
        switch t {
        case is Int.Type, is UInt64.Type: return "an integer"
        case is Float.Type, is Double.Type: return "a number"
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        default: return "\(t)"
        }
    }

    /// Reads config, tokenizer and weights (everything inference needs), validating each file.
    public static func loadModel(_ dir: String) throws -> (LMConfig, Tokenizer, LanguageModel, step: Int) {
        try loadModel(dir, folder: try SessionDirectory.current(dir))
    }

    /// Loads from one snapshot folder. If a writer replaced the snapshot while it was being read (its
    /// files vanish once CURRENT names a newer one), the newer snapshot is read instead.
    static func loadModel(_ dir: String, folder: String, attempts: Int = 3) throws -> (
        LMConfig, Tokenizer, LanguageModel, step: Int
    ) {
        do {
            return try loadModel(
                SnapshotFiles(
                    label: dir, read: { name, limit in try readFile(folder, name, dir: dir, limit: limit) },
                    safetensors: { name in try SafetensorsFile(path: folder + "/" + name) }))
        } catch let e as CheckpointError {
            guard attempts > 1, let now = try? SessionDirectory.current(dir), now != folder else { throw e }
            return try loadModel(dir, folder: now, attempts: attempts - 1)
        }
    }

    /// Reads config, tokenizer and weights from `files` (a directory, or a model compiled into the binary).
    public static func loadModel(_ files: SnapshotFiles) throws -> (LMConfig, Tokenizer, LanguageModel, step: Int) {
        let dir = files.label
        let cbytes = try files.read("config.json", maxJSONBytes)
        _ = try strictObject(cbytes, file: "config.json", dir: dir)  // duplicate keys, depth, UTF-8
        if case .object(let top)? = try? StrictJSONParser.parse(cbytes) {
            // The format first: a file of another kind is named as such, not picked apart field by field.
            switch top.first(where: { $0.0 == "format" })?.1 {
            case .string(let f)? where f == format: break
            case .string(let f)?: throw CheckpointError.wrongFormat(dir: dir, found: f)
            case let other?: throw CheckpointError.wrongFormat(dir: dir, found: String(other.serialized.prefix(40)))
            case nil: throw CheckpointError.wrongFormat(dir: dir, found: "missing")
            }
            if let step = top.first(where: { $0.0 == "step" })?.1 {
                guard case .int(let n) = step, n >= 0 else {
                    throw CheckpointError.invalidConfig(
                        dir: dir,
                        reason: "\"step\" should be a non-negative integer, got \(String(step.serialized.prefix(40)))")
                }
            }
            if let cfg = top.first(where: { $0.0 == "config" })?.1, let problem = ConfigTypes.problem(in: cfg) {
                throw CheckpointError.invalidConfig(dir: dir, reason: problem)
            }
        }
        let file: SessionManifest<LMConfig>
        do { file = try decoder.decode(SessionManifest<LMConfig>.self, from: Data(cbytes)) } catch {
            throw CheckpointError.invalidConfig(dir: dir, reason: describe(error))
        }
        guard file.format == format else { throw CheckpointError.wrongFormat(dir: dir, found: file.format) }
        if let lab = file.lab, lab != "language" {
            throw CheckpointError.invalidConfig(
                dir: dir, reason: "the session belongs to the \(lab) lab, not the language lab")
        }
        let step = file.step
        guard step >= 0 else { throw CheckpointError.invalidConfig(dir: dir, reason: "\"step\" is negative") }
        let config = file.config
        do { try LanguageSession.validate(config) } catch let e as SessionError {
            throw CheckpointError.invalidConfig(dir: dir, reason: e.reason)
        }
        guard step <= config.steps else {
            throw CheckpointError.invalidConfig(
                dir: dir, reason: "step \(step) is past the run's \(config.steps) steps")
        }
        let tobj = try strictObject(
            try files.read("tokenizer.json", maxTokenizerBytes),
            file: "tokenizer.json", dir: dir)
        let tok: Tokenizer
        do { tok = try TokenizerFile.load(tobj) } catch {
            throw CheckpointError.malformed(dir: dir, file: "tokenizer.json", reason: "\(error)")
        }
        let kind = tobj["type"] as? String ?? "?"
        guard kind == config.tokenizer.rawValue else {
            throw CheckpointError.invalidConfig(
                dir: dir, reason: "tokenizer is \"\(config.tokenizer)\" but tokenizer.json holds a \(kind) tokenizer")
        }
        let f: SafetensorsFile
        do { f = try files.safetensors("model.safetensors") } catch {
            throw CheckpointError.malformed(dir: dir, file: "model.safetensors", reason: reason(error))
        }
        guard f.metadata["step"] == "\(step)" else {
            throw CheckpointError.stepMismatch(
                dir: dir, file: "model.safetensors", fileStep: f.metadata["step"] ?? "?",
                sessionStep: step)
        }
        if let e = f.entry("embed.weight"), e.shape.first != tok.vocabSize {
            throw CheckpointError.invalidConfig(
                dir: dir,
                reason:
                    "tokenizer.json has \(tok.vocabSize) tokens but the model's embedding has \(e.shape.first ?? 0) rows"
            )
        }
        // The file must hold as many parameters as the configuration describes — checked before the
        // model is built, so a config that describes a huge model cannot allocate it.
        let expected = ModelBudget.parameterCount(config, vocab: tok.vocabSize)
        let found = f.entries.reduce(0) { $0 &+ $1.shape.reduce(1, &*) }
        guard expected == found else {
            throw CheckpointError.invalidConfig(
                dir: dir, reason: "it describes a model of \(expected) parameters but model.safetensors holds \(found)")
        }
        do { try ModelBudget.check(config, vocab: tok.vocabSize, training: false) } catch let e as SessionError {
            throw CheckpointError.tooLarge(dir: dir, reason: e.reason)
        }
        let model = LanguageSession.makeModel(config, vocab: tok.vocabSize)
        var weights: [String: Tensor] = [:]
        let params = model.stateDict()
        for e in f.entries {
            // Names and shapes are checked before any conversion (a wrong one is reported, not allocated).
            guard let p = params[e.name] else {
                throw CheckpointError.unexpectedTensor(dir: dir, file: "model.safetensors", tensor: e.name)
            }
            if e.shape != p.shape {
                throw CheckpointError.shapeMismatch(
                    dir: dir, file: "model.safetensors", tensor: e.name, found: e.shape,
                    expected: p.shape)
            }
            do { weights[e.name] = try f.tensor(e) } catch {
                throw CheckpointError.malformed(dir: dir, file: "model.safetensors", reason: "\(error)")
            }
        }
        do { try model.load(stateDict: weights, strict: true) } catch let e as StateDictError {
            switch e {
            case .missing(let n): throw CheckpointError.missingTensor(dir: dir, file: "model.safetensors", tensor: n)
            case .unexpected(let n):
                throw CheckpointError.unexpectedTensor(dir: dir, file: "model.safetensors", tensor: n)
            case .shapeMismatch(let n, let found, let expected):
                throw CheckpointError.shapeMismatch(
                    dir: dir, file: "model.safetensors", tensor: n, found: found, expected: expected)
            case .nonFinite(let n): throw CheckpointError.nonFinite(dir: dir, file: "model.safetensors", tensor: n)
            }
        }
        return (config, tok, model, step)
    }

    static func loadParameters(
        _ named: [(String, Tensor)], from f: SafetensorsFile, prefix: String, file: String,
        dir: String
    ) throws {
        let expected = Set(named.map { prefix + $0.0 })
        let found = Set(f.entries.map(\.name).filter { $0.hasPrefix(prefix) })
        if let extra = found.subtracting(expected).sorted().first {
            throw CheckpointError.unexpectedTensor(dir: dir, file: file, tensor: extra)
        }
        for (name, p) in named {
            guard let e = f.entry(prefix + name) else {
                throw CheckpointError.missingTensor(dir: dir, file: file, tensor: prefix + name)
            }
            guard e.shape == p.shape else {
                throw CheckpointError.shapeMismatch(
                    dir: dir, file: file, tensor: prefix + name, found: e.shape,
                    expected: p.shape)
            }
            let t: Tensor
            do { t = try f.tensor(e) } catch {
                throw CheckpointError.malformed(dir: dir, file: file, reason: "\(error)")
            }
            guard Kernels.allFinite(t) else {
                throw CheckpointError.nonFinite(dir: dir, file: file, tensor: prefix + name)
            }
            // Adam's second moments are averages of squares.
            if prefix == "v.", t.toArray().contains(where: { $0 < 0 }) {
                throw CheckpointError.malformed(
                    dir: dir, file: file, reason: "tensor \(prefix + name) holds negative second moments")
            }
            p.assign(t)
        }
    }

    /// Restores a whole session to continue training exactly where it stopped.
    public static func resume(_ dir: String) throws -> LanguageSession {
        let folder = try SessionDirectory.current(dir)
        // Every file from one snapshot.
        let (config, tok, model, step) = try loadModel(dir, folder: folder, attempts: 1)
        try ModelBudget.check(config, vocab: tok.vocabSize, training: true)
        let s = try LanguageSession(config: config, tokenizer: tok, model: model, directory: dir)
        let f: SafetensorsFile
        do { f = try SafetensorsFile(path: folder + "/optimizer.safetensors") } catch {
            throw CheckpointError.malformed(dir: dir, file: "optimizer.safetensors", reason: reason(error))
        }
        guard f.metadata["step"] == "\(step)" else {
            throw CheckpointError.stepMismatch(
                dir: dir, file: "optimizer.safetensors",
                fileStep: f.metadata["step"] ?? "?", sessionStep: step)
        }
        guard let adamStep = f.metadata["adam_step"].flatMap(Int.init), adamStep >= 0, adamStep <= step,
            let scale = f.metadata["lr_scale"].flatMap(Float.init), scale > 0, scale <= 1
        else {
            throw CheckpointError.malformed(
                dir: dir, file: "optimizer.safetensors",
                reason: "adam_step or lr_scale is missing or out of range")
        }
        let named = model.namedParameters()
        let ms = named.map { Tensor.zeros($0.1.shape) }
        let vs = named.map { Tensor.zeros($0.1.shape) }
        try loadParameters(
            zip(named, ms).map { ($0.0.0, $0.1) }, from: f, prefix: "m.", file: "optimizer.safetensors",
            dir: dir)
        try loadParameters(
            zip(named, vs).map { ($0.0.0, $0.1) }, from: f, prefix: "v.", file: "optimizer.safetensors",
            dir: dir)
        s.optimizer.load(step: adamStep, m: ms, v: vs)
        var history: [StepMetrics] = []
        let text =
            BoundedFile.exists(folder + "/metrics.jsonl")
            ? try readFile(folder, "metrics.jsonl", dir: dir, limit: maxMetricsBytes) : []
        let dec = decoder
        for (n, line) in text.split(separator: UInt8(ascii: "\n")).enumerated() {
            guard let m = try? dec.decode(StepMetrics.self, from: Data(line)) else {
                throw CheckpointError.malformed(
                    dir: dir, file: "metrics.jsonl", reason: "line \(n + 1) is not a step record")
            }
            history.append(m)
        }
        s.restore(step: step, lrScale: scale, history: history)
        return s
    }
}

extension LanguageSession {
    func restore(step: Int, lrScale: Float, history: [StepMetrics]) {
        self.step = step
        divergence.resume(lrScale: lrScale)
        self.history = history.filter { $0.step < step }
        divergence.remember(step: step)
    }

    /// Saves to `directory` (if set) and records the event. Callers save only sound states (see
    /// `isSound` and `restoreLastGood`).
    public func save() throws {
        guard let d = directory else { return }
        try LanguageSessionDirectory.save(self, to: d)
        events.append(.saved(step: step))
    }
}
