// What the terminal must be told between two frames: only the cells that changed. A frame of another
// size (or the first frame) repaints everything. The ncurses backend sends exactly these cells.
public enum BufferDiff {
    public struct Change: Equatable, Sendable {
        public let x: Int, y: Int
        public let cell: Cell
    }

    /// True when `new` cannot be drawn as changes over `old` (first frame or a resize): clear first.
    public static func needsFullRepaint(from old: Buffer?, to new: Buffer) -> Bool {
        guard let old else { return true }
        return old.width != new.width || old.height != new.height
    }

    /// The cells of `new` that differ from `old` (every cell when a full repaint is needed), row by row.
    public static func changes(from old: Buffer?, to new: Buffer) -> [Change] {
        let full = needsFullRepaint(from: old, to: new)
        var out: [Change] = []
        for y in 0..<new.height {
            for x in 0..<new.width {
                let c = new.cells[y * new.width + x]
                if !full, let old, old.cells[y * new.width + x] == c { continue }
                out.append(Change(x: x, y: y, cell: c))
            }
        }
        return out
    }

    /// The changes a terminal is sent: in UTF-8 a wide character's right half is left out (the
    /// character draws both columns, and the buffer changes the two together); without UTF-8 a wide
    /// character is drawn as one placeholder per column, its half included.
    public static func drawn(from old: Buffer?, to new: Buffer, unicode: Bool) -> [Change] {
        let all = changes(from: old, to: new)
        return unicode ? all.filter { $0.cell.ch != Cell.wideTail } : all
    }
}
