// Session directories of the image labs (GAN, VQ autoencoder, VQ prior): config.json (the manifest)
// and model.safetensors holding every network's parameters and buffers under a prefix
// ("generator.", "critic.", …). The same atomic snapshots and the same validation as the language
// lab: format and lab checked first, the configuration validated before any network is built, every
// tensor's name, shape and finiteness checked before any is copied in.
import Foundation
import Formats
import NN

/// A configuration an image lab can save and validate.
public protocol ImageLabConfig: Codable, Equatable, Sendable {
    func validate() throws
}

public enum ImageCheckpoint {
    static let maxJSONBytes = 1 << 20

    /// Writes config.json and model.safetensors as one snapshot of `dir`.
    public static func save<C: ImageLabConfig>(
        format: String, lab: String, step: Int, config: C, networks: [(prefix: String, module: Module)],
        metrics: [String: Double]? = nil, extra: [(name: String, bytes: [UInt8])] = [], to dir: String
    ) throws {
        var files: [(name: String, bytes: [UInt8])] = []
        do {
            var items: [SafetensorsWriter.Item] = []
            for (prefix, m) in networks {
                for (name, t) in m.namedState() { items.append(SafetensorsWriter.Item(prefix + name, t)) }
            }
            files.append(
                (
                    "model.safetensors",
                    try SafetensorsWriter.encode(items, metadata: ["step": "\(step)", "format": format])
                ))
            let manifest = SessionManifest(format: format, lab: lab, step: step, config: config, metrics: metrics)
            files.append(("config.json", try manifest.encoded()))
        } catch {
            throw CheckpointError.writeFailed(dir: dir, reason: "cannot encode the session: \(error)")
        }
        try SessionDirectory.commit(files + extra, step: step, to: dir)
    }

    /// Reads and checks a snapshot's manifest; returns it with the snapshot's weights file.
    public static func open<C: ImageLabConfig>(
        _ type: C.Type, format: String, lab: String, files: SnapshotFiles
    ) throws -> (manifest: SessionManifest<C>, weights: SafetensorsFile) {
        let dir = files.label
        let bytes = try files.read("config.json", maxJSONBytes)
        _ = try LanguageSessionDirectory.strictObject(bytes, file: "config.json", dir: dir)
        if case .object(let top)? = try? StrictJSONParser.parse(bytes) {
            switch top.first(where: { $0.0 == "format" })?.1 {
            case .string(let f)? where f == format: break
            case .string(let f)?: throw CheckpointError.wrongFormat(dir: dir, found: f)
            case let other?: throw CheckpointError.wrongFormat(dir: dir, found: String(other.serialized.prefix(40)))
            case nil: throw CheckpointError.wrongFormat(dir: dir, found: "missing")
            }
        }
        let manifest: SessionManifest<C>
        do {
            manifest = try LanguageSessionDirectory.decoder.decode(SessionManifest<C>.self, from: Data(bytes))
        } catch {
            throw CheckpointError.invalidConfig(dir: dir, reason: LanguageSessionDirectory.describe(error))
        }
        if let l = manifest.lab, l != lab {
            throw CheckpointError.invalidConfig(
                dir: dir, reason: "the session belongs to the \(l) lab, not the \(lab) lab")
        }
        guard manifest.step >= 0 else { throw CheckpointError.invalidConfig(dir: dir, reason: "\"step\" is negative") }
        do { try manifest.config.validate() } catch let e as SessionError {
            throw CheckpointError.invalidConfig(dir: dir, reason: e.reason)
        }
        let f: SafetensorsFile
        do { f = try files.safetensors("model.safetensors") } catch {
            throw CheckpointError.malformed(
                dir: dir, file: "model.safetensors", reason: LanguageSessionDirectory.reason(error))
        }
        guard f.metadata["step"] == "\(manifest.step)" else {
            throw CheckpointError.stepMismatch(
                dir: dir, file: "model.safetensors", fileStep: f.metadata["step"] ?? "?", sessionStep: manifest.step)
        }
        return (manifest, f)
    }

    /// Copies every network's parameters and buffers from the weights file, after checking all of them:
    /// no tensor missing or extra, shapes equal, values finite.
    public static func restore(
        _ networks: [(prefix: String, module: Module)], from f: SafetensorsFile, label dir: String
    ) throws {
        let file = "model.safetensors"
        var expected: [String: Tensor] = [:]
        for (prefix, m) in networks { for (name, t) in m.namedState() { expected[prefix + name] = t } }
        if let extra = f.entries.map(\.name).filter({ expected[$0] == nil }).sorted().first {
            throw CheckpointError.unexpectedTensor(dir: dir, file: file, tensor: extra)
        }
        var pairs: [(Tensor, Tensor)] = []
        for (name, p) in expected.sorted(by: { $0.key < $1.key }) {
            guard let e = f.entry(name) else { throw CheckpointError.missingTensor(dir: dir, file: file, tensor: name) }
            guard e.shape == p.shape else {
                throw CheckpointError.shapeMismatch(
                    dir: dir, file: file, tensor: name, found: e.shape, expected: p.shape)
            }
            let t: Tensor
            do { t = try f.tensor(e) } catch {
                throw CheckpointError.malformed(dir: dir, file: file, reason: "\(error)")
            }
            guard Kernels.allFinite(t) else { throw CheckpointError.nonFinite(dir: dir, file: file, tensor: name) }
            pairs.append((p, t))
        }
        for (p, t) in pairs { p.assign(t) }
    }

    /// The files of a session directory's current snapshot (retried once if a save replaces it).
    public static func directory(_ dir: String) throws -> SnapshotFiles {
        let folder = try SessionDirectory.current(dir)
        return SnapshotFiles(
            label: dir,
            read: { name, limit in try LanguageSessionDirectory.readFile(folder, name, dir: dir, limit: limit) },
            safetensors: { name in try SafetensorsFile(path: folder + "/" + name) })
    }

    /// The files of a model compiled into the binary.
    public static func embedded(_ label: String, _ files: [String: UnsafeRawBufferPointer]) -> SnapshotFiles {
        SnapshotFiles(
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
    }
}
