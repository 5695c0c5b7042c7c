// Reading a user's text corpus safely: regular files only (a FIFO or device would block or never
// end), bounded size, and UTF-8 checked unless byte-level mode is asked for explicitly.
import Formats
import Foundation
import Models

public enum CorpusError: Error, CustomStringConvertible, Equatable {
    case notFound(String)
    case notRegularFile(String, String)
    case empty(String)
    case tooLarge(String, Int, Int)
    case notUTF8(String, offset: Int)
    case binary(String, offset: Int)
    case unreadable(String, String)
    public var description: String {
        switch self {
        case .notFound(let p): return "corpus not found (\(p))"
        case .notRegularFile(let p, let k): return "corpus is a \(k), not a regular file (\(p))"
        case .empty(let p): return "corpus is empty (\(p))"
        case .tooLarge(let p, let n, let lim): return "corpus is \(n) bytes; the limit is \(lim) bytes (\(p))"
        case .notUTF8(let p, let o):
            return "corpus is not valid UTF-8 at byte \(o); pass --bytes to train on raw bytes (\(p))"
        case .binary(let p, let o):
            return "corpus looks binary (NUL byte at \(o)); pass --bytes to train on raw bytes (\(p))"
        case .unreadable(let p, let why): return "cannot read corpus: \(why) (\(p))"
        }
    }
}

public enum CorpusLoader {
    public static let maxBytes = 64 << 20

    /// The file's bytes, validated. With `allowBytes`, binary and non-UTF-8 content is accepted.
    public static func load(_ path: String, allowBytes: Bool = false) throws -> [UInt8] {
        let bytes: [UInt8]
        do { bytes = try BoundedFile.read(path, limit: maxBytes) } catch let e as BoundedFileError {
            switch e {
            case .missing: throw CorpusError.notFound(path)
            case .notRegularFile(_, let kind): throw CorpusError.notRegularFile(path, kind)
            case .tooLarge(_, let size, let limit): throw CorpusError.tooLarge(path, size, limit)
            case .unreadable(_, let why): throw CorpusError.unreadable(path, why)
            }
        }
        if bytes.isEmpty { throw CorpusError.empty(path) }
        if !allowBytes {
            if let z = bytes.firstIndex(of: 0) { throw CorpusError.binary(path, offset: z) }
            var i = 0
            while i < bytes.count {
                guard let (_, len) = UTF8Scan.scalar(bytes, at: i) else { throw CorpusError.notUTF8(path, offset: i) }
                i += len
            }
        }
        return bytes
    }
}
