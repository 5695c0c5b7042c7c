// Learning-rate schedules: a pure function of the step, so a resumed run continues exactly.
import Foundation

public protocol LRSchedule: Sendable {
    /// Learning rate for 0-based optimisation step `step`.
    func lr(at step: Int) -> Float
}

/// Linear warm-up to `peak` over `warmup` steps, then cosine decay to `minLR` at `total` steps.
public struct WarmupCosine: LRSchedule {
    public let peak: Float, minLR: Float, warmup: Int, total: Int
    public init(peak: Float, warmup: Int, total: Int, minLR: Float = 0) {
        self.peak = peak
        self.warmup = warmup
        self.total = total
        self.minLR = minLR
    }
    public func lr(at step: Int) -> Float {
        if step < warmup { return peak * Float(step + 1) / Float(warmup) }
        if step >= total { return minLR }
        let progress = Double(step - warmup) / Double(Swift.max(1, total - warmup))
        return minLR + (peak - minLR) * Float(0.5 * (1 + cos(Double.pi * progress)))
    }
}

/// DeepSeek LLM's multi-step schedule (DeepSeek-AI 2024, §2.3): warm-up to `peak`, hold, drop to
/// 31.6 % of peak after 80 % of the steps and to 10 % after 90 %.
public struct MultiStepLR: LRSchedule {
    public let peak: Float, warmup: Int, total: Int
    public init(peak: Float, warmup: Int, total: Int) {
        self.peak = peak
        self.warmup = warmup
        self.total = total
    }
    public func lr(at step: Int) -> Float {
        if step < warmup { return peak * Float(step + 1) / Float(warmup) }
        let f = Double(step) / Double(total)
        if f >= 0.9 { return peak * 0.1 }
        if f >= 0.8 { return peak * 0.316 }
        return peak
    }
}

/// A constant rate.
public struct ConstantLR: LRSchedule {
    public let value: Float
    public init(_ value: Float) { self.value = value }
    public func lr(at step: Int) -> Float { value }
}
