import ArgumentParser
import Compute
import Foundation
import Labs
import Models

/// Set by the first SIGINT/SIGTERM: the training loop finishes its step, saves, and exits.
nonisolated(unsafe) var interruptRequested: sig_atomic_t = 0

/// The first SIGINT or SIGTERM asks the run to stop at the next step boundary (and save); a second
/// one ends the process at once with the signal's default action (a save in progress is atomic, so
/// the previous one survives).
func installInterruptHandler() {
    let handler: @convention(c) (Int32) -> Void = { sig in
        if interruptRequested != 0 {
            signal(sig, SIG_DFL)
            raise(sig)
        }
        interruptRequested = 1
    }
    signal(SIGINT, handler)
    signal(SIGTERM, handler)
}

/// `orrery train gpt|lstm|gru|chat`: one command, four presets of the language lab.
/// Options shared by the language-model training commands.
struct TrainLanguage: ParsableArguments {
    @OptionGroup var common: CommonOptions
    @Option(help: "Optimisation steps.") var steps: Int?
    @Option(help: "Train on this UTF-8 text file instead of the built-in corpus.") var corpus: String?
    @Flag(help: "Accept binary or non-UTF-8 corpora as raw bytes.") var bytes = false
    @Option(help: "Session directory to save into (config, tokenizer, weights, optimizer, metrics).") var out: String?
    @Option(help: "Continue the session saved in this directory.") var resume: String?
    @Option(help: "Layers.") var layers: Int?
    @Option(help: "Width (model dimension / hidden size).") var width: Int?
    @Option(help: "Attention heads (GPT).") var heads: Int?
    @Option(help: "Context length in tokens.") var context: Int?
    @Option(help: "Sequences per batch.") var batch: Int?
    @Option(help: "Peak learning rate.") var lr: Float?
    @Option(help: "Random seed.") var seed: UInt64?
    @Option(help: "Tokenizer: char or bpe.") var tokenizer: TokenizerKind?
    @Option(help: "Documents generated for a built-in corpus.") var documents: Int?
    @Option(help: "GPT residual dropout probability.") var dropout: Float?
    @Option(help: "Evaluate every N steps.") var evalEvery: Int?
    @Option(help: "Save every N steps (with --out).") var checkpointEvery: Int?
    @Option(help: "Print a sample every N steps (0: never).") var sampleEvery = 0
    @Option(help: "With --json, emit the probe's attention maps (all layers and heads) every N steps (GPT; 0: never).")
    var attentionEvery = 0
    @Option(help: "MoE GPT: routed experts per layer.") var experts: Int?
    @Option(help: "MoE GPT: shared experts per layer.") var sharedExperts: Int?
    @Option(help: "MoE GPT: routed experts each token uses.") var topK: Int?
    @Option(help: "MoE GPT: hidden width of each expert.") var expertHidden: Int?
    @Option(help: "MoE GPT: load balancing: none, aux-loss or aux-free.") var balancing: MoEBalancing?
    @Option(help: "MoE GPT: aux-free bias step γ.") var biasUpdate: Float?
    @Option(help: "MoE GPT: weight α of the auxiliary balance loss (aux-loss).") var auxWeight: Float?
    @Option(help: "MoE GPT: weight of the sequence-wise balance loss (with aux-free).") var sequenceAuxWeight: Float?
    @Flag(help: "Simulated FP8 (E4M3, fine-grained scaling) GEMM inputs in the GPT blocks.") var fp8 = false
    @Option(help: "MTP GPT: prediction depth D (modules predicting 2…D+1 tokens ahead).") var mtpDepth: Int?
    @Option(help: "MTP GPT: weight λ of the MTP loss.") var mtpWeight: Float?
    @Option(help: "MLA GPT: the latent d_c each token caches.") var kvLatent: Int?
    @Option(help: "MLA GPT: the query latent.") var queryLatent: Int?
    @Option(help: "MLA GPT: the decoupled rotary dimensions.") var ropeDim: Int?
    @Flag(help: "JSON lines: step, eval, skipped, rollback, sample, done and error events.") var json = false
    @Flag(help: "Replace a session already saved in --out.") var force = false

    func validate() throws {
        guard sampleEvery >= 0 else {
            throw ValidationError("--sample-every must be ≥ 0 (0: never), got \(sampleEvery)")
        }
        guard attentionEvery >= 0 else {
            throw ValidationError("--attention-every must be ≥ 0 (0: never), got \(attentionEvery)")
        }
        if resume != nil {
            // A resumed run continues exactly: what shapes the model, the data or the schedule is fixed.
            let fixed: [(String, Bool)] = [
                ("--layers", layers != nil), ("--width", width != nil), ("--heads", heads != nil),
                ("--context", context != nil), ("--batch", batch != nil), ("--lr", lr != nil),
                ("--seed", seed != nil), ("--tokenizer", tokenizer != nil), ("--corpus", corpus != nil),
                ("--documents", documents != nil), ("--dropout", dropout != nil), ("--bytes", bytes),
                ("--eval-every", evalEvery != nil), ("--checkpoint-every", checkpointEvery != nil),
            ]
            if let name = fixed.first(where: \.1)?.0 {
                throw ValidationError("\(name) cannot change a resumed run (the session's saved configuration is used)")
            }
        }
    }

    /// The lock taken on a session resumed in place (held for the whole run).
    nonisolated(unsafe) static var resumeLock: SessionDirectory.Lock?

    func makeSession(preset: String) throws -> LanguageSession {
        if let dir = resume {
            // Where the run will save is checked before the work starts, not at its first save.
            _ = try SessionDirectory.current(dir)  // a session is there (before "not writable" could mislead)
            if let o = out, o != dir {
                try SessionDirectory.prepareNew(o, replace: force)
            } else {
                try SessionDirectory.probeWritable(dir)
                // Resuming in place: hold the directory before reading it, so no other writer is mid-save.
                TrainLanguage.resumeLock = try SessionDirectory.lock(dir)
            }
            let s = try LanguageSessionDirectory.resume(dir)
            let expected = LMConfig.preset(preset)?.model ?? .gpt
            guard s.config.model == expected else {
                throw CLIError(
                    "the session in \(dir) is a \(s.config.model.rawValue); continue it with "
                        + "'orrery train \(s.config.model.rawValue) --resume \(dir)'")
            }
            if let o = out, o != dir { s.directory = o } else { s.directory = dir }
            return s
        }
        if let o = out { try SessionDirectory.prepareNew(o, replace: force) }
        guard var c = LMConfig.preset(preset) else { throw CLIError("unknown model \(preset)") }
        if let v = steps { c.steps = v }
        if let v = corpus { c.corpus = .file(v) }
        c.byteLevel = bytes
        if let v = layers { c.layers = v }
        if let v = width { c.width = v }
        if let v = heads { c.heads = v }
        if let v = context { c.context = v }
        if let v = batch { c.batch = v }
        if let v = lr {
            c.lr = v
            c.minLR = min(c.minLR, v / 10)
        }
        if let v = seed { c.seed = v }
        if let v = tokenizer { c.tokenizer = v }
        if let v = documents { c.corpusDocuments = v }
        if let v = evalEvery { c.evalEvery = v }
        if let v = dropout { c.dropout = v }
        if let v = checkpointEvery { c.checkpointEvery = v }
        let moeFlags: [Any?] = [
            experts, sharedExperts, topK, expertHidden, balancing, biasUpdate, auxWeight, sequenceAuxWeight,
        ]
        if moeFlags.contains(where: { $0 != nil }) {
            guard var m = c.moe else {
                throw CLIError("--experts, --top-k, --balancing… configure a MoE GPT: use 'orrery train moe'")
            }
            if let v = experts { m.routedExperts = v }
            if let v = sharedExperts { m.sharedExperts = v }
            if let v = topK { m.topK = v }
            if let v = expertHidden { m.expertHidden = v }
            if let v = balancing { m.balancing = v }
            if let v = biasUpdate { m.biasUpdate = v }
            if let v = auxWeight { m.auxWeight = v }
            if let v = sequenceAuxWeight { m.sequenceAuxWeight = v }
            c.moe = m
        }
        if fp8 { c.fp8 = true }
        if let v = mtpDepth { c.mtpDepth = v }
        if let v = mtpWeight {
            guard (c.mtpDepth ?? 0) > 0 else {
                throw CLIError("--mtp-weight needs MTP: use 'orrery train mtp' or --mtp-depth")
            }
            c.mtpWeight = v
        }
        if kvLatent != nil || queryLatent != nil || ropeDim != nil {
            guard var m = c.mla else {
                throw CLIError("--kv-latent, --query-latent, --rope-dim configure MLA: use 'orrery train mla'")
            }
            if let v = kvLatent { m.kvLatent = v }
            if let v = queryLatent { m.queryLatent = v }
            if let v = ropeDim { m.ropeDim = v }
            c.mla = m
        }
        return try LanguageSession(config: c, directory: out)
    }

    func run(preset: String) throws {
        do { try train(preset: preset) } catch {
            // With --json the failure is an event too (and still the one-line error on stderr).
            if json && !(error is StandardOutput.Failure) {
                print(JSONLine.encode(["type": "error", "message": "\(error)"]))
            }
            throw error
        }
    }

    func train(preset: String) throws {
        try common.apply()
        let session: LanguageSession
        do { session = try makeSession(preset: preset) } catch let e as SessionError {
            if case .config = e, resume == nil {
                throw CLIError("\(e.description) (see 'orrery train \(preset) --help')")
            }
            throw CLIError(e.description)
        } catch let e as CheckpointError {
            throw CLIError(e.description)
        }
        // One writer per session directory for the whole run.
        let lock: SessionDirectory.Lock?
        do {
            lock = try TrainLanguage.resumeLock ?? session.directory.map { try SessionDirectory.lock($0) }
        } catch let e as CheckpointError {
            throw CLIError(e.description)
        }
        defer { withExtendedLifetime(lock) {} }
        installInterruptHandler()
        let c = session.config
        if steps != nil && resume != nil, let s = steps, s != c.steps {
            throw CLIError("--steps cannot change a resumed run (its schedule is fixed at \(c.steps) steps)")
        }
        let params = session.model.parameterCount
        if !json {
            print(
                "\(c.model.rawValue) \(c.layers)×\(c.width), \(params) parameters, "
                    + "vocab \(session.tokenizer.vocabSize), "
                    + "context \(c.context), batch \(c.batch), corpus \(c.corpus): "
                    + "\(session.trainTokens.count) train / \(session.valTokens.count) val tokens"
            )
        } else {
            print(
                JSONLine.encode([
                    "type": "start", "model": c.model.rawValue, "parameters": params, "step": session.step,
                    "steps": c.steps, "vocab": session.tokenizer.vocabSize,
                ]))
        }
        let progress = Progress(total: c.steps, label: c.model.rawValue, enabled: !json)
        let eventsBefore = session.events.count
        let outcome: TrainingOutcome
        do {
            outcome = try session.runToEnd(
                shouldStop: { interruptRequested != 0 || StandardOutput.failed },
                onStep: { m, events in
                    for event in events { report(event, progress: progress) }
                    printStep(m, session, progress)
                })
        } catch let e as SessionError {
            progress.finish()
            throw CLIError(e.reason + (session.directory.map { "; the last save in \($0) is kept" } ?? ""))
        } catch { throw CLIError("\(error)") }
        progress.finish()
        let tail = session.events[eventsBefore...].drop { e in
            if case .restoredForSave = e { return false }
            return true
        }
        for event in tail { report(event, progress: progress) }
        try StandardOutput.check()
        let val = outcome.valLoss
        let secs = outcome.seconds
        let tokens = outcome.tokens
        let divergedAt = outcome.divergedAt
        if json {
            print(
                JSONLine.encode([
                    "type": "done", "step": session.step, "val_loss": Double(val), "seconds": secs,
                    "tokens_per_s": Double(tokens) / max(secs, 1e-9), "interrupted": interruptRequested != 0,
                    "skipped_steps": session.skippedSteps, "rollbacks": session.rollbacks,
                ]))
        } else {
            print(
                String(
                    format: "step %d: validation loss %.4f, %.0f tokens/s over %.1f s", session.step, val,
                    Double(tokens) / max(secs, 1e-9), secs))
            if session.skippedSteps > 0 {
                print(
                    "\(session.skippedSteps) steps skipped for a non-finite loss, \(session.rollbacks) rollbacks "
                        + "(learning rate now ×\(session.lrScale))")
            }
            if let d = session.directory { print("saved to \(d)") }
        }
        guard val.isFinite else {
            let lastSave = outcome.lastSave
            throw CLIError(
                "the model diverged: its validation loss is not finite (lower --lr)"
                    + (lastSave.flatMap { s in session.directory.map { "; the save of step \(s) in \($0) is kept" } }
                        ?? (session.directory == nil ? "" : "; nothing was saved")))
        }
        if let at = divergedAt {
            throw CLIError(
                "the model diverged at step \(at) (lower --lr)"
                    + (session.directory.map { "; its last good state (step \(session.step)) is saved in \($0)" } ?? "")
            )
        }
        if interruptRequested != 0 {
            throw CLIError("interrupted at step \(session.step)" + (session.directory.map { "; saved to \($0)" } ?? ""))
        }
    }

    /// One step as a JSON event or on the progress bar; samples and attention maps when due.
    func printStep(_ m: StepMetrics, _ session: LanguageSession, _ progress: Progress) {
        if json {
            var o: [String: Any] = [
                "type": "step", "step": m.step, "loss": Double(m.loss), "lr": Double(m.lr),
                "tokens_per_s": m.tokensPerSecond, "grad_norm": Double(m.gradNorm), "clipped": m.clipped,
            ]
            if m.skipped { o["skipped"] = true }
            if let loads = m.expertLoad {
                o["expert_load"] = loads.map { $0.map(Double.init) }
                o["max_over_mean_load"] = loads.map { Double($0.max() ?? 0) }
            }
            if let b = m.balanceLoss { o["balance_loss"] = Double(b) }
            if let l = m.mtpLosses { o["mtp_losses"] = l.map(Double.init) }
            print(JSONLine.encode(o))
            if let v = m.valLoss { print(JSONLine.encode(["type": "eval", "step": m.step, "val_loss": Double(v)])) }
        }
        var detail = String(format: "loss %.3f", m.loss)
        if let v = session.history.last(where: { $0.valLoss != nil })?.valLoss {
            detail += String(format: " val %.3f", v)
        }
        progress.update(session.step, detail: detail + String(format: " %.0f tok/s", m.tokensPerSecond))
        if sampleEvery > 0 && session.step % sampleEvery == 0 {
            let text = session.sampleText(maxTokens: 120)
            if json {
                print(JSONLine.encode(["type": "sample", "step": session.step, "text": text]))
            } else {
                progress.finish()
                print("--- sample at step \(session.step) ---\n\(text)\n---")
            }
        }
        if json && attentionEvery > 0 && session.step % attentionEvery == 0,
            let (tokens, maps) = session.attentionProbe()
        {
            for (l, heads) in maps.enumerated() {
                for (h, m) in heads.enumerated() {
                    print(
                        JSONLine.encode([
                            "type": "attention", "step": session.step, "layer": l, "head": h, "tokens": tokens,
                            "probs": m.map { $0.map { Double($0) } },
                        ]))
                }
            }
        }
    }

    /// A skipped step or a rollback is visible: a JSON event, or a line above the progress bar.
    func report(_ event: SessionEvent, progress: Progress) {
        switch event {
        case .nonFiniteLoss(let step):
            if json {
                print(JSONLine.encode(["type": "skipped", "step": step, "reason": "non-finite loss or gradient"]))
            } else {
                progress.interject("step \(step): the loss or gradient is not finite; step skipped")
            }
        case .rollback(let to, let scale):
            if json {
                print(JSONLine.encode(["type": "rollback", "to_step": to, "lr_scale": Double(scale)]))
            } else {
                progress.interject("rolled back to step \(to) after 3 bad steps; learning rate now ×\(scale)")
            }
        case .restoredForSave(let to):
            if json {
                print(
                    JSONLine.encode(["type": "restored", "to_step": to, "reason": "the model is no longer finite"]))
            } else {
                progress.interject("the model is no longer finite: saving the last good state (step \(to)) instead")
            }
        case .saved: break
        }
    }
}

struct TrainGPT: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpt", abstract: "Train a GPT on the story corpus (or --corpus).")
    @OptionGroup var options: TrainLanguage
    func run() throws { try options.run(preset: "gpt") }
}

struct TrainMoE: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "moe",
        abstract:
            "Train a DeepSeekMoE GPT: 8 routed experts (top-2) + 1 shared per layer, auxiliary-loss-free balancing "
            + "(the dense GPT's active parameters).")
    @OptionGroup var options: TrainLanguage
    func run() throws { try options.run(preset: "moe") }
}

struct TrainMLA: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mla",
        abstract:
            "Train a GPT with multi-head latent attention (DeepSeek-V2): keys and values from a cached latent of "
            + "64 numbers per token and layer, plus a 16-dimensional shared rotary key.")
    @OptionGroup var options: TrainLanguage
    func run() throws { try options.run(preset: "mla") }
}

struct TrainMTP: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mtp",
        abstract:
            "Train a GPT with multi-token prediction (DeepSeek-V3): one MTP module predicting the token after next, "
            + "loss weight 0.3; its drafts make self-speculative decoding (orrery sample --speculative).")
    @OptionGroup var options: TrainLanguage
    func run() throws { try options.run(preset: "mtp") }
}

struct TrainFP8: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fp8",
        abstract: "Train the GPT with simulated FP8 (E4M3, 1×128 / 128×128 scaling) GEMM inputs, as DeepSeek-V3.")
    @OptionGroup var options: TrainLanguage
    func run() throws { try options.run(preset: "fp8") }
}

struct TrainLSTM: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "lstm", abstract: "Train an LSTM language model.")
    @OptionGroup var options: TrainLanguage
    func run() throws { try options.run(preset: "lstm") }
}

struct TrainGRU: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gru", abstract: "Train a GRU language model.")
    @OptionGroup var options: TrainLanguage
    func run() throws { try options.run(preset: "gru") }
}

struct TrainChat: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Train the chat model on the built-in dialogue corpus.")
    @OptionGroup var options: TrainLanguage
    func run() throws { try options.run(preset: "chat") }
}

extension TokenizerKind: ExpressibleByArgument {}
extension MoEBalancing: ExpressibleByArgument {}
