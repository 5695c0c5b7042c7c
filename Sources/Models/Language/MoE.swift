// DeepSeekMoE (Dai et al. 2024; DeepSeek-V3 2024): the feed-forward layer as shared experts every
// token goes through plus many small routed experts of which each token uses K.
//
//   s_{t,e} = σ(u_tᵀ r_e)                               affinity of token t to routed expert e
//   top-K by s_{t,e} + b_e                               the bias b only chooses (auxiliary-loss-free)
//   g_{t,e} = s_{t,e} / Σ_{e′ chosen} s_{t,e′}          gates: the chosen affinities, normalised
//   h_t = Σ_shared FFN(u_t) + Σ_{e chosen} g_{t,e} FFN_e(u_t)
//
// Balancing, switchable: none; the classic auxiliary loss α·Σ_e f_e P_e (f_e the fraction of routed
// slots expert e received, scaled so uniform is 1; P_e the mean normalised affinity); or DeepSeek-V3's
// auxiliary-loss-free rule — after each step b_e ← b_e + γ·sign(mean load − load_e) — optionally with
// the small sequence-wise loss (the same f·P per sequence, averaged). Dispatch groups the tokens by
// expert and runs each expert once on its rows (one GEMM per projection per expert), then adds the
// gated outputs back to their tokens in one scatter.
import Compute
import Foundation
import NN

public enum MoEBalancing: String, Codable, CaseIterable, Sendable {
    case none
    case auxLoss = "aux-loss"
    case auxFree = "aux-free"
}

public struct MoEConfig: Codable, Equatable, Sendable {
    public var routedExperts = 8
    public var sharedExperts = 1
    public var topK = 2
    /// Hidden width of each expert's SwiGLU.
    public var expertHidden = 128
    public var balancing: MoEBalancing = .auxFree
    /// γ: the bias step of auxiliary-loss-free balancing.
    public var biasUpdate: Float = 0.001
    /// α of the classic auxiliary loss (balancing aux-loss).
    public var auxWeight: Float = 0.01
    /// α of the sequence-wise balance loss (0: off; DeepSeek-V3 uses a very small one with aux-free).
    public var sequenceAuxWeight: Float = 0
    public init() {}

    public func validate() throws {
        func check(_ ok: Bool, _ what: String) throws { if !ok { throw MoEError.config(what) } }
        try check((1...256).contains(routedExperts), "routed experts must be 1…256, got \(routedExperts)")
        try check((0...16).contains(sharedExperts), "shared experts must be 0…16, got \(sharedExperts)")
        try check(topK >= 1 && topK <= routedExperts, "top-k must be 1…\(routedExperts), got \(topK)")
        try check((1...65536).contains(expertHidden), "expert hidden width must be 1…65536, got \(expertHidden)")
        try check(biasUpdate >= 0 && biasUpdate.isFinite, "bias update must be ≥ 0")
        try check(auxWeight >= 0 && auxWeight.isFinite, "aux weight must be ≥ 0")
        try check(sequenceAuxWeight >= 0 && sequenceAuxWeight.isFinite, "sequence aux weight must be ≥ 0")
    }
}

public enum MoEError: Error, CustomStringConvertible, Equatable {
    case config(String)
    public var description: String {
        switch self {
        case .config(let s): return "mixture of experts: \(s)"
        }
    }
}

/// SwiGLU feed-forward: down(silu(gate x) ∘ up x).
public final class SwiGLU: Module {
    public let gate: Linear, up: Linear, down: Linear
    public init(width: Int, hidden: Int, rng: inout RNG) {
        gate = Linear(width, hidden, bias: false, rng: &rng)
        up = Linear(width, hidden, bias: false, rng: &rng)
        down = Linear(hidden, width, bias: false, rng: &rng)
    }
    public func callAsFunction(_ x: Tensor) -> Tensor { down(gate(x).swiglu(up(x))) }
    public var linears: [Linear] { [gate, up, down] }
}

/// What one forward pass routed (read by training loops, views and tests).
public struct RoutingRecord: Sendable {
    /// The K experts chosen for each token, row-major [tokens · K].
    public var experts: [Int] = []
    /// Their gates g (same layout).
    public var gates: [Float] = []
    /// Slots each expert received.
    public var counts: [Int] = []
    public var tokens = 0
    public init() {}

    /// Each expert's load as a multiple of the mean (1 = perfectly balanced).
    public var relativeLoad: [Float] {
        let total = counts.reduce(0, +)
        guard total > 0 else { return counts.map { _ in 0 } }
        let mean = Float(total) / Float(counts.count)
        return counts.map { Float($0) / mean }
    }
    /// max / mean load.
    public var maxOverMean: Float { relativeLoad.max() ?? 0 }
    /// Entropy of the load distribution over experts, as a fraction of log E (1 = uniform).
    public var loadEntropy: Float {
        let total = Float(counts.reduce(0, +))
        guard total > 0, counts.count > 1 else { return 0 }
        var h: Float = 0
        for c in counts where c > 0 {
            let p = Float(c) / total
            h -= p * Foundation.log(p)
        }
        return h / Foundation.log(Float(counts.count))
    }
}

public final class DeepSeekMoE: Module {
    public let config: MoEConfig
    public let width: Int
    /// Centroids r_e [E, C] of the routed experts.
    public let router: Tensor
    /// Selection bias b [E] (a buffer: saved, not trained by gradients).
    public let bias: Buffer
    public let shared: SwiGLU?
    public let experts: [SwiGLU]
    /// The last forward's routing, and the loads accumulated since the last bias update.
    public private(set) var lastRouting = RoutingRecord()
    var pendingCounts: [Int]
    /// The balance loss of the last forward (nil when balancing adds none).
    public private(set) var lastBalanceLoss: Tensor?

    public init(width: Int, _ c: MoEConfig, rng: inout RNG) {
        config = c
        self.width = width
        router = Parameter(Tensor.randn([c.routedExperts, width], std: 0.02, rng: &rng))
        bias = Buffer(Tensor.zeros([c.routedExperts]))
        shared = c.sharedExperts > 0 ? SwiGLU(width: width, hidden: c.sharedExperts * c.expertHidden, rng: &rng) : nil
        experts = (0..<c.routedExperts).map { _ in SwiGLU(width: width, hidden: c.expertHidden, rng: &rng) }
        pendingCounts = Array(repeating: 0, count: c.routedExperts)
    }

    /// Every Linear of the layer (FP8 mode switches them together).
    public var linears: [Linear] { (shared?.linears ?? []) + experts.flatMap(\.linears) }

    /// The chosen experts of each token: top-K of affinity + bias (ties to the lower index).
    static func select(_ s: [Float], bias: [Float], tokens: Int, experts E: Int, k K: Int) -> [Int] {
        var out = [Int](repeating: 0, count: tokens * K)
        Parallel.forRanges(tokens, grain: 256) { r in
            var score = [Float](repeating: 0, count: E)
            for t in r {
                for e in 0..<E { score[e] = s[t * E + e] + bias[e] }
                for k in 0..<K {
                    var best = -1
                    for e in 0..<E where score[e] > -.infinity && (best < 0 || score[e] > score[best]) { best = e }
                    out[t * K + k] = best
                    score[best] = -.infinity
                }
            }
        }
        return out
    }

    /// x [..., C] → [..., C]. `sequences`: how many sequences the tokens form (for the sequence-wise loss).
    public func callAsFunction(_ x: Tensor, sequences: Int = 1) -> Tensor {
        let C = width
        let N = x.count / C
        let E = config.routedExperts
        let K = config.topK
        let u = x.reshape([N, C])
        let s = u.matmul(router.mT).sigmoid()  // [N, E]
        let sv = s.toArray()
        let chosen = DeepSeekMoE.select(sv, bias: bias.value.toArray(), tokens: N, experts: E, k: K)
        let chosenS = s.gather(1, index: chosen, indexShape: [N, K])
        let gates = chosenS / chosenS.sum([1], keepDim: true)  // [N, K]
        // Group the (token, slot) pairs by expert.
        var counts = [Int](repeating: 0, count: E)
        for e in chosen { counts[e] += 1 }
        var offsets = [Int](repeating: 0, count: E + 1)
        for e in 0..<E { offsets[e + 1] = offsets[e] + counts[e] }
        var tokenOf = [Int](repeating: 0, count: N * K)
        var slotOf = [Int](repeating: 0, count: N * K)
        var fill = offsets
        for i in 0..<(N * K) {
            let e = chosen[i]
            tokenOf[fill[e]] = i / K
            slotOf[fill[e]] = i
            fill[e] += 1
        }
        let xs = u.indexSelect(tokenOf)  // [N·K, C] grouped by expert
        var parts: [Tensor] = []
        for e in 0..<E where counts[e] > 0 { parts.append(experts[e](xs.slice(0, offsets[e], offsets[e + 1]))) }
        let g = gates.reshape([N * K, 1]).indexSelect(slotOf)
        var y = (Tensor.cat(parts, dim: 0) * g).indexAdd(tokenOf, rows: N)
        if let shared { y = y + shared(u) }

        var record = RoutingRecord()
        record.experts = chosen
        record.gates = noGrad { gates.toArray() }
        record.counts = counts
        record.tokens = N
        lastRouting = record
        if isTraining { for e in 0..<E { pendingCounts[e] += counts[e] } }
        lastBalanceLoss = balanceLoss(s, chosen: chosen, tokens: N, sequences: sequences)
        return y.reshape(x.shape)
    }

    /// α Σ_e f_e P_e over all tokens (aux-loss) or averaged over sequences (the sequence-wise loss).
    func balanceLoss(_ s: Tensor, chosen: [Int], tokens N: Int, sequences: Int) -> Tensor? {
        let E = config.routedExperts
        let K = config.topK
        let (alpha, groups): (Float, Int) =
            switch config.balancing {
            case .auxLoss: (config.auxWeight, 1)
            case .auxFree: (config.sequenceAuxWeight, Swift.max(1, sequences))
            case .none: (0, 1)
            }
        guard alpha > 0, isTraining, N % groups == 0 else { return nil }
        let T = N / groups
        // f [groups, E]: slots per expert in each group, scaled by E / (K·T) (uniform → 1).
        var f = [Float](repeating: 0, count: groups * E)
        for (i, e) in chosen.enumerated() { f[(i / K / T) * E + e] += Float(E) / Float(K * T) }
        let normalised = s / s.sum([1], keepDim: true)  // s′: affinities normalised over all experts
        let P = normalised.reshape([groups, T, E]).mean([1])  // [groups, E]
        return (P * Tensor(shape: [groups, E], data: f)).sum() * (alpha / Float(groups))
    }

    /// Auxiliary-loss-free balancing: nudges each expert's bias by ±γ against its load since the last
    /// update (call once per optimizer step).
    public func updateBias() {
        defer { pendingCounts = pendingCounts.map { _ in 0 } }
        guard config.balancing == .auxFree, config.biasUpdate > 0 else { return }
        let total = pendingCounts.reduce(0, +)
        guard total > 0 else { return }
        let mean = Float(total) / Float(pendingCounts.count)
        var b = bias.value.toArray()
        for e in b.indices {
            let load = Float(pendingCounts[e])
            if load < mean { b[e] += config.biasUpdate } else if load > mean { b[e] -= config.biasUpdate }
        }
        bias.value.assign(Tensor(shape: [b.count], data: b))
    }

    /// The layer computed token by token from a given routing (the reference the dispatch is tested
    /// against): shared(u_t) + Σ_k g_{t,k} FFN_{e_{t,k}}(u_t).
    public func reference(_ x: Tensor, experts chosen: [Int], gates: [Float]) -> Tensor {
        noGrad {
            let C = width
            let N = x.count / C
            let K = config.topK
            let u = x.reshape([N, C])
            var rows: [Tensor] = []
            for t in 0..<N {
                let ut = u.slice(0, t, t + 1)
                var h = shared.map { $0(ut) } ?? Tensor.zeros([1, C])
                for k in 0..<K { h = h + experts[chosen[t * K + k]](ut) * gates[t * K + k] }
                rows.append(h)
            }
            return Tensor.cat(rows, dim: 0).reshape(x.shape)
        }
    }
}
