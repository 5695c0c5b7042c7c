// Opening and reading files that a user, a flag or a hostile session directory names. Regular files
// only: the open uses O_NONBLOCK, so a FIFO named as a model or config file cannot block it, and the
// kind is checked on the opened descriptor (no window between a stat and the open). Reads are capped
// before any allocation.
import Foundation

public enum BoundedFileError: Error, Equatable, CustomStringConvertible {
    case missing(path: String)
    case notRegularFile(path: String, kind: String)
    case tooLarge(path: String, size: Int, limit: Int)
    case unreadable(path: String, reason: String)

    /// What went wrong, without the path.
    public var reason: String {
        switch self {
        case .missing: return "no such file"
        case .notRegularFile(_, let k): return "is a \(k), not a regular file"
        case .tooLarge(_, let s, let l): return "file of \(s) bytes exceeds the \(l)-byte limit"
        case .unreadable(_, let r): return "cannot read: \(r)"
        }
    }

    public var description: String {
        switch self {
        case .missing(let p): return "no such file (\(p))"
        case .notRegularFile(let p, let k): return "is a \(k), not a regular file (\(p))"
        case .tooLarge(let p, let s, let l): return "file of \(s) bytes exceeds the \(l)-byte limit (\(p))"
        case .unreadable(let p, let r): return "cannot read: \(r) (\(p))"
        }
    }
}

public enum BoundedFile {
    /// The kind of a file mode, in words.
    public static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFREG: return "regular file"
        case S_IFDIR: return "directory"
        case S_IFIFO: return "FIFO"
        case S_IFCHR, S_IFBLK: return "device"
        case S_IFSOCK: return "socket"
        case S_IFLNK: return "symbolic link"
        default: return "special file"
        }
    }

    /// Opens `path` read-only; throws unless it is a regular file. Returns the descriptor (blocking mode
    /// restored) and the file size. The caller closes the descriptor.
    public static func openRegular(_ path: String) throws -> (fd: Int32, size: Int) {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT || errno == ENOTDIR { throw BoundedFileError.missing(path: path) }
            throw BoundedFileError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw BoundedFileError.unreadable(path: path, reason: reason)
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw BoundedFileError.notRegularFile(path: path, kind: kind(st.st_mode))
        }
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0 { _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) }
        return (fd, Int(st.st_size))
    }

    /// The whole file, if it is a regular file of at most `limit` bytes.
    public static func read(_ path: String, limit: Int) throws -> [UInt8] {
        let (fd, size) = try openRegular(path)
        defer { close(fd) }
        guard size <= limit else { throw BoundedFileError.tooLarge(path: path, size: size, limit: limit) }
        var out = [UInt8](repeating: 0, count: size)
        var got = 0
        while got < size {
            let r = out.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress! + got, size - got) }
            if r < 0 {
                if errno == EINTR { continue }
                throw BoundedFileError.unreadable(path: path, reason: String(cString: strerror(errno)))
            }
            if r == 0 { break }  // the file shrank while we read it
            got += r
        }
        return got == size ? out : Array(out.prefix(got))
    }

    /// Whether something (of any kind) exists at `path`, without following a final symbolic link.
    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }
}
