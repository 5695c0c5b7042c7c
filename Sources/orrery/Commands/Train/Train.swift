import ArgumentParser
import Compute
import Formats
import Foundation
import Labs
import Models
import NN
import Playground

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model headless (progress on a terminal, JSON lines with --json).",
        subcommands: [
            TrainClassifier.self, TrainSpirals.self, TrainGPT.self, TrainMoE.self, TrainMLA.self, TrainMTP.self,
            TrainFP8.self,
            TrainRace.self,
            TrainLSTM.self, TrainGRU.self,
            TrainChat.self, TrainGAN.self, TrainWGAN.self, TrainWGANGP.self, TrainVQVAE.self, TrainVQGAN.self,
            TrainVQPrior.self, TrainDDPM.self, TrainLDM.self, TrainOAD.self, TrainOADGRU.self, TrainOADLSTM.self,
        ])
}

/// `orrery train classifier`: the classifier playground headless — an MLP on a 2-D dataset.
struct TrainClassifier: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classifier",
        abstract: "Train an MLP to separate two classes in the plane (spirals, circles, xor, gaussians).")
    @OptionGroup var options: ClassifierOptions
    func run() throws { try options.run(dataset: options.dataset) }
}

/// `orrery train spirals`: the same, on two spirals (the smallest real training run).
struct TrainSpirals: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spirals",
        abstract: "Train an MLP to separate two interleaved spirals (= train classifier --dataset spirals).")
    @OptionGroup var options: ClassifierOptions
    func run() throws { try options.run(dataset: .spirals) }
}

extension ToyDataset: ExpressibleByArgument {}
extension ClassifierConfig.Activation: ExpressibleByArgument {}

struct ClassifierOptions: ParsableArguments {
    @OptionGroup var common: CommonOptions
    @Option(help: "Dataset: spirals, circles, xor or gaussians.") var dataset: ToyDataset = .spirals
    @Option(help: "Optimisation steps (full batch).") var steps = 1500
    @Option(help: "Hidden layers.") var layers = 2
    @Option(help: "Width of each hidden layer.") var hidden = 64
    @Option(help: "Activation: tanh or relu.") var activation: ClassifierConfig.Activation = .tanh
    @Option(help: "Learning rate (Adam).") var lr: Float = 0.01
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Flag(help: "Print JSON lines (step events and a final done event).") var json = false
    @Option(help: "Save the trained weights to this .safetensors file (written atomically).") var save: String?
    @Option(help: "Write the decision boundary with the data points as a PNG.") var png: String?

    func validate() throws {
        guard steps >= 1 && steps <= 1_000_000 else { throw ValidationError("--steps must be 1…1000000, got \(steps)") }
        guard hidden >= 1 && hidden <= 4096 else { throw ValidationError("--hidden must be 1…4096, got \(hidden)") }
        guard layers >= 1 && layers <= 8 else { throw ValidationError("--layers must be 1…8, got \(layers)") }
        guard lr > 0 && lr <= 1e6 else { throw ValidationError("--lr must be in (0, 1000000], got \(lr)") }
    }

    func run(dataset: ToyDataset) throws {
        try common.apply()
        var c = ClassifierConfig()
        c.dataset = dataset
        c.steps = steps
        c.layers = layers
        c.width = hidden
        c.activation = activation
        c.lr = lr
        c.seed = seed
        let session: ClassifierSession
        do { session = try ClassifierSession(c) } catch { throw CLIError("\(error)") }
        let progress = Progress(total: steps, label: dataset.rawValue, enabled: !json)
        let start = Date()
        var loss: Float = .nan
        while session.step < steps {
            let step = session.step
            loss = session.trainStep()
            if session.divergence.diverged {
                throw CLIError(
                    SessionError.diverged(step: session.step, rollbacks: session.divergence.rollbacks).reason)
            }
            if json && (step % 100 == 0 || step == steps - 1) {
                print(JSONLine.encode(["type": "step", "step": step, "loss": Double(loss)]))
            }
            progress.update(session.step, detail: String(format: "loss %.4f", loss))
            if StandardOutput.failed { break }
        }
        progress.finish()
        try StandardOutput.check()
        let acc = session.accuracy
        let secs = Date().timeIntervalSince(start)
        if let path = save {
            let items = session.model.namedParameters().map { SafetensorsWriter.Item($0.0, $0.1) }
            do {
                try SafetensorsWriter.write(
                    items,
                    metadata: [
                        "model": "mlp-\(dataset.rawValue)", "hidden": "\(hidden)",
                        "layers": "\(layers)", "steps": "\(steps)", "accuracy": "\(acc)",
                    ], to: path)
            } catch { throw CLIError("\(error)") }
        }
        if let path = png {
            do { try ClassifierExport.boundaryPNG(session, to: path) } catch { throw CLIError("\(error)") }
        }
        if json {
            print(
                JSONLine.encode([
                    "type": "done", "steps": steps, "loss": Double(loss), "accuracy": acc, "dataset": dataset.rawValue,
                    "seconds": secs, "parameters": session.model.parameterCount,
                ]))
        } else {
            let sizes = ([2] + Array(repeating: hidden, count: layers) + [2]).map(String.init).joined(separator: "-")
            print(
                String(
                    format: "%@: %d points, MLP %@ %@ (%d parameters), %d Adam steps in %.2f s", dataset.rawValue,
                    session.data.labels.count, sizes, activation.rawValue, session.model.parameterCount, steps, secs))
            print(String(format: "final loss %.4f, accuracy %.1f%%", loss, acc * 100))
            if let p = png { print("decision boundary written to \(p)") }
        }
    }
}
