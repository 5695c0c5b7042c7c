// A single-line text field edited by grapheme cluster (é typed as e + ◌́ or as one scalar, 👍🏽 and
// 🇫🇷 each move and delete as one character): cursor movement, Ctrl-U, and a history of submitted
// lines on ↑/↓, as a shell's line editor has.
public struct TextField: Sendable, Equatable {
    public private(set) var characters: [Character] = []
    /// Cursor position: 0…characters.count (before that character).
    public private(set) var cursor = 0
    public private(set) var history: [String] = []
    var historyIndex: Int?
    var draft: [Character] = []
    public let maxCharacters: Int

    public init(maxCharacters: Int = 4096) { self.maxCharacters = maxCharacters }

    public var text: String { String(characters) }
    public var isEmpty: Bool { characters.isEmpty }

    public mutating func insert(_ c: Character) {
        guard characters.count < maxCharacters else { return }
        // A combining mark joins the character before it into one grapheme.
        if cursor > 0 {
            let joined: String = String(characters[cursor - 1]) + String(c)
            if joined.count == 1 {
                characters[cursor - 1] = Character(joined)
                return
            }
        }
        characters.insert(c, at: cursor)
        cursor += 1
    }

    public mutating func insert(_ s: String) { for c in s { insert(c) } }

    /// The editing keys every text input shares: characters, Backspace, Delete, ←/→, Home/End
    /// (and Ctrl-A/Ctrl-E), Ctrl-U to clear. Returns false for any other key (Enter, Esc, ↑/↓ …),
    /// which the screen handles.
    public mutating func edit(_ key: Key) -> Bool {
        switch key {
        case .char(let c): insert(c)
        case .backspace: backspace()
        case .delete: deleteForward()
        case .left: left()
        case .right: right()
        case .home, .ctrl("a"): home()
        case .end, .ctrl("e"): end()
        case .ctrl("u"): clear()
        default: return false
        }
        return true
    }

    public mutating func backspace() {
        guard cursor > 0 else { return }
        characters.remove(at: cursor - 1)
        cursor -= 1
    }

    public mutating func deleteForward() {
        guard cursor < characters.count else { return }
        characters.remove(at: cursor)
    }

    public mutating func left() { cursor = max(0, cursor - 1) }
    public mutating func right() { cursor = min(characters.count, cursor + 1) }
    public mutating func home() { cursor = 0 }
    public mutating func end() { cursor = characters.count }

    /// Ctrl-U: clears the line (as readline kills back to the start).
    public mutating func clear() {
        characters.removeAll()
        cursor = 0
    }

    public mutating func historyUp() {
        guard !history.isEmpty else { return }
        let i: Int
        if let h = historyIndex {
            i = max(0, h - 1)
        } else {
            draft = characters
            i = history.count - 1
        }
        historyIndex = i
        characters = Array(history[i])
        cursor = characters.count
    }

    public mutating func historyDown() {
        guard let h = historyIndex else { return }
        if h + 1 < history.count {
            historyIndex = h + 1
            characters = Array(history[h + 1])
        } else {
            historyIndex = nil
            characters = draft
        }
        cursor = characters.count
    }

    /// Returns the line (trimmed), records it in the history and empties the field.
    public mutating func submit() -> String {
        let line = text.trimmingCharacters(in: " ")
        if !line.isEmpty && history.last != line { history.append(line) }
        historyIndex = nil
        clear()
        return line
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}
