// A session directory: one lab session saved as a unit that is either wholly the previous save or
// wholly the new one — never a mix — whatever happens during a save (a full disk, kill -9, power loss
// after the rename reached the disk).
//
//   DIR/CURRENT            one line naming the complete snapshot, e.g. "step-00000040"
//   DIR/step-00000040/     config.json, tokenizer.json, model.safetensors, … (the lab decides the files)
//
// A save writes every file into a hidden DIR/.partial-… directory, fsyncs each file and the directory,
// renames it to its final name, then replaces CURRENT atomically (temp file, fsync, rename, fsync of
// DIR). Only after CURRENT names the new snapshot is the previous one removed. A save that fails or is
// killed leaves CURRENT naming the previous snapshot; its leftovers are removed by the next save.
// Reading also accepts the flat layout (the files directly in DIR), which the shipped models use.
import Formats
import Foundation

/// Why a session directory cannot be read or written.
public enum CheckpointError: Error, Equatable, CustomStringConvertible {
    case notASession(dir: String)
    case notADirectory(dir: String)
    case alreadyExists(dir: String)
    case notEmpty(dir: String)
    case missingFile(dir: String, file: String)
    case unreadable(dir: String, file: String, reason: String)
    case malformed(dir: String, file: String, reason: String)
    case wrongFormat(dir: String, found: String)
    case stepMismatch(dir: String, file: String, fileStep: String, sessionStep: Int)
    case invalidConfig(dir: String, reason: String)
    case missingTensor(dir: String, file: String, tensor: String)
    case unexpectedTensor(dir: String, file: String, tensor: String)
    case shapeMismatch(dir: String, file: String, tensor: String, found: [Int], expected: [Int])
    case nonFinite(dir: String, file: String, tensor: String)
    case tooLarge(dir: String, reason: String)
    case writeFailed(dir: String, reason: String)

    public var description: String {
        switch self {
        case .notASession(let d): return "not a session directory: no CURRENT or config.json (\(d))"
        case .notADirectory(let d): return "session path exists and is not a directory (\(d))"
        case .alreadyExists(let d):
            return
                "a session is already saved there; pass --force to replace it (language lab: or --resume to continue it) (\(d))"
        case .notEmpty(let d): return "directory is not empty and holds no session; choose a new or empty one (\(d))"
        case .missingFile(let d, let f): return "session has no \(f) (\(d))"
        case .unreadable(let d, let f, let r): return "cannot read \(f): \(r) (\(d))"
        case .malformed(let d, let f, let r): return "\(f): \(r) (\(d))"
        case .wrongFormat(let d, let found): return "config.json is not an Orrery session (format \(found)) (\(d))"
        case .stepMismatch(let d, let f, let fs, let s):
            return "\(f) is from step \(fs), config.json from step \(s) (\(d))"
        case .invalidConfig(let d, let r): return "config.json: \(r) (\(d))"
        case .missingTensor(let d, let f, let t): return "\(f): missing tensor \(t) (\(d))"
        case .unexpectedTensor(let d, let f, let t): return "\(f): unexpected tensor \(t) (\(d))"
        case .shapeMismatch(let d, let f, let t, let found, let expected):
            return "\(f): \(t) has shape \(found), the model needs \(expected) (\(d))"
        case .nonFinite(let d, let f, let t): return "\(f): tensor \(t) holds NaN or infinite values (\(d))"
        case .tooLarge(let d, let r): return "\(r) (\(d))"
        case .writeFailed(let d, let r): return "cannot save the session: \(r) (\(d))"
        }
    }
}

public enum SessionDirectory {
    public static let pointerName = "CURRENT"
    static let partialPrefix = ".partial-"
    static let lockName = ".lock"

    /// An exclusive hold on a session directory (flock on DIR/.lock), so two processes never save into
    /// one directory at once. Released when the object goes away (or the process ends).
    public final class Lock {
        let fd: Int32
        let dir: String
        init(fd: Int32, dir: String) {
            self.fd = fd
            self.dir = dir
        }
        deinit {
            SessionDirectory.held.update { $0.remove(dir) }
            close(fd)
        }
    }

    /// Directories this process holds a lock on (a save from the same process needs no second lock).
    static let held = LatestValue(Set<String>())

    /// Takes the directory's lock, or throws if another process holds it.
    public static func lock(_ dir: String) throws -> Lock {
        let key = canonical(dir)
        let fd = open(dir + "/" + lockName, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw CheckpointError.writeFailed(
                dir: dir, reason: "cannot create its lock file: \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw CheckpointError.writeFailed(dir: dir, reason: "another orrery process is saving into this directory")
        }
        held.update { $0.insert(key) }
        return Lock(fd: fd, dir: key)
    }

    static func canonical(_ dir: String) -> String {
        URL(fileURLWithPath: dir).standardizedFileURL.resolvingSymlinksInPath().path
    }

    /// mkdir -p with the system's reason on failure (not Foundation's "The operation could not be completed").
    static func makeDirectories(_ dir: String) throws {
        guard !dir.isEmpty else { throw CheckpointError.writeFailed(dir: dir, reason: "the directory path is empty") }
        var path = dir.hasPrefix("/") ? "" : "."
        for part in dir.split(separator: "/", omittingEmptySubsequences: true) {
            path += "/" + part
            var st = stat()
            if stat(path, &st) == 0 {
                guard (st.st_mode & S_IFMT) == S_IFDIR else {
                    throw CheckpointError.writeFailed(
                        dir: dir, reason: "cannot create the directory: \(path) is a \(BoundedFile.kind(st.st_mode))")
                }
                continue
            }
            if mkdir(path, 0o755) != 0 && errno != EEXIST {
                throw CheckpointError.writeFailed(
                    dir: dir, reason: "cannot create the directory: \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Whether `dir` holds a saved session (either layout).
    public static func holdsSession(_ dir: String) -> Bool {
        BoundedFile.exists(dir + "/" + pointerName) || BoundedFile.exists(dir + "/config.json")
    }

    /// The folder holding the current snapshot's files: `DIR/<CURRENT>`, or DIR itself (flat layout).
    public static func current(_ dir: String) throws -> String {
        var st = stat()
        guard stat(dir, &st) == 0 else { throw CheckpointError.notASession(dir: dir) }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { throw CheckpointError.notADirectory(dir: dir) }
        let pointer = dir + "/" + pointerName
        if BoundedFile.exists(pointer) {
            let bytes: [UInt8]
            do { bytes = try BoundedFile.read(pointer, limit: 256) } catch {
                throw CheckpointError.unreadable(dir: dir, file: pointerName, reason: "\(error)")
            }
            let name = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard isSnapshotName(name) else {
                throw CheckpointError.malformed(dir: dir, file: pointerName, reason: "does not name a snapshot folder")
            }
            let path = dir + "/" + name
            guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
                throw CheckpointError.malformed(dir: dir, file: pointerName, reason: "names \(name), which is missing")
            }
            return path
        }
        if BoundedFile.exists(dir + "/config.json") { return dir }
        throw CheckpointError.notASession(dir: dir)
    }

    /// "step-" then digits, optionally "-" and digits: never a path.
    static func isSnapshotName(_ s: String) -> Bool {
        guard s.hasPrefix("step-"), s.count <= 40 else { return false }
        let rest = s.dropFirst(5).split(separator: "-", omittingEmptySubsequences: false)
        return (1...2).contains(rest.count)
            && rest.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }
    }

    /// Checks, before any work is done, that a new session can be saved at `dir`: creates it if needed,
    /// refuses a path that is a file, a directory holding a session (unless `replace`) or other files,
    /// and proves the directory writable with a probe file.
    public static func prepareNew(_ dir: String, replace: Bool) throws {
        guard !dir.isEmpty else { throw CheckpointError.writeFailed(dir: dir, reason: "the directory path is empty") }
        var st = stat()
        if stat(dir, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFDIR else { throw CheckpointError.notADirectory(dir: dir) }
            if holdsSession(dir) {
                if !replace { throw CheckpointError.alreadyExists(dir: dir) }
            } else if let items = try? FileManager.default.contentsOfDirectory(atPath: dir),
                !items.filter({ $0 != lockName }).isEmpty
            {
                throw CheckpointError.notEmpty(dir: dir)
            }
        } else {
            try makeDirectories(dir)
        }
        try probeWritable(dir)
    }

    /// Proves that files can be created in `dir` (a read-only mount fails here, not after training).
    public static func probeWritable(_ dir: String) throws {
        let probe = dir + "/\(partialPrefix)probe-\(getpid())"
        let fd = open(probe, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw CheckpointError.writeFailed(
                dir: dir, reason: "the directory is not writable: \(String(cString: strerror(errno)))")
        }
        close(fd)
        unlink(probe)
    }

    /// Saves `files` (name → bytes) as the snapshot of `step`, atomically as a whole (see the header).
    public static func commit(_ files: [(name: String, bytes: [UInt8])], step: Int, to dir: String) throws {
        let fm = FileManager.default
        var st = stat()
        if stat(dir, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFDIR else { throw CheckpointError.notADirectory(dir: dir) }
        } else {
            try makeDirectories(dir)
        }
        // One writer at a time: take the lock unless this process already holds it for a whole run.
        let lock = held.get().contains(canonical(dir)) ? nil : try SessionDirectory.lock(dir)
        defer { withExtendedLifetime(lock) {} }
        let existing = (try? fm.contentsOfDirectory(atPath: dir)) ?? []
        for item in existing where item.hasPrefix(partialPrefix) { try? fm.removeItem(atPath: dir + "/" + item) }
        var name = String(format: "step-%08d", step)
        var k = 1
        while existing.contains(name) {
            name = String(format: "step-%08d-%d", step, k)
            k += 1
        }
        let partial = dir + "/" + partialPrefix + name + "-\(getpid())"
        guard mkdir(partial, 0o755) == 0 else {
            throw CheckpointError.writeFailed(
                dir: dir, reason: "cannot create \(partial): \(String(cString: strerror(errno)))")
        }
        do {
            for f in files { try writeDurably(f.bytes, to: partial + "/" + f.name) }
            try fsyncPath(partial)
            guard rename(partial, dir + "/" + name) == 0 else {
                throw CheckpointError.writeFailed(
                    dir: dir, reason: "cannot rename the snapshot: \(String(cString: strerror(errno)))")
            }
        } catch {
            try? fm.removeItem(atPath: partial)
            throw error
        }
        do {
            try fsyncPath(dir)
            try AtomicFile.write(Array((name + "\n").utf8), to: dir + "/" + pointerName)
        } catch {
            try? fm.removeItem(atPath: dir + "/" + name)
            if let e = error as? CheckpointError { throw e }
            throw CheckpointError.writeFailed(dir: dir, reason: "cannot switch \(pointerName): \(reason(error))")
        }
        // The new snapshot is current: drop older snapshots and any flat-layout files.
        for item in existing where item != name && (isSnapshotName(item) || flatFiles.contains(item)) {
            try? fm.removeItem(atPath: dir + "/" + item)
        }
    }

    static let flatFiles: Set<String> = [
        "config.json", "tokenizer.json", "model.safetensors", "optimizer.safetensors",
        "metrics.jsonl",
    ]

    static func reason(_ error: Error) -> String {
        if let e = error as? CocoaError, let u = e.userInfo[NSUnderlyingErrorKey] as? NSError,
            let posix = POSIXErrorCode(rawValue: Int32(u.code))
        {
            return String(cString: strerror(posix.rawValue))
        }
        if let e = error as? AtomicFile.WriteError { return e.reason }
        return (error as NSError).localizedDescription
    }

    static func writeDurably(_ bytes: [UInt8], to path: String) throws {
        let file = (path as NSString).lastPathComponent
        let dir = (path as NSString).deletingLastPathComponent
        func fail(_ what: String) -> CheckpointError {
            .writeFailed(dir: dir, reason: "\(what) \(file): \(String(cString: strerror(errno)))")
        }
        let fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw fail("cannot create") }
        defer { close(fd) }
        var written = 0
        try bytes.withUnsafeBytes { raw in
            while written < raw.count {
                let r = write(fd, raw.baseAddress! + written, raw.count - written)
                if r < 0 {
                    if errno == EINTR { continue }
                    throw fail("cannot write")
                }
                written += r
            }
        }
        guard fsync(fd) == 0 else { throw fail("cannot flush") }
    }

    static func fsyncPath(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        _ = fsync(fd)
    }
}
