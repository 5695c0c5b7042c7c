// Atomic file replacement: write everything to a temp file in the destination directory, fsync it,
// rename it over the destination, fsync the directory. Any failure removes the temp file and leaves
// the previous file untouched. On Linux the temp file is created unnamed (O_TMPFILE) and only linked
// once complete, so even a killed process leaves nothing behind.
import Foundation

public enum AtomicFile {
    public struct WriteError: Error, CustomStringConvertible {
        public let path: String, reason: String
        public var description: String { "cannot write \(path): \(reason)" }
    }

    static func fail(_ path: String, _ what: String) -> WriteError {
        WriteError(path: path, reason: "\(what): \(String(cString: strerror(errno)))")
    }

    public static func write(_ bytes: [UInt8], to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        let base = url.lastPathComponent
        let tmpName = "\(dir)/.\(base).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        var st = stat()
        if lstat(path, &st) == 0 && (st.st_mode & S_IFMT) != S_IFREG {
            throw WriteError(path: path, reason: "exists and is not a regular file")
        }
        var linked = false
        #if os(Linux)
            var fd = open(dir, 0o20200000 | O_WRONLY | O_CLOEXEC, 0o644)  // 0o20200000: O_TMPFILE
        #else
            var fd: Int32 = -1
        #endif
        if fd < 0 {
            fd = open(tmpName, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw fail(path, "cannot create a temporary file in \(dir)") }
            linked = true
        }
        var ok = false
        defer {
            if fd >= 0 { close(fd) }
            if !ok && linked { unlink(tmpName) }
        }
        var written = 0
        try bytes.withUnsafeBytes { raw in
            while written < raw.count {
                let r = Foundation.write(fd, raw.baseAddress! + written, raw.count - written)
                if r < 0 {
                    if errno == EINTR { continue }
                    throw fail(path, "write failed")
                }
                written += r
            }
        }
        guard fsync(fd) == 0 else { throw fail(path, "fsync failed") }
        #if os(Linux)
            if !linked {
                guard linkat(AT_FDCWD, "/proc/self/fd/\(fd)", AT_FDCWD, tmpName, AT_SYMLINK_FOLLOW) == 0 else {
                    throw fail(path, "cannot link the temporary file")
                }
                linked = true
            }
        #endif
        guard rename(tmpName, path) == 0 else { throw fail(path, "cannot rename the temporary file into place") }
        ok = true
        let dfd = open(dir, O_RDONLY | O_DIRECTORY)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }
}
