// Reading a user's text corpus safely: regular files only (a FIFO or device would block or never
// end), bounded size, and UTF-8 checked unless byte-level mode is asked for explicitly.
import Foundation

public enum CorpusError: Error, CustomStringConvertible, Equatable {
    case notFound(String), notRegularFile(String, String), empty(String), tooLarge(String, Int, Int)
    case notUTF8(String, offset: Int), binary(String, offset: Int), unreadable(String, String)
    public var description: String {
        switch self {
        case .notFound(let p): return "corpus not found (\(p))"
        case .notRegularFile(let p, let k): return "corpus is a \(k), not a regular file (\(p))"
        case .empty(let p): return "corpus is empty (\(p))"
        case .tooLarge(let p, let n, let lim): return "corpus is \(n) bytes; the limit is \(lim) bytes (\(p))"
        case .notUTF8(let p, let o): return "corpus is not valid UTF-8 at byte \(o); pass --bytes to train on raw bytes (\(p))"
        case .binary(let p, let o): return "corpus looks binary (NUL byte at \(o)); pass --bytes to train on raw bytes (\(p))"
        case .unreadable(let p, let why): return "cannot read corpus: \(why) (\(p))"
        }
    }
}

public enum CorpusLoader {
    public static let maxBytes = 64 << 20

    /// The file's bytes, validated. With `allowBytes`, binary and non-UTF-8 content is accepted.
    public static func load(_ path: String, allowBytes: Bool = false) throws -> [UInt8] {
        var st = stat()
        guard lstat(path, &st) == 0 || stat(path, &st) == 0 else { throw CorpusError.notFound(path) }
        if stat(path, &st) != 0 { throw CorpusError.notFound(path) }
        switch st.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw CorpusError.notRegularFile(path, "directory")
        case S_IFIFO: throw CorpusError.notRegularFile(path, "FIFO")
        case S_IFCHR, S_IFBLK: throw CorpusError.notRegularFile(path, "device")
        case S_IFSOCK: throw CorpusError.notRegularFile(path, "socket")
        default: throw CorpusError.notRegularFile(path, "special file")
        }
        let size = Int(st.st_size)
        if size == 0 { throw CorpusError.empty(path) }
        if size > maxBytes { throw CorpusError.tooLarge(path, size, maxBytes) }
        guard let fh = FileHandle(forReadingAtPath: path) else { throw CorpusError.unreadable(path, String(cString: strerror(errno))) }
        defer { try? fh.close() }
        let data = (try? fh.read(upToCount: maxBytes + 1)) ?? Data()
        let bytes = [UInt8](data)
        if bytes.isEmpty { throw CorpusError.empty(path) }
        if bytes.count > maxBytes { throw CorpusError.tooLarge(path, bytes.count, maxBytes) }
        if !allowBytes {
            if let z = bytes.firstIndex(of: 0) { throw CorpusError.binary(path, offset: z) }
            var i = 0
            while i < bytes.count {
                guard let (_, len) = UTF8ScanLite.scalarLength(bytes, i) else { throw CorpusError.notUTF8(path, offset: i) }
                i += len
            }
        }
        return bytes
    }
}

enum UTF8ScanLite {
    static func scalarLength(_ b: [UInt8], _ i: Int) -> (Void, Int)? {
        let c = b[i]
        if c < 0x80 { return ((), 1) }
        let len: Int
        switch c { case 0xC2...0xDF: len = 2; case 0xE0...0xEF: len = 3; case 0xF0...0xF4: len = 4; default: return nil }
        guard i + len <= b.count else { return nil }
        for k in 1..<len where b[i + k] & 0xC0 != 0x80 { return nil }
        if c == 0xE0 && b[i + 1] < 0xA0 { return nil }
        if c == 0xED && b[i + 1] > 0x9F { return nil }
        if c == 0xF0 && b[i + 1] < 0x90 { return nil }
        if c == 0xF4 && b[i + 1] > 0x8F { return nil }
        return ((), len)
    }
}
