// Command-line plumbing shared by every command: negative numbers as option values, the path of the
// command being run (for error lines), and text from files made safe to print on a terminal.
#if canImport(Glibc)
    @preconcurrency import Glibc  // stdout is a C global; imported first so Foundation's re-export does not win
#endif
import ArgumentParser
import Foundation

enum Arguments {
    /// `--steps -1` becomes `--steps=-1`: the parser would otherwise read "-1" as a flag and report a
    /// missing value, hiding the real problem (a negative number) behind the wrong message.
    static func normalized(_ args: [String]) -> [String] {
        var out: [String] = []
        var i = 0
        while i < args.count {
            let a = args[i]
            if a == "--" {
                out += args[i...]
                break
            }
            if a.hasPrefix("--"), !a.contains("="), i + 1 < args.count, looksNegative(args[i + 1]) {
                out.append(a + "=" + args[i + 1])
                i += 2
                continue
            }
            out.append(a)
            i += 1
        }
        return out
    }

    static func looksNegative(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard u.count >= 2, u[0] == UInt8(ascii: "-") else { return false }
        let c = u[1]
        return (0x30...0x39).contains(c) || (c == UInt8(ascii: ".") && u.count >= 3 && (0x30...0x39).contains(u[2]))
            || s == "-inf" || s == "-nan"
    }

    /// "orrery train gpt": the subcommands named at the start of `args`.
    static func commandPath(_ args: [String]) -> String {
        var path = ["orrery"]
        var current: [ParsableCommand.Type] = Orrery.configuration.subcommands
        for a in args {
            guard let next = current.first(where: { $0._commandName == a }) else { break }
            path.append(a)
            current = next.configuration.subcommands
        }
        return path.joined(separator: " ")
    }
}

enum TerminalText {
    /// Text from a file or a user, safe to print: control characters (C0, DEL, C1), which could move
    /// the cursor or change the terminal's state, and bidirectional overrides, which could make text
    /// read differently from what it is, are shown as \u{…} escapes.
    static func safe(_ s: String) -> String {
        var out = ""
        out.unicodeScalars.reserveCapacity(s.unicodeScalars.count)
        for u in s.unicodeScalars {
            let v = u.value
            let control = v < 0x20 || (0x7F...0x9F).contains(v)
            let bidi = (0x202A...0x202E).contains(v) || (0x2066...0x2069).contains(v) || v == 0x200E || v == 0x200F
            if control || bidi { out += "\\u{" + String(v, radix: 16) + "}" } else { out.unicodeScalars.append(u) }
        }
        return out
    }
}

/// Standard output that reports a failed write (a full disk, a file-size limit) instead of finishing
/// "successfully" with nothing written. A closed pipe (`| head`) ends the command quietly with status
/// 141, as SIGPIPE would, but only after a training run has saved its work.
/// The C library's stdout stream, read once (a C global; the process uses it from the main thread).
nonisolated(unsafe) let standardOut: UnsafeMutablePointer<FILE> = stdout

enum StandardOutput {
    struct Failure: Error, CustomStringConvertible {
        let reason: String
        let brokenPipe: Bool
        var description: String { "cannot write to standard output: \(reason) (stdout)" }
    }

    /// Whether a write to stdout has failed so far.
    static var failed: Bool { fflush(standardOut) != 0 || ferror(standardOut) != 0 }

    /// Throws if a write to stdout has failed so far.
    static func check() throws {
        guard failed else { return }
        if readerIsGone() { throw Failure(reason: String(cString: strerror(EPIPE)), brokenPipe: true) }
        // errno may be stale by now; name it only when it is a write error.
        let writeErrors: Set<Int32> = [ENOSPC, EFBIG, EIO, EDQUOT, EBADF, EROFS, EINVAL]
        let reason = writeErrors.contains(errno) ? String(cString: strerror(errno)) : "write error"
        throw Failure(reason: reason, brokenPipe: false)
    }

    /// True when stdout is a pipe or socket whose reading end has been closed (poll reports an error).
    static func readerIsGone() -> Bool {
        var st = stat()
        guard fstat(1, &st) == 0, (st.st_mode & S_IFMT) == S_IFIFO || (st.st_mode & S_IFMT) == S_IFSOCK else {
            return false
        }
        var p = pollfd(fd: 1, events: Int16(POLLOUT), revents: 0)
        return poll(&p, 1, 0) == 1 && (p.revents & Int16(POLLERR | POLLHUP)) != 0
    }
}

/// Reads lines from standard input with a length cap, so an endless line (`< /dev/zero`) is an error,
/// not unbounded memory.
struct LineReader {
    let maxBytes: Int
    var bytes: [UInt8] = []

    init(maxBytes: Int = 1 << 16) { self.maxBytes = maxBytes }

    /// The next line without its newline, nil at end of input.
    mutating func next() throws -> String? {
        bytes.removeAll(keepingCapacity: true)
        while true {
            let c = getchar()
            if c == EOF { return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self) }
            if c == 0x0A { return String(decoding: bytes, as: UTF8.self) }
            if bytes.count >= maxBytes {
                throw CLIError("an input line is longer than \(maxBytes) bytes (standard input)")
            }
            bytes.append(UInt8(truncatingIfNeeded: c))
        }
    }
}
