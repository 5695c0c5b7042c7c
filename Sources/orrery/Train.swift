import ArgumentParser
import Compute
import Formats
import Foundation
import Models
import NN

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model headless (progress on a terminal, JSON lines with --json).",
        subcommands: [TrainSpirals.self, TrainGPT.self, TrainLSTM.self, TrainGRU.self, TrainChat.self])
}

/// The two-spirals MLP: the smallest real training run, and the default demo.
struct TrainSpirals: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "spirals",
                                                    abstract: "Train an MLP to separate two interleaved spirals.")
    @OptionGroup var common: CommonOptions
    @Option(help: "Optimisation steps (full batch).") var steps = 1500
    @Option(help: "Hidden width of the two hidden layers.") var hidden = 64
    @Option(help: "Learning rate (Adam).") var lr: Float = 0.01
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Flag(help: "Print JSON lines (step events and a final done event).") var json = false
    @Option(help: "Save the trained weights to this .safetensors file (written atomically).") var save: String?

    func validate() throws {
        guard steps >= 1 && steps <= 1_000_000 else { throw ValidationError("--steps must be 1…1000000") }
        guard hidden >= 1 && hidden <= 4096 else { throw ValidationError("--hidden must be 1…4096") }
        guard lr > 0 && lr <= 1e6 else { throw ValidationError("--lr must be in (0, 1000000], got \(lr)") }
    }

    func run() throws {
        try common.apply()
        let data = TwoSpirals(perClass: 200, seed: seed)
        var rng = RNG(seed: seed &+ 1)
        let model = MLP([2, hidden, hidden, 2], activation: { $0.tanh() }, rng: &rng)
        let opt = Adam(model.parameters, lr: lr)
        let progress = Progress(total: steps, label: "two spirals", enabled: !json)
        let start = Date()
        var loss: Float = .nan
        for step in 0..<steps {
            model.zeroGrad()
            let l = model(data.points).crossEntropy(data.labels)
            loss = l.item()
            guard loss.isFinite else { throw CLIError("loss became \(loss) at step \(step) (lower --lr)") }
            l.backward()
            opt.step()
            if json && (step % 100 == 0 || step == steps - 1) {
                print(JSONLine.encode(["type": "step", "step": step, "loss": Double(loss)]))
            }
            progress.update(step + 1, detail: String(format: "loss %.4f", loss))
        }
        progress.finish()
        let acc = noGrad { data.accuracy(model(data.points)) }
        let secs = Date().timeIntervalSince(start)
        if let path = save {
            let items = model.namedParameters().map { SafetensorsWriter.Item($0.0, $0.1) }
            do {
                try SafetensorsWriter.write(items, metadata: ["model": "mlp-two-spirals", "hidden": "\(hidden)",
                                                              "steps": "\(steps)", "accuracy": "\(acc)"], to: path)
            } catch { throw CLIError("\(error)") }
        }
        if json {
            print(JSONLine.encode(["type": "done", "steps": steps, "loss": Double(loss), "accuracy": acc,
                                   "seconds": secs, "parameters": model.parameterCount]))
        } else {
            print(String(format: "two spirals: %d points, MLP %d-%d-%d-%d (%d parameters), %d Adam steps in %.2f s",
                         data.labels.count, 2, hidden, hidden, 2, model.parameterCount, steps, secs))
            print(String(format: "final loss %.4f, accuracy %.1f%%", loss, acc * 100))
        }
    }
}
