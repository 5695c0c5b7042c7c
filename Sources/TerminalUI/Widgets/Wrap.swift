// Word wrapping to a column width (hard breaks at newlines, long words cut).
/// Wraps text to `width` terminal columns (a wide character takes two; hard breaks at newlines).
public func wrap(_ s: String, width: Int) -> [String] {
    guard width > 0 else { return [] }
    var out: [String] = []
    for line in s.split(separator: "\n", omittingEmptySubsequences: false) {
        var cur = ""
        for word in line.split(separator: " ", omittingEmptySubsequences: false) {
            let w = String(word)
            if cur.isEmpty {
                cur = w
            } else if cur.terminalColumns + 1 + w.terminalColumns <= width {
                cur += " " + w
            } else {
                out.append(cur)
                cur = w
            }
            while cur.terminalColumns > width {
                // The longest prefix that fits (at least one character, so that the loop ends).
                var cut = cur.startIndex
                var used = 0
                while cut < cur.endIndex, used + cur[cut].terminalColumns <= width {
                    used += cur[cut].terminalColumns
                    cut = cur.index(after: cut)
                }
                if cut == cur.startIndex { cut = cur.index(after: cut) }
                out.append(String(cur[..<cut]))
                cur = String(cur[cut...])
            }
        }
        out.append(cur)
    }
    return out
}

/// `s` cut to `columns` terminal columns with a mark at the end ("…", or "~" in ASCII), so a cut
/// line says it was cut; `s` itself when it fits.
public func elided(_ s: String, columns: Int, unicode: Bool = true) -> String {
    guard columns > 0 else { return "" }
    if s.terminalColumns <= columns { return s }
    var out = ""
    var used = 0
    for c in s {
        let w = c.terminalColumns
        if used + w > columns - 1 { break }
        out.append(c)
        used += w
    }
    return out + (unicode ? "…" : "~")
}
