// Reverse-mode autograd. Every differentiable op records a Node: its inputs and a closure mapping
// the gradient of its output to gradients of its inputs. Backward closures are written with the
// same differentiable ops (or, for fused kernels, fall back to their composite definition) so that,
// with `createGraph: true`, the backward pass is itself recorded and can be differentiated again
// (gradients of gradients, e.g. the WGAN-GP penalty).
import CKernels

/// One recorded operation.
public final class Node {
    public let name: String
    let inputs: [Tensor]
    let backward: (Tensor) -> [Tensor?]
    /// Set on a `slice` node (dimension, start, step): the engine writes (or adds) such a gradient
    /// straight into its region of the input's gradient instead of building a zero tensor around it
    /// and adding that (the heads of a fused QKV projection, the parts of a split).
    var slice: (dim: Int, start: Int, step: Int)?
    /// Set by an op whose backward can add its first input's gradient so far (nil: none yet) into
    /// the one it computes, in the same pass (a norm's dx and the residual's gradient beside it): the
    /// engine takes the first result, a fresh tensor, as that input's whole gradient, and saves a
    /// pass over it. Used only when the backward is not itself recorded.
    var backwardAdding: ((Tensor, Tensor?) -> [Tensor?])?

    init(name: String, inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]) {
        self.name = name
        self.inputs = inputs
        self.backward = backward
    }
}

/// Whether ops record for autograd on this thread.
public enum GradMode {
    public static var isEnabled: Bool { orr_grad_enabled() != 0 }

    /// Runs `body` with recording switched on or off, restoring the previous mode afterwards.
    @inlinable
    public static func with<T>(_ enabled: Bool, _ body: () throws -> T) rethrows -> T {
        let old = orr_grad_enabled()
        orr_set_grad_enabled(enabled ? 1 : 0)
        defer { orr_set_grad_enabled(old) }
        return try body()
    }
}

/// Runs `body` without recording any operation (evaluation, optimizer updates).
@inlinable
public func noGrad<T>(_ body: () throws -> T) rethrows -> T { try GradMode.with(false, body) }

extension Tensor {
    /// Attaches a Node to `self` (an op's fresh output) when recording and some input needs a gradient:
    /// how an op outside this module (a fused layer) joins autograd. `backward` gets the output's
    /// gradient and returns one per input (nil where none).
    @inline(__always)
    public func recorded(_ name: String, _ inputs: [Tensor], _ backward: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        if GradMode.isEnabled, inputs.contains(where: { $0.requiresGrad }) {
            requiresGrad = true
            gradFn = Node(name: name, inputs: inputs, backward: backward)
        }
        return self
    }

    /// `recorded`, with a second form of the backward that adds the first input's gradient so far
    /// (nil: none yet) into its first result, a fresh tensor (see `Node.backwardAdding`).
    public func recorded(
        _ name: String, _ inputs: [Tensor], _ backward: @escaping (Tensor) -> [Tensor?],
        addingFirst: @escaping (Tensor, Tensor?) -> [Tensor?]
    ) -> Tensor {
        let out = recorded(name, inputs, backward)
        out.gradFn?.backwardAdding = addingFirst
        return out
    }

    /// Marks this tensor as a leaf that accumulates gradients; returns self for chaining.
    @discardableResult
    public func requiringGrad(_ on: Bool = true) -> Tensor {
        requiresGrad = on
        return self
    }

    /// Back-propagates from this tensor (a scalar unless `gradient` is given) and accumulates into
    /// the `.grad` of every leaf that requires one. With `createGraph`, the gradients themselves are
    /// recorded and can be differentiated again.
    public func backward(_ gradient: Tensor? = nil, createGraph: Bool = false) {
        let g = gradient ?? Tensor.ones(shape)
        precondition(g.shape == shape, "backward: gradient shape \(g.shape) differs from \(shape)")
        let result = Autograd.run(roots: [(self, g)], stopAt: [], createGraph: createGraph)
        GradMode.with(createGraph) {
            for (leaf, lg) in result.leaves {
                if let old = leaf.grad {
                    leaf.grad = createGraph ? old + lg : Kernels.binary(old, lg, AddF())
                } else {
                    leaf.grad = lg
                }
            }
        }
    }
}

public enum Autograd {
    struct Result {
        var leaves: [(Tensor, Tensor)] = []
        var stopped: [ObjectIdentifier: Tensor] = [:]
    }

    /// Gradients of `outputs` (weighted by `gradOutputs`, default ones) with respect to `inputs`,
    /// returned instead of accumulated into `.grad`. nil for an input the outputs do not depend on.
    public static func grad(
        of outputs: [Tensor], wrt inputs: [Tensor], gradOutputs: [Tensor]? = nil,
        createGraph: Bool = false
    ) -> [Tensor?] {
        let gs = gradOutputs ?? outputs.map { Tensor.ones($0.shape) }
        let stop = Set(inputs.map { ObjectIdentifier($0) })
        let r = run(roots: Array(zip(outputs, gs)), stopAt: stop, createGraph: createGraph)
        return inputs.map { r.stopped[ObjectIdentifier($0)] }
    }

    /// Convenience for one output and one input.
    public static func grad(
        of output: Tensor, wrt input: Tensor, gradOutput: Tensor? = nil,
        createGraph: Bool = false
    ) -> Tensor? {
        grad(of: [output], wrt: [input], gradOutputs: gradOutput.map { [$0] }, createGraph: createGraph)[0]
    }

    /// The engine: topological order from the roots, then each node's backward in reverse order.
    static func run(roots: [(Tensor, Tensor)], stopAt: Set<ObjectIdentifier>, createGraph: Bool) -> Result {
        // Post-order DFS over tensors (iterative, graphs can be deep).
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var leaves: [Tensor] = []
        var stack: [(Tensor, Bool)] = roots.map { ($0.0, false) }
        while let (t, expanded) = stack.popLast() {
            let id = ObjectIdentifier(t)
            if expanded {
                order.append(t)
                continue
            }
            if visited.contains(id) { continue }
            visited.insert(id)
            guard t.requiresGrad else { continue }
            if stopAt.contains(id) { continue }
            guard let node = t.gradFn else {
                leaves.append(t)
                continue
            }
            stack.append((t, true))
            for inp in node.inputs where inp.requiresGrad && !visited.contains(ObjectIdentifier(inp)) {
                stack.append((inp, false))
            }
        }
        var grads: [ObjectIdentifier: Tensor] = [:]
        // Gradients the engine allocated itself and shared with no one: added to in place.
        var owned = Set<ObjectIdentifier>()
        // Gradients built from slices along one dimension (the Q, K and V heads of a fused projection)
        // start uninitialised: each slice is copied into its rows, and only the rows no slice covered
        // are zeroed, when the gradient is first read.
        var cover: [ObjectIdentifier: (dim: Int, intervals: [(Int, Int)])] = [:]
        func finish(_ id: ObjectIdentifier) {
            guard let c = cover.removeValue(forKey: id), let full = grads[id] else { return }
            var at = 0
            for (lo, hi) in c.intervals.sorted(by: { $0.0 < $1.0 }) + [(full.shape[c.dim], full.shape[c.dim])] {
                if lo > at { full.slice(c.dim, at, lo).detach().fill(0) }
                at = Swift.max(at, hi)
            }
        }
        func accumulate(_ t: Tensor, _ g: Tensor) {
            precondition(g.shape == t.shape, "internal: gradient shape \(g.shape) for tensor \(t.shape)")
            let id = ObjectIdentifier(t)
            finish(id)
            if let old = grads[id] {
                if createGraph {
                    grads[id] = old + g
                } else if owned.contains(id) {
                    Kernels.zip(old, g, into: old, AddF())
                } else {
                    grads[id] = Kernels.binary(old, g, AddF())
                    owned.insert(id)
                }
            } else {
                grads[id] = g
            }
        }
        // g of a slice of t: written or added into the slice's region of t's gradient.
        func accumulateSlice(_ t: Tensor, _ g: Tensor, _ sl: (dim: Int, start: Int, step: Int)) {
            let id = ObjectIdentifier(t)
            let span = (sl.start, sl.start + (g.shape[sl.dim] - 1) * sl.step + 1)
            let full: Tensor
            var copy = false
            if let old = grads[id], owned.contains(id) {
                full = old
                if let c = cover[id] {
                    let disjoint = c.intervals.allSatisfy { $0.1 <= span.0 || $0.0 >= span.1 }
                    if c.dim == sl.dim && sl.step == 1 && disjoint {
                        copy = true
                        cover[id]!.intervals.append(span)
                    } else {
                        finish(id)
                    }
                }
            } else if let old = grads[id] {
                full = old.contiguousRaw(forceCopy: true)
                grads[id] = full
                owned.insert(id)
            } else if sl.step == 1 {
                full = Tensor.empty(t.shape)
                grads[id] = full
                owned.insert(id)
                cover[id] = (sl.dim, [span])
                copy = true
            } else {
                full = Tensor.zeros(t.shape)
                grads[id] = full
                owned.insert(id)
            }
            var st = full.strides
            st[sl.dim] *= sl.step
            let region = Tensor(
                storage: full.storage, shape: g.shape, strides: st,
                offset: full.offset + sl.start * full.strides[sl.dim])
            if copy {
                Kernels.copy(from: g, to: region)
            } else {
                Kernels.zip(region, g, into: region, AddF())
            }
        }
        GradMode.with(createGraph) {
            for (t, g) in roots where t.requiresGrad { accumulate(t, g) }
            for t in order.reversed() {
                let id = ObjectIdentifier(t)
                finish(id)
                guard let g = grads[id], let node = t.gradFn else { continue }
                grads[id] = nil  // free as we go: peak memory stays near the forward's
                owned.remove(id)
                if !createGraph, let sl = node.slice, node.inputs.count == 1 {
                    if node.inputs[0].requiresGrad { accumulateSlice(node.inputs[0], g, sl) }
                    continue
                }
                if !createGraph, let adding = node.backwardAdding, node.inputs[0].requiresGrad {
                    let first = ObjectIdentifier(node.inputs[0])
                    finish(first)
                    let gi = adding(g, grads[first])
                    if let g0 = gi[0] {
                        grads[first] = g0
                        owned.insert(first)
                    }
                    for (inp, ig) in zip(node.inputs, gi).dropFirst() where inp.requiresGrad {
                        if let ig { accumulate(inp, ig) }
                    }
                    continue
                }
                let gi = node.backward(g)
                for (inp, ig) in zip(node.inputs, gi) where inp.requiresGrad {
                    if let ig { accumulate(inp, ig) }
                }
            }
        }
        var r = Result()
        for id in Array(cover.keys) { finish(id) }
        for l in leaves { if let g = grads[ObjectIdentifier(l)] { r.leaves.append((l, g)) } }
        for id in stopAt { if let g = grads[id] { r.stopped[id] = g } }
        return r
    }

    /// Vector-Jacobian product of a composite (differentiable) definition: used by fused ops when
    /// the backward must itself be differentiable. Returns one gradient per input (nil if unused).
    public static func compositeVJP(_ inputs: [Tensor], _ g: Tensor, _ f: ([Tensor]) -> Tensor) -> [Tensor?] {
        let y = GradMode.with(true) { f(inputs) }
        let need = inputs.filter { $0.requiresGrad }
        let gs = grad(of: [y], wrt: need, gradOutputs: [g], createGraph: true)
        var k = 0
        return inputs.map { inp in
            guard inp.requiresGrad else { return nil }
            defer { k += 1 }
            return gs[k]
        }
    }

    /// Global L2 norm of the parameters' gradients; if above `maxNorm`, scales them down to it.
    /// Returns the norm before clipping (a NaN norm is returned as is and nothing is scaled).
    @discardableResult
    public static func clipGradNorm(_ params: [Tensor], maxNorm: Float) -> Float {
        let grads = params.compactMap(\.grad)
        return Profiler.scope(.optimizer, bytes: 8 * Double(grads.reduce(0) { $0 + $1.count })) {
            // Multi-tensor: the squares of every gradient in one parallel region, the scaling in one more.
            let sums = Kernels.sumSquares(grads)
            var total: Double = 0
            for s in sums { total += Double(s) }
            let norm = Float(total.squareRoot())
            if norm.isFinite && norm > maxNorm {
                let s = maxNorm / (norm + 1e-6)
                let flat = grads.filter { $0.isContiguous }
                for g in grads where !g.isContiguous { Kernels.map(g, into: g, AffineF(scale: s, shift: 0)) }
                Kernels.forChunks(of: flat) { p, n in orr_scale(p, n, s) }
            }
            return norm
        }
    }
}

extension Kernels {
    /// Σ x² (Double accumulation per worker-independent chunk of 4096, for a stable norm).
    public static func sumSquares(_ x: Tensor) -> Float { sumSquares([x])[0] }

    /// Σ x² of each tensor, all in one parallel region over chunks of 4096 elements: each chunk is
    /// summed in 16 lanes, chunks in order in Double. The same result at any thread count.
    public static func sumSquares(_ xs: [Tensor]) -> [Float] {
        let cs = xs.map { $0.contiguousRaw() }
        var partial = [Double](repeating: 0, count: cs.reduce(0) { $0 + ($1.count + 4095) / 4096 })
        partial.withUnsafeMutableBufferPointer { pb in
            let pp = pb.baseAddress!
            forChunks(of: cs) { p, n in
                var acc = SIMD16<Float>(repeating: 0)
                var i = 0
                let raw = UnsafeRawPointer(p)
                while i + 16 <= n {
                    let x = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                    acc += x * x
                    i += 16
                }
                var s = acc.sum()
                while i < n {
                    s += p[i] * p[i]
                    i += 1
                }
                return s
            } store: { k, s in
                pp[k] = Double(s)
            }
        }
        var out: [Float] = []
        var k = 0
        for c in cs {
            let chunks = (c.count + 4095) / 4096
            out.append(Float(partial[k..<(k + chunks)].reduce(0, +)))
            k += chunks
        }
        return out
    }

    /// Runs `body(pointer, count)` over every 4096-element chunk of the contiguous tensors `ts` in one
    /// parallel region.
    static func forChunks(of ts: [Tensor], _ body: (UnsafeMutablePointer<Float>, Int) -> Void) {
        forChunks(
            of: ts,
            { p, n in
                body(p, n)
                return 0
            }, store: { _, _ in })
    }

    /// The same, with a Float per chunk handed to `store(chunk index, value)` (chunks numbered across
    /// the tensors in order).
    static func forChunks(
        of ts: [Tensor], _ body: (UnsafeMutablePointer<Float>, Int) -> Float, store: (Int, Float) -> Void
    ) {
        var chunks: [(UnsafeMutablePointer<Float>, Int)] = []
        for t in ts {
            let p = t.data
            let n = t.count
            var o = 0
            while o < n {
                chunks.append((p + o, Swift.min(4096, n - o)))
                o += 4096
            }
        }
        chunks.withUnsafeBufferPointer { cb in
            Parallel.forRanges(cb.count, grain: 8) { r in
                for k in r { store(k, body(cb[k].0, cb[k].1)) }
            }
        }
    }
}

extension Autograd {
    /// Gradient checkpointing: runs `body(inputs)` without keeping its intermediate activations and,
    /// in the backward pass, runs it again with recording to get the gradients — the same gradients,
    /// for the memory of the segment's inputs and output instead of all its activations.
    /// `parameters` are the leaves the body uses (e.g. a block's `parameters`); the body must be
    /// deterministic (pass dropout an RNG it copies, so the recomputation draws the same masks).
    public static func checkpoint(_ inputs: [Tensor], parameters: [Tensor], _ body: @escaping ([Tensor]) -> Tensor)
        -> Tensor
    {
        let all = inputs + parameters
        guard GradMode.isEnabled, all.contains(where: { $0.requiresGrad }) else { return body(inputs) }
        var out = noGrad { body(inputs) }
        if inputs.contains(where: { $0 === out }) { out = out.clone() }
        let n = inputs.count
        return out.recorded("checkpoint", all) { g in
            if GradMode.isEnabled {  // differentiable backward requested: recompute on the originals
                return compositeVJP(all, g) { body(Array($0.prefix(n))) }
            }
            let detached = inputs.map { $0.detach().requiringGrad($0.requiresGrad) }
            let y = GradMode.with(true) { body(detached) }
            return grad(of: [y], wrt: detached + parameters, gradOutputs: [g])
        }
    }
}
