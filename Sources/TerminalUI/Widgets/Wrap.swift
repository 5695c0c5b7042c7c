// Word wrapping to a column width (hard breaks at newlines, long words cut).
/// Wraps text to `width` columns (hard breaks at newlines).
public func wrap(_ s: String, width: Int) -> [String] {
    guard width > 0 else { return [] }
    var out: [String] = []
    for line in s.split(separator: "\n", omittingEmptySubsequences: false) {
        var cur = ""
        for word in line.split(separator: " ", omittingEmptySubsequences: false) {
            let w = String(word)
            if cur.isEmpty {
                cur = w
            } else if cur.count + 1 + w.count <= width {
                cur += " " + w
            } else {
                out.append(cur)
                cur = w
            }
            while cur.count > width {
                out.append(String(cur.prefix(width)))
                cur = String(cur.dropFirst(width))
            }
        }
        out.append(cur)
    }
    return out
}
