// The language lab's headless training loop, shared by `orrery train` and anything else that trains
// without the UI: steps to the end of the schedule (or until asked to stop), checkpoints only sound
// states, and at the end saves the newest sound state — going back to the last good one when the
// model diverged. Front ends only print what they are shown.
import Foundation

public struct TrainingOutcome: Sendable {
    /// Validation loss of the state the run ended on (after any return to the last good state).
    public var valLoss: Float
    /// The step at which the model was no longer sound, if it diverged at the end.
    public var divergedAt: Int?
    /// The step last saved into the session directory (nil: nothing saved).
    public var lastSave: Int?
    public var stoppedEarly: Bool
    public var tokens: Int
    public var seconds: Double
}

extension LanguageSession {
    /// Trains to `config.steps` unless `shouldStop` says otherwise (checked between steps). `onStep`
    /// sees each step's metrics and the events the step caused; it prints, and may throw to end the
    /// run. Throws `SessionError.diverged` when the divergence guard gives up, and save errors.
    public func runToEnd(
        shouldStop: () -> Bool, onStep: (StepMetrics, ArraySlice<SessionEvent>) throws -> Void
    ) throws -> TrainingOutcome {
        let start = Date()
        var tokens = 0
        var seen = events.count
        var stoppedEarly = false
        while step < config.steps {
            let m = trainStep()
            tokens += config.batch * config.context
            let new = events[seen...]
            seen = events.count
            if diverged { throw SessionError.diverged(step: step, rollbacks: rollbacks) }
            try onStep(m, new)
            // A checkpoint keeps only a sound state; an unsound one is skipped (the previous save stays).
            if directory != nil && config.checkpointEvery > 0 && step % config.checkpointEvery == 0 && isSound() {
                try save()
            }
            if shouldStop() {
                stoppedEarly = step < config.steps
                break
            }
        }
        // The run ends on a sound state, or goes back to the last one before saving.
        let divergedAt = isSound() ? nil : step
        if divergedAt != nil { restoreLastGood() }
        let val = evaluate()
        let savedNow = events.last == .saved(step: step)  // nothing happened since the last save
        if directory != nil && !savedNow && val.isFinite { try save() }
        let lastSave = events.reversed().compactMap { e -> Int? in if case .saved(let s) = e { s } else { nil } }.first
        return TrainingOutcome(
            valLoss: val, divergedAt: divergedAt, lastSave: lastSave, stoppedEarly: stoppedEarly, tokens: tokens,
            seconds: Date().timeIntervalSince(start))
    }
}
