// Shape ops: views that share storage (reshape of contiguous data, permute, slice, expand) and the
// copying ones (contiguous, cat, gather/scatter, index-select). Each backward is the adjoint map.

extension Tensor {
    /// Same data, new shape (one dimension may be -1). A view when the data is contiguous.
    public func reshape(_ newShape: [Int]) -> Tensor {
        var s = newShape
        if let i = s.firstIndex(of: -1) {
            let known = s.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
            precondition(known > 0 && count % known == 0, "reshape: cannot infer -1 in \(newShape) from \(shape)")
            s[i] = count / known
        }
        precondition(s.reduce(1, *) == count, "reshape: \(shape) (\(count) elements) to \(s)")
        if s == shape { return self }
        let src = contiguous()
        let out = Tensor(storage: src.storage, shape: s, strides: Tensor.contiguousStrides(s), offset: src.offset)
        let inShape = shape
        return out.recorded("reshape", [src]) { g in [g.reshape(inShape)] }
    }

    public func flatten() -> Tensor { reshape([count]) }

    /// Contiguous copy when needed (identity gradient).
    public func contiguous() -> Tensor {
        if isContiguous { return self }
        let out = contiguousRaw()
        return out.recorded("contiguous", [self]) { g in [g] }
    }

    /// Reorders dimensions: result dim i is input dim `order[i]`.
    public func permute(_ order: [Int]) -> Tensor {
        precondition(order.count == rank && Set(order) == Set(0..<rank), "permute: bad order \(order) for rank \(rank)")
        let out = Tensor(
            storage: storage, shape: order.map { shape[$0] }, strides: order.map { strides[$0] }, offset: offset)
        var inverse = [Int](repeating: 0, count: rank)
        for (i, o) in order.enumerated() { inverse[o] = i }
        return out.recorded("permute", [self]) { g in [g.permute(inverse)] }
    }

    public func transpose(_ a: Int, _ b: Int) -> Tensor {
        var order = Array(0..<rank)
        order.swapAt(dim(a), dim(b))
        return permute(order)
    }

    /// Matrix transpose of the last two dimensions.
    public var mT: Tensor { transpose(-2, -1) }

    /// Elements start..<end (step > 0) along `dim`, as a view.
    public func slice(_ d: Int, _ start: Int, _ end: Int, step: Int = 1) -> Tensor {
        let dd = dim(d)
        precondition(
            step > 0 && start >= 0 && end <= shape[dd] && start <= end,
            "slice \(start)..<\(end) step \(step) out of range for dim \(dd) of \(shape)")
        var s = shape
        var st = strides
        s[dd] = (end - start + step - 1) / step
        st[dd] = strides[dd] * step
        let out = Tensor(storage: storage, shape: s, strides: st, offset: offset + start * strides[dd])
        let inShape = shape
        let r = out.recorded("slice", [self]) { g in [g.sliceAdjoint(inShape, dd, start, step)] }
        r.gradFn?.slice = (dd, start, step)
        return r
    }

    /// Zeros of `full` with this tensor written at the slice (the adjoint of `slice`).
    func sliceAdjoint(_ full: [Int], _ d: Int, _ start: Int, _ step: Int) -> Tensor {
        let out = Tensor.zeros(full)
        var st = out.strides
        st[d] *= step
        let view = Tensor(storage: out.storage, shape: shape, strides: st, offset: start * out.strides[d])
        Kernels.copy(from: self, to: view)
        let end = start + (shape[d] - 1) * step + 1
        return out.recorded("sliceAdjoint", [self]) { g in [g.slice(d, start, end, step: step)] }
    }

    /// Index `i` along `dim`, removing that dimension.
    public func select(_ d: Int, _ i: Int) -> Tensor {
        let dd = dim(d)
        return slice(dd, i, i + 1).squeeze(dd)
    }

    public func unsqueeze(_ d: Int) -> Tensor {
        let dd = d < 0 ? d + rank + 1 : d
        var s = shape
        s.insert(1, at: dd)
        return reshape(s)
    }

    public func squeeze(_ d: Int) -> Tensor {
        let dd = dim(d)
        precondition(shape[dd] == 1, "squeeze: dim \(dd) of \(shape) is not 1")
        var s = shape
        var st = strides
        s.remove(at: dd)
        st.remove(at: dd)
        let out = Tensor(storage: storage, shape: s, strides: st, offset: offset)
        let inShape = shape
        return out.recorded("squeeze", [self]) { g in [g.reshape(inShape)] }
    }

    /// Broadcast view to `target` (gradient: sum back).
    public func expand(_ target: [Int]) -> Tensor {
        if target == shape { return self }
        let out = expandedRaw(to: target)
        let inShape = shape
        return out.recorded("expand", [self]) { g in [g.sumTo(inShape)] }
    }

    /// Concatenation along `dim`.
    public static func cat(_ parts: [Tensor], dim d: Int) -> Tensor {
        precondition(!parts.isEmpty, "cat of nothing")
        let dd = parts[0].dim(d)
        var s = parts[0].shape
        s[dd] = parts.reduce(0) { acc, t in
            precondition(
                t.rank == s.count && (0..<t.rank).allSatisfy { $0 == dd || t.shape[$0] == s[$0] },
                "cat: shape \(t.shape) does not match \(s) outside dim \(dd)")
            return acc + t.shape[dd]
        }
        let out = Tensor.empty(s)
        var at = 0
        var ranges: [(Int, Int)] = []
        for t in parts {
            var vs = out.shape
            vs[dd] = t.shape[dd]
            let view = Tensor(storage: out.storage, shape: vs, strides: out.strides, offset: at * out.strides[dd])
            Kernels.copy(from: t, to: view)
            ranges.append((at, at + t.shape[dd]))
            at += t.shape[dd]
        }
        return out.recorded("cat", parts) { g in ranges.map { g.slice(dd, $0.0, $0.1) } }
    }

    /// Splits along `dim` into pieces of the given sizes (views).
    public func split(_ sizes: [Int], dim d: Int) -> [Tensor] {
        let dd = dim(d)
        precondition(sizes.reduce(0, +) == shape[dd], "split sizes \(sizes) do not sum to \(shape[dd])")
        var at = 0
        return sizes.map { n in
            defer { at += n }
            return slice(dd, at, at + n)
        }
    }

    /// Splits along `dim` into `n` equal pieces.
    public func chunk(_ n: Int, dim d: Int) -> [Tensor] {
        let dd = dim(d)
        precondition(shape[dd] % n == 0, "chunk: \(shape[dd]) not divisible by \(n)")
        return split([Int](repeating: shape[dd] / n, count: n), dim: dd)
    }

    /// Rows of dim 0 picked by `indices` (embedding lookup): [V, …] → [indices.count, …].
    public func indexSelect(_ indices: [Int]) -> Tensor {
        let src = contiguousRaw()
        let row = count / Swift.max(shape[0], 1)
        var s = shape
        s[0] = indices.count
        let out = Tensor.empty(s)
        let sp = src.data
        let op = out.data
        let n0 = shape[0]
        for i in indices { precondition(i >= 0 && i < n0, "indexSelect: index \(i) out of range 0..<\(n0)") }
        Profiler.scope(.embedding, bytes: 8 * Double(indices.count * row)) {
            indices.withUnsafeBufferPointer { ib in
                let ip = ib.baseAddress!
                Parallel.forRanges(indices.count, grain: Swift.max(1, 4096 / Swift.max(row, 1))) { r in
                    for i in r { (op + i * row).update(from: sp + ip[i] * row, count: row) }
                }
            }
        }
        let n = shape[0]
        return out.recorded("indexSelect", [self]) { g in [g.indexAdd(indices, rows: n)] }
    }

    /// Adjoint of indexSelect: a [rows, …] tensor of zeros with this tensor's rows added at `indices`.
    public func indexAdd(_ indices: [Int], rows: Int) -> Tensor {
        let src = contiguousRaw()
        let row = count / Swift.max(shape[0], 1)
        var s = shape
        s[0] = rows
        let out = Tensor.zeros(s)
        let sp = src.data
        let op = out.data
        // Partition by destination row so threads never write the same row.
        Profiler.scope(.embedding, bytes: 8 * Double(indices.count * row)) {
            Parallel.forRanges(rows, grain: Swift.max(1, rows / 64)) { r in
                for (i, dst) in indices.enumerated() where r.contains(dst) {
                    let o = op + dst * row
                    let x = sp + i * row
                    for j in 0..<row { o[j] += x[j] }
                }
            }
        }
        return out.recorded("indexAdd", [self]) { g in [g.indexSelect(indices)] }
    }

    /// torch.gather: out[…, j, …] = self[…, index[…, j, …], …] along `dim`; `index` is row-major with
    /// shape `indexShape` (same rank; other dims no larger than self's).
    public func gather(_ d: Int, index: [Int], indexShape: [Int]) -> Tensor {
        let dd = dim(d)
        precondition(
            indexShape.count == rank && index.count == indexShape.reduce(1, *), "gather: index shape \(indexShape)")
        let out = Tensor.empty(indexShape)
        let ostr = out.strides
        let n = shape[dd]
        let xp = data
        let op = out.data
        for (flat, i) in index.enumerated() {
            precondition(i >= 0 && i < n, "gather: index \(i) out of range 0..<\(n)")
            var rem = flat
            var off = 0
            for k in 0..<rank {
                let c = rem / ostr[k]
                rem %= ostr[k]
                off += (k == dd ? i : c) * strides[k]
            }
            op[flat] = xp[off]
        }
        let full = shape
        return out.recorded("gather", [self]) { g in [g.scatterAdd(dd, index: index, into: full)] }
    }

    /// Adjoint of gather: zeros of `full` with this tensor's elements added at `index` along `dim`.
    func scatterAdd(_ d: Int, index: [Int], into full: [Int]) -> Tensor {
        let src = contiguousRaw()
        let out = Tensor.zeros(full)
        let sstr = src.strides
        let ostr = out.strides
        for (flat, i) in index.enumerated() {
            var rem = flat
            var off = 0
            for k in 0..<rank {
                let c = rem / sstr[k]
                rem %= sstr[k]
                off += (k == d ? i : c) * ostr[k]
            }
            out.data[off] += src.data[flat]
        }
        let myShape = shape
        return out.recorded("scatterAdd", [self]) { g in [g.gather(d, index: index, indexShape: myShape)] }
    }
}
