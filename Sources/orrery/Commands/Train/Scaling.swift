import ArgumentParser
import Foundation
import Labs
import Models

/// `orrery scaling`: a DeepSeek-LLM-style scaling study of tiny GPTs, and a prediction put to the test.
struct Scaling: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Train tiny GPTs of several widths at several compute budgets C = M·D, find each budget's IsoFLOP "
            + "minimum, fit M_opt, D_opt and the loss against C, and (--predict C) predict a larger run and run it.")
    @OptionGroup var common: CommonOptions
    @Option(help: "Compute budgets in FLOPs, comma-separated (default 1e11,3e11,1e12; with --hyper 3e10,1e11,3e11).")
    var budgets: String?
    @Flag(
        help: ArgumentHelp(
            "Sweep batch size and learning rate instead: fit B_opt and η_opt against C, and compare the best "
                + "cell of each budget under cosine and multi-step schedules.")) var hyper = false
    @Option(help: "--hyper: batch sizes, comma-separated.") var batches = "4,8,16,32,64"
    @Option(help: "--hyper: peak learning rates, comma-separated.") var lrs = "1e-3,2e-3,4e-3,8e-3"
    @Option(help: "--hyper: the model width (2 layers).") var width = 32
    @Option(
        help: ArgumentHelp(
            "--hyper: cells within this fraction of a budget's best loss are near-optimal (their geometric "
                + "mean is the budget's B_opt and η_opt).")) var nearOptimal = 0.05
    @Option(help: "Model widths, comma-separated (2 layers, heads of 16).") var widths = "16,32,48,64"
    @Option(help: "A larger budget: predict its optimal width and loss, then train it and compare.") var predict:
        Double?
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Corpus: stories, dialogue, or a text file.") var corpus = "stories"
    @Option(help: "Documents generated for a built-in corpus.") var documents = 4000
    @Flag(help: "JSON lines: a run event per training run, a minimum per budget, the fit, the prediction.") var json =
        false

    func config() throws -> ScalingSweepConfig {
        var c = ScalingSweepConfig()
        let b = (budgets ?? "1e11,3e11,1e12").split(separator: ",").map {
            Double($0.trimmingCharacters(in: .whitespaces))
        }
        let w = widths.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !b.isEmpty, b.allSatisfy({ $0 != nil }) else { throw CLIError("--budgets takes numbers, e.g. 3e10,1e11") }
        guard !w.isEmpty, w.allSatisfy({ $0 != nil }) else { throw CLIError("--widths takes integers, e.g. 32,64") }
        c.budgets = b.map { $0! }
        c.widths = w.map { $0! }
        c.seed = seed
        c.corpus = CorpusSource(corpus)
        c.corpusDocuments = documents
        do { try c.validate() } catch { throw CLIError("\(error)") }
        if let p = predict, !(p.isFinite && p >= 1e6 && p <= 1e15) {
            throw CLIError("--predict must be 1e6…1e15 FLOPs")
        }
        return c
    }

    func run() throws {
        try common.apply()
        if hyper { return try runHyper() }
        let c = try config()
        installInterruptHandler()
        let total = c.budgets.count * c.widths.count + (predict == nil ? 0 : 1)
        let progress = Progress(total: total, label: "scaling", enabled: !json)
        var runs: [ScalingRun] = []
        let stop = { interruptRequested != 0 }
        for budget in c.budgets {
            for width in c.widths {
                let r: ScalingRun
                do { r = try ScalingSweep.train(c, width: width, budget: budget, stop: stop) } catch {
                    throw CLIError(interruptRequested != 0 ? "interrupted after \(runs.count) runs" : "\(error)")
                }
                runs.append(r)
                if json {
                    print(
                        JSONLine.encode([
                            "type": "run", "budget": r.budget, "width": r.width, "m": r.m, "tokens": r.tokens,
                            "steps": r.steps, "val_loss": r.valLoss, "seconds": r.seconds,
                        ]))
                }
                progress.update(
                    runs.count, detail: String(format: "C %.0e width %d: loss %.3f", budget, width, r.valLoss))
            }
        }
        let fit = ScalingFit(runs)
        var predicted: (m: Double, loss: Double)?
        var measured: ScalingRun?
        if let p = predict, let guess = fit.predict(p) {
            predicted = guess
            let width = ScalingSweep.width(c, nearest: guess.m)
            do { measured = try ScalingSweep.train(c, width: width, budget: p, stop: stop) } catch {
                throw CLIError(interruptRequested != 0 ? "interrupted during the predicted run" : "\(error)")
            }
            progress.update(total)
        }
        progress.finish()
        if json {
            for m in fit.minima {
                print(JSONLine.encode(["type": "minimum", "budget": m.c, "m": m.m, "loss": m.loss]))
            }
            var o: [String: Any] = ["type": "fit"]
            if let f = fit.model {
                o["model_exponent"] = f.exponent
                o["model_coefficient"] = f.coefficient
                o["model_r2"] = f.r2
            }
            if let f = fit.data {
                o["data_exponent"] = f.exponent
                o["data_coefficient"] = f.coefficient
            }
            if let f = fit.loss {
                o["loss_floor"] = f.floor
                o["loss_exponent"] = f.exponent
                o["loss_coefficient"] = f.coefficient
                o["loss_r2"] = f.r2
            }
            print(JSONLine.encode(o))
            if let p = predicted, let m = measured {
                print(
                    JSONLine.encode([
                        "type": "prediction", "budget": m.budget, "predicted_m": p.m, "predicted_loss": p.loss,
                        "width": m.width, "m": m.m, "measured_loss": m.valLoss,
                        "relative_error": (m.valLoss - p.loss) / p.loss,
                    ]))
            }
            return
        }
        print("budget C     width   M (FLOPs/token)   tokens D    steps   val loss")
        for r in runs {
            print(
                String(
                    format: "%9.2e  %5d   %15.3e  %9.3e  %6d   %.4f", r.budget, r.width, r.m, r.tokens, r.steps,
                    r.valLoss))
        }
        for m in fit.minima { print(String(format: "IsoFLOP minimum at C %.2e: M %.3e, loss %.4f", m.c, m.m, m.loss)) }
        if let f = fit.model, let d = fit.data {
            print(
                String(
                    format: "M_opt = %.3e · C^%.3f (R² %.3f); D_opt = %.3e · C^%.3f", f.coefficient, f.exponent, f.r2,
                    d.coefficient, d.exponent))
        }
        if let l = fit.loss {
            print(String(format: "L_opt = %.4f + %.3e · C^%.4f (R² %.3f)", l.floor, l.coefficient, l.exponent, l.r2))
        }
        if let p = predicted, let m = measured {
            print(
                String(
                    format: "predicted at C %.2e: M_opt %.3e, loss %.4f; ran width %d (M %.3e): loss %.4f (%+.1f %%)",
                    m.budget, p.m, p.loss, m.width, m.m, m.valLoss, (m.valLoss - p.loss) / p.loss * 100))
        }
    }

    static func numbers<T>(_ text: String, _ flag: String, _ parse: (String) -> T?) throws -> [T] {
        let v = text.split(separator: ",").map { parse($0.trimmingCharacters(in: .whitespaces)) }
        guard !v.isEmpty, v.allSatisfy({ $0 != nil }) else { throw CLIError("\(flag) takes a comma-separated list") }
        return v.map { $0! }
    }

    func hyperConfig() throws -> HyperSweepConfig {
        var c = HyperSweepConfig()
        c.budgets = try Scaling.numbers(budgets ?? "3e10,1e11,3e11", "--budgets") { Double($0) }
        c.batches = try Scaling.numbers(batches, "--batches") { Int($0) }
        c.lrs = try Scaling.numbers(lrs, "--lrs") { Float($0) }
        c.width = width
        c.nearOptimal = nearOptimal
        c.seed = seed
        c.corpus = CorpusSource(corpus)
        c.corpusDocuments = documents
        do { try c.validate() } catch { throw CLIError("\(error)") }
        return c
    }

    func runHyper() throws {
        let c = try hyperConfig()
        installInterruptHandler()
        let total = c.budgets.count * (c.batches.count * c.lrs.count + 1)
        let progress = Progress(total: total, label: "hyper", enabled: !json)
        let stop = { interruptRequested != 0 }
        var runs: [HyperRun] = []
        func train(_ lm: LMConfig, _ budget: Double) throws -> HyperRun {
            let r: HyperRun
            do { r = try HyperparameterSweep.train(lm, budget: budget, stop: stop) } catch {
                throw CLIError(interruptRequested != 0 ? "interrupted after \(runs.count) runs" : "\(error)")
            }
            runs.append(r)
            if json {
                print(
                    JSONLine.encode([
                        "type": "hyper_run", "budget": r.budget, "batch": r.batch, "lr": Double(r.lr), "steps": r.steps,
                        "schedule": r.schedule.rawValue, "val_loss": r.valLoss, "seconds": r.seconds,
                    ]))
            }
            progress.update(
                runs.count,
                detail: String(
                    format: "C %.0e B %d lr %.0e %@: loss %.3f", budget, r.batch, r.lr, r.schedule.rawValue, r.valLoss))
            return r
        }
        for budget in c.budgets {
            for b in c.batches { for lr in c.lrs { _ = try train(c.run(budget: budget, batch: b, lr: lr), budget) } }
        }
        var fit = HyperFit(runs, nearOptimal: c.nearOptimal)
        var multistep: [Double: HyperRun] = [:]
        for o in fit.optima {
            multistep[o.budget] = try train(
                c.run(budget: o.budget, batch: o.best.batch, lr: o.best.lr, schedule: .multistep), o.budget)
        }
        fit = HyperFit(runs, nearOptimal: c.nearOptimal)
        progress.finish()
        if json {
            for o in fit.optima {
                var line: [String: Any] = [
                    "type": "hyper_optimum", "budget": o.budget, "best_batch": o.best.batch,
                    "best_lr": Double(o.best.lr),
                    "best_loss": o.best.valLoss, "batch_opt": o.batch, "lr_opt": o.lr, "near_optimal": o.nearOptimal,
                ]
                if let m = multistep[o.budget] { line["multistep_loss"] = m.valLoss }
                print(JSONLine.encode(line))
            }
            var o: [String: Any] = ["type": "hyper_fit"]
            if let b = fit.batch {
                o["batch_exponent"] = b.exponent
                o["batch_coefficient"] = b.coefficient
                o["batch_r2"] = b.r2
            }
            if let l = fit.lr {
                o["lr_exponent"] = l.exponent
                o["lr_coefficient"] = l.coefficient
                o["lr_r2"] = l.r2
            }
            print(JSONLine.encode(o))
            return
        }
        print(
            "width \(c.width), 2 layers, context \(c.context), M \(String(format: "%.3e", c.flopsPerToken)) FLOPs/token, "
                + "corpus \(c.corpus)")
        for budget in c.budgets {
            print(String(format: "C %.2e: validation loss, rows batch size, columns peak learning rate", budget))
            print("  batch " + c.lrs.map { String(format: "%9.0e", $0) }.joined())
            for b in c.batches {
                let row = c.lrs.map { lr in
                    runs.first { $0.budget == budget && $0.batch == b && $0.lr == lr && $0.schedule == .cosine }
                        .map { String(format: "%9.4f", $0.valLoss) } ?? "        -"
                }
                print(String(format: "  %5d ", b) + row.joined())
            }
        }
        for o in fit.optima {
            var line = String(
                format:
                    "C %.2e: best B %d, lr %.0e (loss %.4f); near-optimal (%d cells within %.0f %%): B_opt %.1f, η_opt %.2e",
                o.budget, o.best.batch, o.best.lr, o.best.valLoss, o.nearOptimal, c.nearOptimal * 100, o.batch, o.lr)
            if let m = multistep[o.budget] {
                line += String(
                    format: "; multi-step %.4f (%+.2f %% vs cosine)", m.valLoss,
                    (m.valLoss - o.best.valLoss) / o.best.valLoss * 100)
            }
            print(line)
        }
        if let b = fit.batch, let l = fit.lr {
            print(
                String(
                    format:
                        "B_opt = %.3e · C^%.4f (R² %.3f); η_opt = %.3e · C^%.4f (R² %.3f)  [DeepSeek LLM: β 0.3271, α -0.1250]",
                    b.coefficient, b.exponent, b.r2, l.coefficient, l.exponent, l.r2))
        }
    }
}
