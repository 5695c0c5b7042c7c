import ArgumentParser
import Foundation
import Labs
import Models
import Playground

extension DeepSeekExperiment: ExpressibleByArgument {}

/// `orrery deepseek moe|fp8|mtp|scaling`: the DeepSeek lab's experiments without the UI — the same
/// session the TUI's DeepSeek screen runs, its figures printed (or as one JSON line) and its views
/// written as PNG.
struct DeepSeekLabCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deepseek",
        abstract:
            "Run a DeepSeek-lab experiment headless: moe, fp8, mtp or scaling (what the TUI's DeepSeek lab shows).",
        discussion: """
            moe      a DeepSeekMoE GPT under --balancing: max/mean expert load and routing entropy after warm-up,
                     the selection biases, the probe's routing;
            fp8      the same GPT in FP32 and in simulated FP8 on the same seed and batches: both validation
                     losses, the relative gap, the last layer's activations against E4M3 under three scalings;
            mtp      a GPT with one MTP module: self-speculative decoding's acceptance, passes and speed-up
                     against plain greedy (same text), and the MHA/GQA/MLA KV cache and decode speed;
            scaling  the IsoFLOP sweep, its fits, and the predicted larger run trained and measured.
            """)
    @OptionGroup var common: CommonOptions
    @Argument(help: "moe, fp8, mtp or scaling.") var experiment: DeepSeekExperiment
    @Option(help: "Training steps (moe, fp8, mtp).") var steps = 600
    @Option(help: "MoE balancing: none, aux-loss or aux-free.") var balancing: MoEBalancing = .auxFree
    @Option(help: "Corpus: stories, dialogue, or a text file.") var corpus = "stories"
    @Option(help: "Documents generated for a built-in corpus.") var documents = 4000
    @Option(help: "GPT layers.") var layers = 4
    @Option(help: "GPT width.") var width = 128
    @Option(help: "Batch size.") var batch = 32
    @Option(help: "Context length.") var context = 128
    @Option(help: "Validation every N steps.") var evalEvery = 50
    @Option(help: "mtp: speculative-decoding probe every N steps.") var probeEvery = 100
    @Option(help: "mtp: MTP depth D (modules trained; drafting chains them for the per-position view).")
    var mtpDepth = 2
    @Option(help: "scaling: compute budgets in FLOPs, comma-separated.") var budgets = "1e11,3e11,1e12"
    @Option(help: "scaling: widths, comma-separated.") var widths = "16,32,48,64"
    @Option(help: "scaling: the larger budget predicted, then run (0: none).") var predict = 3e12
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Save the session into this directory.") var out: String?
    @Option(help: "Write the experiment's figures as PNG files named PREFIX-<figure>.png.") var png: String?
    @Flag(help: "One JSON summary line on stdout (progress stays on stderr).") var json = false

    func config() throws -> DeepSeekLabConfig {
        var c = DeepSeekLabConfig()
        c.experiment = experiment
        c.steps = steps
        c.balancing = balancing
        c.corpus = CorpusSource(corpus)
        c.documents = documents
        c.layers = layers
        c.width = width
        c.batch = batch
        c.context = context
        c.evalEvery = evalEvery
        c.probeEvery = probeEvery
        c.mtpDepth = mtpDepth
        c.seed = seed
        c.sweep.budgets = try Scaling.numbers(budgets, "--budgets") { Double($0) }
        c.sweep.widths = try Scaling.numbers(widths, "--widths") { Int($0) }
        c.sweep.corpus = c.corpus
        c.sweep.corpusDocuments = documents
        c.sweep.seed = seed
        c.predict = predict > 0 ? predict : nil
        do { try c.validate() } catch { throw CLIError("\(error)") }
        return c
    }

    func run() throws {
        try common.apply()
        let c = try config()
        installInterruptHandler()
        let lab: DeepSeekLab
        do { lab = try DeepSeekLab(c) } catch { throw CLIError("\(error)") }
        let progress = Progress(total: lab.totalSteps, label: experiment.rawValue, enabled: true)
        let start = Date()
        var snap = DeepSeekSnapshot()
        while !lab.isFinished {
            do { try lab.advance() } catch { throw CLIError("\(error) at step \(lab.step)") }
            if interruptRequested != 0 {
                progress.finish()
                guard let o = out else { throw CLIError("interrupted at step \(lab.step); nothing saved (no --out)") }
                do { try lab.save(to: o) } catch { throw CLIError("interrupted at step \(lab.step); \(error)") }
                throw CLIError("interrupted at step \(lab.step); saved to \(o)")
            }
            if lab.step % 10 == 0 {
                lab.publish(into: &snap)
                progress.update(lab.step, detail: DeepSeekLabCommand.detail(snap))
            }
        }
        lab.publish(into: &snap)
        progress.update(lab.totalSteps, detail: DeepSeekLabCommand.detail(snap))
        progress.finish()
        let seconds = Date().timeIntervalSince(start)
        if let o = out {
            do { try lab.save(to: o) } catch { throw CLIError("\(error)") }
        }
        if let p = png {
            for (suffix, img) in DeepSeekScreen.figures(snap) {
                do { try PNGExport.write(p + suffix, width: img.0, height: img.1, rgb: img.2) } catch {
                    throw CLIError("\(error)")
                }
                if !json { print("wrote \(p + suffix)") }
            }
        }
        var o = DeepSeekLabCommand.summary(snap)
        o["seconds"] = seconds
        if json {
            print(JSONLine.encode(o))
        } else {
            DeepSeekLabCommand.report(snap, seconds: seconds)
            if let d = out { print("saved to \(d)") }
        }
    }

    static func detail(_ s: DeepSeekSnapshot) -> String {
        switch s.config.experiment {
        case .moe: return s.maxOverMean.last.map { String(format: "max/mean %.2f", $0.y) } ?? ""
        case .fp8: return s.gap.last.map { String(format: "gap %+.2f %%", $0.y) } ?? ""
        case .mtp: return s.acceptance.last.map { String(format: "acceptance %.0f %%", $0.y * 100) } ?? ""
        case .scaling: return s.current.map { String(format: "C %.0e width %d", $0.budget, $0.width) } ?? ""
        }
    }

    /// Mean of the points after `from` (the warm-up left out).
    static func mean(_ p: [(x: Double, y: Double)], from: Double) -> Double {
        let late = p.filter { $0.x > from }.map(\.y)
        return late.isEmpty ? .nan : late.reduce(0, +) / Double(late.count)
    }

    static func summary(_ s: DeepSeekSnapshot) -> [String: Any] {
        var o: [String: Any] = ["type": "deepseek", "experiment": s.config.experiment.rawValue, "steps": s.step]
        if !s.models.isEmpty {
            o["models"] = s.models
            o["parameters"] = s.parameters
            o["val_loss"] = s.valLosses.map { $0.last?.y ?? .nan }
            o["tokens_per_s"] = s.tokensPerSecond
        }
        let warm = Double(s.config.steps) / 6
        switch s.config.experiment {
        case .moe:
            o["balancing"] = s.config.balancing.rawValue
            o["max_over_mean"] = mean(s.maxOverMean, from: warm)
            o["load_entropy"] = mean(s.entropy, from: warm)
            o["biases"] = s.biases.map { $0.map(Double.init) }
            o["probe_tokens"] = s.probeTokens
            o["probe_experts"] = s.probeExperts
        case .fp8:
            if let g = s.gap.last { o["gap_percent"] = g.y }
            if let h = s.histogram {
                o["activations"] = h.source
                o["e4m3"] = h.outcomes.map {
                    [
                        "scaling": $0.scaling, "underflow": $0.underflow, "subnormal": $0.subnormal,
                        "saturated": $0.saturated, "relative_error": $0.relativeError,
                    ] as [String: Any]
                }
            }
        case .mtp:
            if let l = s.mtpLosses.last { o["mtp_loss"] = l.y }
            if let a = s.acceptance.last { o["acceptance"] = a.y }
            if let v = s.speedup.last { o["speedup"] = v.y }
            o["pass_ratio"] = s.passRatio
            o["acceptance_by_position"] = s.acceptanceByPosition.map { $0.last?.y ?? .nan }
            o["same_as_greedy"] = s.matchesGreedy
            o["decode"] = s.decode.map {
                [
                    "attention": $0.name, "kv_bytes_per_token": $0.kvBytesPerToken, "tokens_per_s": $0.tokensPerSecond,
                ] as [String: Any]
            }
        case .scaling:
            o["runs"] = s.runs.map {
                ["budget": $0.budget, "width": $0.width, "m": $0.m, "steps": $0.steps, "val_loss": $0.valLoss]
                    as [String: Any]
            }
            if let f = s.fit {
                o["minima"] = f.minima.map { ["budget": $0.c, "m": $0.m, "loss": $0.loss] }
                if let m = f.model { o["model_exponent"] = m.exponent }
                if let d = f.data { o["data_exponent"] = d.exponent }
                if let l = f.loss {
                    o["loss_law"] = ["floor": l.floor, "coefficient": l.coefficient, "exponent": l.exponent]
                }
            }
            if let p = s.prediction {
                var q: [String: Any] = [
                    "budget": p.budget, "predicted_m": p.predictedM, "predicted_loss": p.predictedLoss,
                    "width": p.width,
                ]
                if let v = p.measured { q["measured_loss"] = v }
                o["prediction"] = q
            }
        }
        return o
    }

    static func report(_ s: DeepSeekSnapshot, seconds: Double) {
        print(String(format: "%@: %d steps in %.1f s", s.config.experiment.title, s.step, seconds))
        for (i, m) in s.models.enumerated() {
            let v = s.valLosses[i].last.map { String(format: "%.4f", $0.y) } ?? "-"
            print(
                String(
                    format: "%@: %d parameters, validation loss %@, %.0f tokens/s", m, s.parameters[i], v,
                    s.tokensPerSecond[i]))
        }
        let warm = Double(s.config.steps) / 6
        switch s.config.experiment {
        case .moe:
            print(
                String(
                    format: "after step %.0f: max/mean expert load %.3f, load entropy %.3f of log E", warm,
                    mean(s.maxOverMean, from: warm), mean(s.entropy, from: warm)))
            for (l, b) in s.biases.enumerated() {
                print("layer \(l) biases: " + b.map { String(format: "%+.3f", $0) }.joined(separator: " "))
            }
            if let first = s.probeExperts.first {
                print(
                    "layer 0 routing of the probe: "
                        + zip(s.probeTokens, first).map {
                            "\($0.0.debugDescription)→\($0.1.map(String.init).joined(separator: "+"))"
                        }
                        .joined(separator: " "))
            }
        case .fp8:
            if let g = s.gap.last { print(String(format: "FP8 vs FP32 validation loss: %+.3f %%", g.y)) }
            if let h = s.histogram {
                print("E4M3 on \(h.source) (\(h.values) values): zero / subnormal / saturated / relative error")
                for o in h.outcomes {
                    print(
                        String(
                            format: "  %@  %5.2f %%  %5.2f %%  %5.2f %%  %6.3f %%",
                            o.scaling.padding(toLength: 7, withPad: " ", startingAt: 0), o.underflow * 100,
                            o.subnormal * 100, o.saturated * 100, o.relativeError * 100))
                }
            }
        case .mtp:
            if let a = s.acceptance.last, let v = s.speedup.last {
                print(
                    String(
                        format: "self-speculative decoding: %.1f %% of drafts accepted, %.2f× fewer passes, %.2f× the "
                            + "tokens/s of greedy, %@", a.y * 100, s.passRatio, v.y,
                        s.matchesGreedy ? "same text" : "DIFFERENT text"))
            }
            if !s.acceptanceByPosition.isEmpty {
                print(
                    "teacher-forced acceptance by draft position (MTP depths chained): "
                        + s.acceptanceByPosition.enumerated().map {
                            String(format: "%d: %.1f %%", $0.offset + 1, ($0.element.last?.y ?? .nan) * 100)
                        }.joined(separator: ", "))
            }
            for d in s.decode {
                print(
                    String(
                        format: "%@  %6d KV bytes/token  %7.0f tokens/s", d.name.uppercased(), d.kvBytesPerToken,
                        d.tokensPerSecond))
            }
        case .scaling:
            for r in s.runs {
                print(
                    String(
                        format: "C %.2e  width %3d  M %.3e  %6d steps  val loss %.4f", r.budget, r.width, r.m, r.steps,
                        r.valLoss))
            }
            if let f = s.fit {
                if let m = f.model { print(String(format: "M_opt ∝ C^%.3f (R² %.3f)", m.exponent, m.r2)) }
                if let l = f.loss {
                    print(String(format: "L_opt = %.4f + %.3e · C^%.4f", l.floor, l.coefficient, l.exponent))
                }
            }
            if let p = s.prediction, let v = p.measured {
                print(
                    String(
                        format: "predicted at C %.2e: loss %.4f; ran width %d: %.4f (%+.1f %%)", p.budget,
                        p.predictedLoss, p.width, v, (v - p.predictedLoss) / p.predictedLoss * 100))
            }
        }
    }
}
