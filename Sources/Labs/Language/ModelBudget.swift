// What a language-lab configuration will cost before anything is allocated: its parameter count
// (exactly, from the architecture) and an estimate of the bytes it needs for inference or training,
// checked against the memory this machine has available. A config that describes a model far larger
// than the machine — by mistake or from a hostile file — is refused with the numbers, not allocated.
import Foundation
import Models

public enum ModelBudget {
    /// Exact parameter count of the model `makeModel` builds (a MoE layer's router biases included:
    /// they are in its checkpoint).
    public static func parameterCount(_ c: LMConfig, vocab: Int) -> Int {
        let C = c.width
        let L = c.layers
        switch c.model {
        case .gpt:
            let g = GPTConfig(
                vocabSize: vocab, contextLength: c.context, layers: L, heads: c.heads, kvHeads: c.kvHeads,
                width: C)
            var attention = C * (g.heads + 2 * g.kvHeads) * g.headDim + C * C
            if let m = c.mla {
                let (H, dh) = (g.heads, g.headDim)
                attention =
                    C * m.queryLatent + m.queryLatent + m.queryLatent * H * (dh + m.ropeDim)
                    + C * (m.kvLatent + m.ropeDim) + m.kvLatent + m.kvLatent * H * 2 * dh + H * dh * C
            }
            var mlp = 3 * C * g.mlpHidden
            if let m = c.moe {
                let E = m.routedExperts
                mlp = E * C + E + 3 * C * m.expertHidden * (E + m.sharedExperts)
            }
            let block = 2 * C + attention + mlp
            let mtp = (c.mtpDepth ?? 0) * (2 * C + 2 * C * C + block)
            return vocab * C + L * block + C + mtp
        case .lstm, .gru:
            let gates = c.model == .lstm ? 4 : 3
            return vocab * C + L * (2 * (C * gates * C + gates * C)) + C * vocab + vocab
        }
    }

    /// Estimated peak bytes: weights (and for training their gradients, Adam moments and the rollback
    /// copy), activations of one batch, and the output logits with their gradient.
    public static func estimatedBytes(_ c: LMConfig, vocab: Int, training: Bool) -> Double {
        let params = Double(parameterCount(c, vocab: vocab))
        let tokens = Double(training ? c.batch * c.context : c.context)
        let C = Double(c.width)
        let L = Double(c.layers)
        let perTokenPerLayer = c.model == .gpt ? 16 * C + 4 * (8 * C / 3) : 24 * C
        let activations = tokens * (L * perTokenPerLayer + 3 * Double(vocab))
        let weightCopies = training ? 7.0 : 1.0
        return 4 * (params * weightCopies + activations)
    }

    /// Bytes the OS says are available (MemAvailable), or physical memory where that is unknown.
    public static func availableBytes() -> Double {
        if let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) {
            for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
                let parts = line.split(separator: " ")
                if parts.count >= 2, let kb = Double(parts[1]) { return kb * 1024 }
            }
        }
        return Double(ProcessInfo.processInfo.physicalMemory)
    }

    /// Throws `SessionError.config` when the estimate exceeds 80 % of the available memory.
    public static func check(_ c: LMConfig, vocab: Int, training: Bool, available: Double = availableBytes()) throws {
        let need = estimatedBytes(c, vocab: vocab, training: training)
        guard need <= 0.8 * available else {
            let gb = { (x: Double) in String(format: "%.1f GB", x / 1e9) }
            throw SessionError.config(
                "this \(c.model.rawValue) of \(c.layers) layers × width \(c.width) "
                    + "(\(parameterCount(c, vocab: vocab)) parameters) needs about \(gb(need)) "
                    + "to \(training ? "train" : "run"), "
                    + "but only \(gb(available)) of memory is available"
            )
        }
    }
}
