// Drives a terminal program in a private tmux server: send keys, read the screen.
import Foundation

/// One private tmux server (its own socket) running one window.
public final class Tmux {
    public let socket = "orrery-test-\(UUID().uuidString.prefix(8))"
    public let session = "t"

    public static var available: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux") || which("tmux") != nil
    }
    public static func which(_ cmd: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let p = "\(dir)/\(cmd)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    public static func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    /// Runs a tmux command through the shell (popen/system: Foundation's Process does not reap the
    /// tmux client that forks the server). The command that starts the server gets no pipe at all,
    /// since the daemon would keep it open and EOF would never come.
    @discardableResult
    public func tmux(_ args: [String], output: Bool = true) -> String {
        let cmd = (["tmux", "-L", socket] + args).map(Tmux.quote).joined(separator: " ") + " 2>/dev/null"
        if !output {
            _ = system(cmd + " >/dev/null </dev/null")
            return ""
        }
        guard let f = popen(cmd, "r") else { return "" }
        var out = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        pclose(f)
        return String(decoding: out, as: UTF8.self)
    }

    /// Starts `command` through bash with the given environment (TERM defaults to tmux-256color).
    public init(width: Int, height: Int, command: String, env: [String: String] = [:]) {
        var e = ["TERM": "tmux-256color", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"]
        for (k, v) in env { e[k] = v }
        let exports = e.map { "export \($0.key)='\($0.value)';" }.joined(separator: " ")
        tmux(
            [
                "new-session", "-d", "-s", session, "-x", "\(width)", "-y", "\(height)",
                "bash --norc --noprofile -c \"\(exports) \(command)\"",
            ], output: false)
    }

    public func keys(_ k: String...) { tmux(["send-keys", "-t", session] + k) }
    public func literal(_ s: String) { tmux(["send-keys", "-t", session, "-l", s]) }
    public func capture(escapes: Bool = false) -> String {
        tmux(["capture-pane", "-p"] + (escapes ? ["-e"] : []) + ["-t", session])
    }
    public func resize(_ w: Int, _ h: Int) { tmux(["resize-window", "-t", session, "-x", "\(w)", "-y", "\(h)"]) }
    public var panePID: Int32 {
        Int32(
            tmux(["display-message", "-p", "-t", session, "#{pane_pid}"]).trimmingCharacters(
                in: .whitespacesAndNewlines)) ?? 0
    }
    public var dead: Bool { tmux(["display-message", "-p", "-t", session, "#{pane_dead}"]).hasPrefix("1") }

    @discardableResult
    public func wait(for text: String, timeout: Double = 20) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if capture().contains(text) { return true }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return false
    }

    public func kill() { tmux(["kill-server"], output: false) }
}
