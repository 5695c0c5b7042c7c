// Strided iteration shared by elementwise kernels: up to three operands viewed with one shape and
// their own strides (0 = broadcast). Dimensions are coalesced first, so contiguous data becomes one
// long row; rows (or pieces of one long row) are split across the workers.

/// Up to three operands' strides over a common shape, coalesced into rows.
struct StridedPlan {
    var outer: [Int] = []  // sizes of all but the innermost dimension
    var outerStrides: [[Int]] = [[], [], []]
    var n = 1  // innermost length
    var inner = (0, 0, 0)  // innermost strides
    var rows = 1

    init(shape: [Int], _ s0: [Int], _ s1: [Int] = [], _ s2: [Int] = []) {
        let ops = [
            s0, s1.isEmpty ? [Int](repeating: 0, count: shape.count) : s1,
            s2.isEmpty ? [Int](repeating: 0, count: shape.count) : s2,
        ]
        var dims: [Int] = []
        var st: [[Int]] = [[], [], []]
        for d in 0..<shape.count where shape[d] != 1 {
            if let last = dims.last,
                (0..<3).allSatisfy({ st[$0].last! == ops[$0][d] * shape[d] })
            {
                dims[dims.count - 1] = last * shape[d]
                for k in 0..<3 { st[k][st[k].count - 1] = ops[k][d] }
            } else {
                dims.append(shape[d])
                for k in 0..<3 { st[k].append(ops[k][d]) }
            }
        }
        if shape.contains(0) {
            rows = 0
            n = 0
            return
        }
        if dims.isEmpty {
            n = 1
            inner = (0, 0, 0)
            rows = 1
            return
        }
        n = dims.removeLast()
        inner = (st[0].removeLast(), st[1].removeLast(), st[2].removeLast())
        outer = dims
        outerStrides = st
        rows = outer.reduce(1, *)
    }

    @inline(__always)
    func offsets(_ row: Int) -> (Int, Int, Int) {
        var r = row
        var o0 = 0
        var o1 = 0
        var o2 = 0
        var d = outer.count - 1
        while d >= 0 {
            let sz = outer[d]
            let i = r % sz
            r /= sz
            o0 += i * outerStrides[0][d]
            o1 += i * outerStrides[1][d]
            o2 += i * outerStrides[2][d]
            d -= 1
        }
        return (o0, o1, o2)
    }

    /// Calls body(o0, o1, o2, len) for every row segment; offsets are element offsets of the start.
    @inline(__always)
    func run(_ body: (Int, Int, Int, Int) -> Void) {
        let total = rows * n
        if total == 0 { return }
        let pieces = (rows >= Parallel.threads * 4 || n < 1 << 16) ? 1 : Parallel.threads
        let items = rows * pieces
        let perItem = max(1, n / pieces)
        let grain = max(1, (1 << 15) / perItem)
        let plan = self
        Parallel.forRanges(items, grain: grain) { range in
            for item in range {
                let row = item / pieces
                let piece = item % pieces
                let lo = n * piece / pieces
                let hi = n * (piece + 1) / pieces
                let (a, b, c) = plan.offsets(row)
                body(a + lo * plan.inner.0, b + lo * plan.inner.1, c + lo * plan.inner.2, hi - lo)
            }
        }
    }
}
