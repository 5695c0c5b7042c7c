import ArgumentParser
import Foundation
import Labs
import Models

/// `orrery eval oad`: held-out scores of saved (or the shipped) online action detectors; with
/// `--study`, the comparison the README reports — OadTR, its ablations and the GRU and LSTM baselines
/// trained from scratch on the same streams with the same parameter count and budget.
struct EvalOAD: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "oad",
        abstract:
            "Score online action detectors on the held-out stream: per-frame mAP, accuracy, detection latency, "
            + "anticipation accuracy (--study: train OadTR, its ablations and the GRU/LSTM baselines and compare).")
    @OptionGroup var common: CommonOptions
    @Option(help: "A sequence-lab session directory (default: the shipped detectors).") var checkpoint: String?
    @Flag(help: "Train every variant from scratch with the same budget and compare them.") var study = false
    @Option(help: "Training steps of each variant (--study).") var steps: Int?
    @Option(help: "Seed of the weights and batches (--study).") var seed: UInt64?
    @Flag(help: "JSON: one object per detector, then a done object.") var json = false

    func validate() throws {
        if let s = steps, !(1...1_000_000).contains(s) { throw ValidationError("--steps must be 1…1000000, got \(s)") }
        if !study && (steps != nil || seed != nil) { throw ValidationError("--steps and --seed belong to --study") }
        if study && checkpoint != nil { throw ValidationError("--study trains from scratch; drop --checkpoint") }
    }

    func run() throws {
        try common.apply()
        installInterruptHandler()
        let start = Date()
        var rows: [(name: String, trainer: OADTrainer, eval: OADEvaluation)] = []
        if study {
            var base = SequenceLabConfig().oad
            base.steps = steps ?? base.steps
            base.seed = seed ?? base.seed
            let data = OADData(base)
            if json {
                print(
                    JSONLine.encode([
                        "type": "start", "variants": 7, "steps": base.steps, "train_frames": base.trainFrames,
                        "test_frames": base.testFrames, "batch": base.batch,
                    ]))
            }
            var variants: [(String, OADModelKind, OADAblation)] = [("OadTR", .oadtr, .none)]
            for a in OADAblation.allCases where a != .none { variants.append(("OadTR \(a.rawValue)", .oadtr, a)) }
            variants += [("GRU", .gru, .none), ("LSTM", .lstm, .none)]
            let progress = Progress(total: variants.count * base.steps, label: "study", enabled: !json)
            for (i, (name, kind, ablation)) in variants.enumerated() {
                var c = base
                c.oadtr = ablation.apply(c.oadtr)
                // The baselines are sized to the full OadTR, whatever the ablation.
                let t: OADTrainer
                do { t = try OADTrainer(kind, config: kind == .oadtr ? c : base, data: data) } catch {
                    throw CLIError("\(error)")
                }
                while !t.isFinished {
                    t.trainStep()
                    if t.divergence.diverged { throw CLIError("\(name): training diverged at step \(t.step)") }
                    if interruptRequested != 0 { throw CLIError("interrupted during \(name) at step \(t.step)") }
                    progress.update(i * base.steps + t.step, detail: name)
                }
                let e = t.evaluate()
                rows.append((name, t, e))
                if json {
                    var o = OADReport.json(t, e)
                    o["type"] = "eval"
                    o["variant"] = name
                    o["train_seconds"] = t.trainSeconds
                    print(JSONLine.encode(o))
                }
            }
            progress.finish()
        } else {
            let lab: SequenceLab
            do { lab = try ShippedSequenceModels.detectors(checkpoint: checkpoint) } catch {
                throw CLIError("\(error)")
            }
            // One detector at a time, so Ctrl-C or SIGTERM ends the run between them.
            for t in lab.trainers {
                if interruptRequested != 0 { throw CLIError("interrupted") }
                let e = t.evaluate()
                if interruptRequested != 0 { throw CLIError("interrupted") }
                rows.append((t.kind.title, t, e))
                if json {
                    var o = OADReport.json(t, e)
                    o["type"] = "eval"
                    o["step"] = t.step
                    print(JSONLine.encode(o))
                }
            }
        }
        let secs = Date().timeIntervalSince(start)
        if json {
            print(JSONLine.encode(["type": "done", "detectors": rows.count, "seconds": secs]))
            return
        }
        if let first = rows.first {
            let d = first.trainer.data.test
            print(
                "held-out stream: \(d.frames) frames, \(d.segments.count) actions (seed \(first.trainer.config.dataSeed))"
            )
        }
        for r in rows {
            print(
                "\(r.name): \(r.trainer.describe)"
                    + (study
                        ? String(format: ", %.1f s training (%d steps)", r.trainer.trainSeconds, r.trainer.step) : ""))
        }
        OADReport.table(rows.map { ($0.name, $0.eval) })
    }
}
