// Fused recurrent cells: one kernel for an LSTM or GRU time step's gate nonlinearities forwards, one
// backwards (instead of a dozen elementwise ops and autograd nodes per step). Gate order and equations
// as PyTorch's. Higher-order gradients go through the same cell written in core ops.
import CKernels
import Foundation

extension Tensor {
    /// LSTM: gates [B, 4H] (the i f g o pre-activations, x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh) and c [B, H]
    /// → h = σ(o)·tanh(c′) and c′ = σ(f)·c + σ(i)·tanh(g), both [B, H].
    public static func lstmCell(gates: Tensor, c: Tensor) -> (h: Tensor, c: Tensor) {
        precondition(
            gates.rank == 2 && c.rank == 2 && gates.shape[0] == c.shape[0] && gates.shape[1] == 4 * c.shape[1],
            "lstmCell: gates \(gates.shape), c \(c.shape)")
        let B = c.shape[0]
        let H = c.shape[1]
        let gc = gates.contiguousRaw()
        let cc = c.contiguousRaw()
        let out = Tensor.empty([B, 2 * H])
        let grain = Swift.max(1, 4096 / Swift.max(H, 1))
        Parallel.forRanges(B, grain: grain) { r in
            orr_lstm_cell(
                gc.data + r.lowerBound * 4 * H, 4 * H, cc.data + r.lowerBound * H, H, out.data + r.lowerBound * 2 * H,
                r.count, H)
        }
        let o = out.recorded("lstmCell", [gates, c]) { g in
            if GradMode.isEnabled {
                return Autograd.compositeVJP([gates, c], g) { i in
                    let (h, cn) = lstmCellComposite(gates: i[0], c: i[1])
                    return Tensor.cat([h, cn], dim: 1)
                }
            }
            let gout = g.contiguousRaw()
            let dg = Tensor.empty([B, 4 * H])
            let dc = Tensor.empty([B, H])
            Parallel.forRanges(B, grain: grain) { r in
                orr_lstm_cell_backward(
                    gc.data + r.lowerBound * 4 * H, 4 * H, cc.data + r.lowerBound * H, H,
                    gout.data + r.lowerBound * 2 * H, dg.data + r.lowerBound * 4 * H, dc.data + r.lowerBound * H,
                    r.count, H)
            }
            return [dg, dc]
        }
        return (o.slice(1, 0, H), o.slice(1, H, 2 * H))
    }

    /// The LSTM cell in core ops (the reference the fused kernel is tested against).
    public static func lstmCellComposite(gates: Tensor, c: Tensor) -> (h: Tensor, c: Tensor) {
        let g = gates.chunk(4, dim: 1)
        let cNew = g[1].sigmoid() * c + g[0].sigmoid() * g[2].tanh()
        return (g[3].sigmoid() * cNew.tanh(), cNew)
    }

    /// GRU: xg and hg [B, 3H] (the r z n parts of x·W_ihᵀ + b_ih and h·W_hhᵀ + b_hh) and h [B, H] →
    /// h′ = n + z·(h − n) with r = σ(x_r + h_r), z = σ(x_z + h_z), n = tanh(x_n + r·h_n).
    public static func gruCell(xg: Tensor, hg: Tensor, h: Tensor) -> Tensor {
        precondition(
            xg.rank == 2 && hg.rank == 2 && h.rank == 2 && xg.shape == hg.shape && xg.shape[0] == h.shape[0]
                && xg.shape[1] == 3 * h.shape[1], "gruCell: xg \(xg.shape), hg \(hg.shape), h \(h.shape)")
        let B = h.shape[0]
        let H = h.shape[1]
        let xc = xg.contiguousRaw()
        let hgc = hg.contiguousRaw()
        let hc = h.contiguousRaw()
        let out = Tensor.empty([B, H])
        let grain = Swift.max(1, 4096 / Swift.max(H, 1))
        Parallel.forRanges(B, grain: grain) { r in
            let b = r.lowerBound
            orr_gru_cell(
                xc.data + b * 3 * H, 3 * H, hgc.data + b * 3 * H, 3 * H, hc.data + b * H, H, out.data + b * H, r.count,
                H)
        }
        return out.recorded("gruCell", [xg, hg, h]) { g in
            if GradMode.isEnabled {
                return Autograd.compositeVJP([xg, hg, h], g) { i in gruCellComposite(xg: i[0], hg: i[1], h: i[2]) }
            }
            let gout = g.contiguousRaw()
            let dx = Tensor.empty([B, 3 * H])
            let dhg = Tensor.empty([B, 3 * H])
            let dh = Tensor.empty([B, H])
            Parallel.forRanges(B, grain: grain) { r in
                let b = r.lowerBound
                orr_gru_cell_backward(
                    xc.data + b * 3 * H, 3 * H, hgc.data + b * 3 * H, 3 * H, hc.data + b * H, H, gout.data + b * H,
                    dx.data + b * 3 * H, dhg.data + b * 3 * H, dh.data + b * H, r.count, H)
            }
            return [dx, dhg, dh]
        }
    }

    /// The GRU cell in core ops (the reference the fused kernel is tested against).
    public static func gruCellComposite(xg: Tensor, hg: Tensor, h: Tensor) -> Tensor {
        let xs = xg.chunk(3, dim: 1)
        let hs = hg.chunk(3, dim: 1)
        let r = (xs[0] + hs[0]).sigmoid()
        let z = (xs[1] + hs[1]).sigmoid()
        let n = (xs[2] + r * hs[2]).tanh()
        return n + z * (h - n)
    }
}
