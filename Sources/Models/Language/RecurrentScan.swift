// A recurrent layer over a whole sequence as one autograd op with hand-written backpropagation
// through time. Step by step in core ops, every time step's `xg.select(1, t)` sends back a gradient
// the size of the whole sequence (T of them, summed: quadratic in T), and the recurrent weight's
// gradient is T small GEMMs. Here the forward keeps each step's gate pre-activations and previous
// state; the backward walks the steps once (fused cell backward, one [B, G]·[G, H] GEMM per step for
// ∂h) and then forms ∂W_hh as one GEMM over all T·B rows, ∂b_hh as one sum, ∂xg as one tensor.
// The initial state is a constant (zero, or carried over detached); higher-order gradients and a
// state that needs a gradient fall back to the step-by-step cells.
import CKernels
import Compute
import NN

extension RecurrentCell {
    /// Outputs h₁…h_T [B, T, H] for projected inputs xg [B, T, gates·H] from `state`, and the final state.
    public func scan(_ xg: Tensor, _ state: RecurrentState) -> (Tensor, RecurrentState) {
        if state.h.requiresGrad || (state.c?.requiresGrad ?? false) { return stepwise(xg, state) }
        if let lstm = self as? LSTMCell { return RecurrentScan.lstm(lstm, xg, state) }
        if let gru = self as? GRUCell { return RecurrentScan.gru(gru, xg, state) }
        return stepwise(xg, state)
    }

    /// The same, one `step` per time step in core ops (the reference).
    public func stepwise(_ xg: Tensor, _ state: RecurrentState) -> (Tensor, RecurrentState) {
        var s = state
        var outs: [Tensor] = []
        outs.reserveCapacity(xg.shape[1])
        for t in 0..<xg.shape[1] {
            s = step(xg.select(1, t), s)
            outs.append(s.h.unsqueeze(1))
        }
        return (Tensor.cat(outs, dim: 1), s)
    }
}

enum RecurrentScan {
    static func lstm(_ cell: LSTMCell, _ xgIn: Tensor, _ state: RecurrentState) -> (Tensor, RecurrentState) {
        let B = xgIn.shape[0]
        let T = xgIn.shape[1]
        let H = cell.hidden
        let G = 4 * H
        let W = cell.hiddenProjection.weight  // [4H, H]
        let bias = cell.hiddenProjection.bias
        let xg = xgIn.contiguousRaw()
        let gates = Tensor.empty([T, B, G])  // pre-activations of every step
        let cPrev = Tensor.empty([T, B, H])
        let hPrev = Tensor.empty([T, B, H])
        let out = Tensor.empty([B, T, H])
        var h = state.h.detach().contiguousRaw()
        var c = (state.c ?? Tensor.zeros([B, H])).detach().contiguousRaw()
        let pair = Tensor.empty([B, 2 * H])
        noGrad {
            let Wt = W.detach().mT
            for t in 0..<T {
                var g = h.matmul(Wt)  // [B, 4H]
                if let b = bias { g = g + b.detach() }
                let gt = gates.select(0, t)
                gt.assign(g + xg.select(1, t))
                cPrev.select(0, t).assign(c)
                hPrev.select(0, t).assign(h)
                orr_lstm_cell(gt.data, G, c.data, H, pair.data, B, H)
                let hn = pair.slice(1, 0, H)
                out.select(1, t).assign(hn)
                h = hn.contiguousRaw(forceCopy: true)
                c = pair.slice(1, H, 2 * H).contiguousRaw(forceCopy: true)
            }
        }
        let final = RecurrentState(h: h, c: c)
        let inputs = [xgIn, W] + (bias.map { [$0] } ?? [])
        let y = out.recorded("lstmScan", inputs) { gOut in
            // Higher order: the same layer step by step in differentiable ops (W is inputs[1] itself).
            if GradMode.isEnabled { return Autograd.compositeVJP(inputs, gOut) { i in cell.stepwise(i[0], state).0 } }
            return noGrad {
                let go = gOut.contiguousRaw()
                let dGates = Tensor.empty([T, B, G])
                var dh = Tensor.zeros([B, H])
                var dc = Tensor.zeros([B, H])
                let gpair = Tensor.empty([B, 2 * H])
                let dcOut = Tensor.empty([B, H])
                for t in stride(from: T - 1, through: 0, by: -1) {
                    gpair.slice(1, 0, H).assign(go.select(1, t) + dh)
                    gpair.slice(1, H, 2 * H).assign(dc)
                    let dgt = dGates.select(0, t)
                    orr_lstm_cell_backward(
                        gates.select(0, t).data, G, cPrev.select(0, t).data, H, gpair.data, dgt.data, dcOut.data, B, H)
                    dh = dgt.matmul(W.detach())  // [B, 4H]·[4H, H]
                    dc = dcOut.contiguousRaw(forceCopy: true)
                }
                let flat = dGates.reshape([T * B, G])
                let dW = flat.mT.matmul(hPrev.reshape([T * B, H]))  // [4H, H], one GEMM over T·B rows
                var grads: [Tensor?] = [dGates.transpose(0, 1).contiguousRaw(forceCopy: true), dW]
                if bias != nil { grads.append(flat.sum([0])) }
                return grads
            }
        }
        return (y, final)
    }

    static func gru(_ cell: GRUCell, _ xgIn: Tensor, _ state: RecurrentState) -> (Tensor, RecurrentState) {
        let B = xgIn.shape[0]
        let T = xgIn.shape[1]
        let H = cell.hidden
        let G = 3 * H
        let W = cell.hiddenProjection.weight  // [3H, H]
        let bias = cell.hiddenProjection.bias
        let xg = xgIn.contiguousRaw()
        let hgs = Tensor.empty([T, B, G])  // h·W_hhᵀ + b_hh of every step
        let hPrev = Tensor.empty([T, B, H])
        let out = Tensor.empty([B, T, H])
        var h = state.h.detach().contiguousRaw()
        noGrad {
            let Wt = W.detach().mT
            for t in 0..<T {
                var g = h.matmul(Wt)
                if let b = bias { g = g + b.detach() }
                let hg = hgs.select(0, t)
                hg.assign(g)
                hPrev.select(0, t).assign(h)
                let xt = xg.select(1, t)
                let hn = Tensor.empty([B, H])
                orr_gru_cell(xt.data, T * G, hg.data, G, h.data, H, hn.data, B, H)
                out.select(1, t).assign(hn)
                h = hn
            }
        }
        let final = RecurrentState(h: h, c: nil)
        let inputs = [xgIn, W] + (bias.map { [$0] } ?? [])
        let y = out.recorded("gruScan", inputs) { gOut in
            if GradMode.isEnabled { return Autograd.compositeVJP(inputs, gOut) { i in cell.stepwise(i[0], state).0 } }
            return noGrad {
                let go = gOut.contiguousRaw()
                let dxg = Tensor.empty([B, T, G])
                let dHG = Tensor.empty([T, B, G])
                var dh = Tensor.zeros([B, H])
                let gh = Tensor.empty([B, H])
                let dx = Tensor.empty([B, G])
                let dDirect = Tensor.empty([B, H])
                for t in stride(from: T - 1, through: 0, by: -1) {
                    gh.assign(go.select(1, t) + dh)
                    let dhg = dHG.select(0, t)
                    orr_gru_cell_backward(
                        xg.select(1, t).data, T * G, hgs.select(0, t).data, G, hPrev.select(0, t).data, H, gh.data,
                        dx.data, dhg.data, dDirect.data, B, H)
                    dxg.select(1, t).assign(dx)
                    dh = dDirect + dhg.matmul(W.detach())
                }
                let flat = dHG.reshape([T * B, G])
                let dW = flat.mT.matmul(hPrev.reshape([T * B, H]))
                var grads: [Tensor?] = [dxg, dW]
                if bias != nil { grads.append(flat.sum([0])) }
                return grads
            }
        }
        return (y, final)
    }
}
