import ArgumentParser
import Foundation
import Labs
import Models

/// `orrery train race`: GPT, LSTM and GRU on the same corpus, step for step (the language lab's race).
struct TrainRace: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "race",
        abstract: "Train a GPT, an LSTM and a GRU on the same corpus, batches and steps; compare validation losses.")
    @OptionGroup var common: CommonOptions
    @Option(help: "Steps for each model.") var steps = 300
    @Option(help: "Train on this UTF-8 text file instead of the built-in stories.") var corpus: String?
    @Option(help: "Context length in tokens.") var context = 64
    @Option(help: "Sequences per batch.") var batch = 16
    @Option(help: "Evaluate every N steps.") var evalEvery = 50
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Documents generated for the built-in corpus.") var documents = 2000
    @Option(help: "Save the three sessions into DIR/gpt, DIR/lstm and DIR/gru.") var out: String?
    @Flag(help: "JSON lines: start, eval (one per model and evaluation) and done events.") var json = false

    func validate() throws {
        guard steps >= 1 && steps <= 1_000_000 else { throw ValidationError("--steps must be 1…1000000, got \(steps)") }
        guard evalEvery >= 1 else { throw ValidationError("--eval-every must be ≥ 1, got \(evalEvery)") }
    }

    func run() throws {
        try common.apply()
        var base = LMConfig()
        base.steps = steps
        base.context = context
        base.batch = batch
        base.evalEvery = evalEvery
        base.seed = seed
        base.corpusDocuments = documents
        base.checkpointEvery = 0
        if let c = corpus { base.corpus = .file(c) }
        let race: LanguageRace
        do { race = try LanguageRace(base: base) } catch { throw CLIError("\(error)") }
        installInterruptHandler()
        var snapshot = RaceSnapshot()
        race.publish(into: &snapshot)
        for e in snapshot.entries {
            if json {
                print(JSONLine.encode(["type": "start", "model": e.name, "parameters": e.parameters, "steps": steps]))
            } else {
                print("\(e.name): \(e.parameters) parameters")
            }
        }
        let progress = Progress(total: steps, label: "race", enabled: !json)
        var seen = snapshot.entries.map(\.byStep.count)
        while !race.isFinished && interruptRequested == 0 && !StandardOutput.failed {
            do { try race.advance() } catch { throw CLIError("\(error)") }
            race.publish(into: &snapshot)
            for (i, e) in snapshot.entries.enumerated() where e.byStep.count > seen[i] {
                let (step, val) = e.byStep[e.byStep.count - 1]
                if json {
                    print(
                        JSONLine.encode([
                            "type": "eval", "model": e.name, "step": Int(step), "val_loss": val, "seconds": e.seconds,
                            "tokens_per_s": e.tokensPerSecond,
                        ]))
                } else {
                    progress.interject(
                        String(
                            format: "%-10@ step %5d  val %.4f  (%.1f s of compute)", e.name, Int(step), val, e.seconds))
                }
                seen[i] = e.byStep.count
            }
            progress.update(race.step)
        }
        progress.finish()
        if let dir = out {
            do { try race.save(to: dir) } catch { throw CLIError("\(error)") }
        }
        try StandardOutput.check()
        let results: [[String: Any]] = snapshot.entries.map { e in
            [
                "model": e.name, "parameters": e.parameters, "step": e.step, "val_loss": e.byStep.last?.y ?? Double.nan,
                "seconds": e.seconds, "tokens_per_s": e.tokensPerSecond,
            ]
        }
        if json {
            print(JSONLine.encode(["type": "done", "results": results]))
        } else {
            let ranked = snapshot.entries.sorted { ($0.byStep.last?.y ?? .infinity) < ($1.byStep.last?.y ?? .infinity) }
            for (k, e) in ranked.enumerated() {
                print(
                    String(
                        format: "%d. %-10@ val %.4f after %d steps, %.1f s of compute, %.0f tokens/s", k + 1, e.name,
                        e.byStep.last?.y ?? .nan, e.step, e.seconds, e.tokensPerSecond))
            }
            if let dir = out { print("saved to \(dir)/gpt, \(dir)/lstm, \(dir)/gru") }
        }
        if interruptRequested != 0 { throw CLIError("interrupted at step \(race.step)") }
    }
}
