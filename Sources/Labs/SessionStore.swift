// A session directory: config.json (format, step, config), tokenizer.json, model.safetensors,
// optimizer.safetensors, metrics.jsonl. Every file is written atomically and stamped with the step;
// loading checks that all files agree, so a save interrupted between files is detected, not mixed.
import Compute
import Formats
import Foundation
import Models
import NN

public enum LanguageCheckpoint {
    public static let format = "orrery-language-session-1"

    static func json(_ o: Any) throws -> [UInt8] {
        Array(try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .prettyPrinted]))
    }

    /// Writes the session into its directory (created if needed).
    public static func save(_ s: LanguageSession, to dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let stepS = "\(s.step)"
        let named = s.model.namedParameters()
        try SafetensorsWriter.write(named.map { .init($0.0, $0.1) }, metadata: ["step": stepS, "format": format],
                                    to: dir + "/model.safetensors")
        var opt: [SafetensorsWriter.Item] = []
        for (i, (name, _)) in named.enumerated() {
            opt.append(.init("m." + name, s.optimizer.m[i])); opt.append(.init("v." + name, s.optimizer.v[i]))
        }
        try SafetensorsWriter.write(opt, metadata: ["step": stepS, "adam_step": "\(s.optimizer.stepCount)",
                                                    "lr_scale": "\(s.lrScale)"], to: dir + "/optimizer.safetensors")
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        var lines = ""
        for m in s.history { lines += String(decoding: try enc.encode(m), as: UTF8.self) + "\n" }
        try AtomicFile.write(Array(lines.utf8), to: dir + "/metrics.jsonl")
        try AtomicFile.write(try json(s.tokenizer.json()), to: dir + "/tokenizer.json")
        let cfg = try JSONSerialization.jsonObject(with: try enc.encode(s.config))
        try AtomicFile.write(try json(["format": format, "step": s.step, "config": cfg]), to: dir + "/config.json")
    }

    /// Reads config, tokenizer and weights (everything inference needs), validating each file.
    public static func loadModel(_ dir: String) throws -> (LMConfig, Tokenizer, LanguageModel, step: Int) {
        func bad(_ why: String) -> SessionError { .invalidCheckpoint(dir, why) }
        guard let cdata = FileManager.default.contents(atPath: dir + "/config.json") else { throw bad("no config.json") }
        guard let cobj = try? JSONSerialization.jsonObject(with: cdata) as? [String: Any] else { throw bad("config.json is not a JSON object") }
        guard cobj["format"] as? String == format else { throw bad("config.json is not an Orrery language session (format \(cobj["format"] ?? "missing"))") }
        guard let step = cobj["step"] as? Int, step >= 0 else { throw bad("config.json has no step") }
        let config: LMConfig
        do {
            config = try JSONDecoder().decode(LMConfig.self, from: try JSONSerialization.data(withJSONObject: cobj["config"] ?? [:]))
            try LanguageSession.validate(config)
        } catch { throw bad("config.json: \(error)") }
        guard let tdata = FileManager.default.contents(atPath: dir + "/tokenizer.json"),
              let tobj = try? JSONSerialization.jsonObject(with: tdata) as? [String: Any] else { throw bad("tokenizer.json missing or not JSON") }
        let tok: Tokenizer
        do { tok = try TokenizerFile.load(tobj) } catch { throw bad("tokenizer.json: \(error)") }
        let model = LanguageSession.makeModel(config, vocab: tok.vocabSize)
        let f: SafetensorsFile
        do { f = try SafetensorsFile(path: dir + "/model.safetensors") } catch { throw bad("model.safetensors: \(error)") }
        guard f.metadata["step"] == "\(step)" else { throw bad("model.safetensors is from step \(f.metadata["step"] ?? "?"), config.json from step \(step)") }
        try loadParameters(model.namedParameters(), from: f, prefix: "", what: "model.safetensors", dir: dir)
        return (config, tok, model, step)
    }

    static func loadParameters(_ named: [(String, Tensor)], from f: SafetensorsFile, prefix: String, what: String, dir: String) throws {
        let expected = Set(named.map { prefix + $0.0 }), found = Set(f.entries.map(\.name).filter { $0.hasPrefix(prefix) })
        if let extra = found.subtracting(expected).sorted().first { throw SessionError.invalidCheckpoint(dir, "\(what): unexpected tensor \(extra)") }
        for (name, p) in named {
            guard let e = f.entry(prefix + name) else { throw SessionError.invalidCheckpoint(dir, "\(what): missing tensor \(prefix + name)") }
            guard e.shape == p.shape else {
                throw SessionError.invalidCheckpoint(dir, "\(what): \(prefix + name) has shape \(e.shape), the model needs \(p.shape)")
            }
            let t: Tensor
            do { t = try f.tensor(e) } catch { throw SessionError.invalidCheckpoint(dir, "\(what): \(error)") }
            p.assign(t)
        }
    }

    /// Restores a whole session to continue training exactly where it stopped.
    public static func resume(_ dir: String) throws -> LanguageSession {
        let (config, tok, model, step) = try loadModel(dir)
        let s = try LanguageSession(config: config, tokenizer: tok, model: model, directory: dir)
        let f: SafetensorsFile
        do { f = try SafetensorsFile(path: dir + "/optimizer.safetensors") } catch {
            throw SessionError.invalidCheckpoint(dir, "optimizer.safetensors: \(error)")
        }
        guard f.metadata["step"] == "\(step)" else { throw SessionError.invalidCheckpoint(dir, "optimizer.safetensors is from another step") }
        guard let adamStep = f.metadata["adam_step"].flatMap(Int.init), let scale = f.metadata["lr_scale"].flatMap(Float.init) else {
            throw SessionError.invalidCheckpoint(dir, "optimizer.safetensors lacks adam_step or lr_scale")
        }
        let named = model.namedParameters()
        let ms = named.map { Tensor.zeros($0.1.shape) }, vs = named.map { Tensor.zeros($0.1.shape) }
        try loadParameters(zip(named, ms).map { ($0.0.0, $0.1) }, from: f, prefix: "m.", what: "optimizer.safetensors", dir: dir)
        try loadParameters(zip(named, vs).map { ($0.0.0, $0.1) }, from: f, prefix: "v.", what: "optimizer.safetensors", dir: dir)
        s.optimizer.load(step: adamStep, m: ms, v: vs)
        var history: [StepMetrics] = []
        if let text = FileManager.default.contents(atPath: dir + "/metrics.jsonl") {
            for line in text.split(separator: UInt8(ascii: "\n")) {
                guard let m = try? JSONDecoder().decode(StepMetrics.self, from: Data(line)) else {
                    throw SessionError.invalidCheckpoint(dir, "metrics.jsonl has a malformed line")
                }
                history.append(m)
            }
        }
        s.restore(step: step, lrScale: scale, history: history)
        return s
    }
}

extension LanguageSession {
    func restore(step: Int, lrScale: Float, history: [StepMetrics]) {
        self.step = step; self.lrScale = lrScale; self.history = history.filter { $0.step < step }
        snapshotGood()
    }

    /// Saves to `directory` (if set) and records the event.
    public func save() throws {
        guard let d = directory else { return }
        try LanguageCheckpoint.save(self, to: d)
        events.append(.saved(step: step))
    }
}
