// The NaN guard any training session uses: a step whose loss or gradient is not finite is skipped;
// `badStepsBeforeRollback` in a row roll the weights and the optimizer back to the last good state
// with half the learning rate; after `maxRollbacks` rollbacks the run has diverged and the caller
// stops. The guard keeps the last good copy of the parameters and of Adam's moments.
import Compute
import NN

public final class DivergenceGuard {
    public enum Outcome: Equatable, Sendable {
        case stepped, skipped
        case rolledBack(toStep: Int, lrScale: Float)
        case diverged
    }

    let parameters: [Tensor]
    let optimizer: Adam
    public let maxRollbacks: Int
    public let badStepsBeforeRollback: Int
    public private(set) var badSteps = 0, skippedSteps = 0, rollbacks = 0
    /// Multiplies the schedule's learning rate: halved at each rollback.
    public private(set) var lrScale: Float = 1
    public private(set) var diverged = false
    var good: (step: Int, params: [[Float]], m: [[Float]], v: [[Float]], adamStep: Int)?

    public init(parameters: [Tensor], optimizer: Adam, maxRollbacks: Int = 20, badStepsBeforeRollback: Int = 3) {
        self.parameters = parameters
        self.optimizer = optimizer
        self.maxRollbacks = maxRollbacks
        self.badStepsBeforeRollback = badStepsBeforeRollback
    }

    /// The newest step was finite.
    public var isInGoodState: Bool { badSteps == 0 }
    /// The step the last good state is from.
    public var goodStep: Int? { good?.step }

    /// Keeps the current weights and optimizer state as the last good state (at `step`).
    public func remember(step: Int) {
        good = (
            step, parameters.map { $0.toArray() }, optimizer.m.map { $0.toArray() }, optimizer.v.map { $0.toArray() },
            optimizer.stepCount
        )
    }

    /// Continues a saved run's scale (after a resume).
    public func resume(lrScale: Float) { self.lrScale = lrScale }

    /// Judges a step: finite → the caller steps the optimizer; otherwise the step is skipped, and enough
    /// bad steps in a row roll back (the caller continues from the returned step) or end the run.
    public func judge(finite: Bool) -> Outcome {
        if finite {
            badSteps = 0
            return .stepped
        }
        badSteps += 1
        skippedSteps += 1
        guard badSteps >= badStepsBeforeRollback else { return .skipped }
        guard rollbacks < maxRollbacks, let step = restore() else {
            diverged = true
            return .diverged
        }
        lrScale *= 0.5
        rollbacks += 1
        return .rolledBack(toStep: step, lrScale: lrScale)
    }

    /// Puts the last good state back (learning rate unchanged); returns its step, nil if there is none.
    @discardableResult
    public func restore() -> Int? {
        guard let g = good else { return nil }
        for (p, v) in zip(parameters, g.params) { p.assign(Tensor(shape: p.shape, data: v)) }
        optimizer.load(
            step: g.adamStep, m: zip(optimizer.m, g.m).map { Tensor(shape: $0.0.shape, data: $0.1) },
            v: zip(optimizer.v, g.v).map { Tensor(shape: $0.0.shape, data: $0.1) })
        badSteps = 0
        return g.step
    }
}
