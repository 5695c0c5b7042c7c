import Foundation

/// A one-line progress bar on stderr, drawn only when stderr is a terminal.
final class Progress {
    let total: Int, label: String, enabled: Bool
    var lastDraw = Date.distantPast
    let start = Date()

    init(total: Int, label: String, enabled: Bool = true) {
        self.total = total
        self.label = label
        self.enabled = enabled && isatty(2) == 1
    }

    func update(_ done: Int, detail: String = "") {
        guard enabled else { return }
        let now = Date()
        if done < total && now.timeIntervalSince(lastDraw) < 0.1 { return }
        lastDraw = now
        let width = 30
        let filled = total > 0 ? width * done / total : width
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let pct = total > 0 ? 100 * done / total : 100
        let line = "\r\(label) \(bar) \(pct)% \(done)/\(total) \(detail)  "
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// Prints a line of its own (on stdout) without leaving a half-drawn bar behind it.
    func interject(_ line: String) {
        if enabled { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        print(line)
        lastDraw = .distantPast
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\n".utf8))
    }
}
