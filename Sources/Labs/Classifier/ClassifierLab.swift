// The classifier playground (the TensorFlow Playground idea, in the terminal): a small MLP learns to
// separate two classes in the plane, and the lab shows what it has learned — the decision boundary
// as a probability map over the plane under the data, and what each first-layer neuron responds to.
import Compute
import Formats
import Foundation
import Models
import NN

public struct ClassifierConfig: Codable, Equatable, Sendable {
    public enum Activation: String, Codable, CaseIterable, Sendable { case tanh, relu }
    public var dataset: ToyDataset = .spirals
    /// Hidden layers and their width.
    public var layers = 2, width = 64
    public var activation: Activation = .tanh
    public var lr: Float = 0.01
    public var steps = 1500
    public var pointsPerClass = 200
    public var seed: UInt64 = 1
    public init() {}

    public func validate() throws {
        func check(_ ok: Bool, _ what: String) throws { if !ok { throw SessionError.config(what) } }
        try check(layers >= 1 && layers <= 8, "layers must be 1…8, got \(layers)")
        try check(width >= 1 && width <= 4096, "width must be 1…4096, got \(width)")
        try check(lr > 0 && lr <= 1e6, "learning rate must be in (0, 1000000], got \(lr)")
        try check(steps >= 1 && steps <= 1_000_000, "steps must be 1…1000000, got \(steps)")
        try check(
            pointsPerClass >= 2 && pointsPerClass <= 100_000, "points per class must be 2…100000, got \(pointsPerClass)"
        )
    }
}

public final class ClassifierSession {
    public let config: ClassifierConfig
    public let data: ToyClassification
    public let model: MLP
    let optimizer: Adam
    public private(set) var step = 0
    public private(set) var losses: [Float] = []
    public private(set) var accuracy = 0.0

    public init(_ config: ClassifierConfig) throws {
        try config.validate()
        self.config = config
        data = ToyClassification(config.dataset, perClass: config.pointsPerClass, seed: config.seed)
        var rng = RNG(seed: config.seed &+ 1)
        let sizes: [Int] = [2] + Array(repeating: config.width, count: config.layers) + [2]
        switch config.activation {
        case .tanh: model = MLP(sizes, activation: { (x: Tensor) -> Tensor in x.tanh() }, rng: &rng)
        case .relu: model = MLP(sizes, activation: { (x: Tensor) -> Tensor in x.relu() }, rng: &rng)
        }
        optimizer = Adam(model.parameters, lr: config.lr)
        divergence = DivergenceGuard(parameters: model.parameters, optimizer: optimizer)
        divergence.remember(step: 0)
    }

    /// Skips and rollbacks on non-finite losses, as in every lab.
    public let divergence: DivergenceGuard

    /// One full-batch Adam step; returns the loss (NaN: the step was skipped).
    @discardableResult
    public func trainStep() -> Float {
        model.zeroGrad()
        let l = model(data.points).crossEntropy(data.labels)
        let loss = l.item()
        switch divergence.judge(finite: loss.isFinite) {
        case .stepped:
            l.backward()
            optimizer.learningRate = config.lr * divergence.lrScale
            optimizer.step()
            step += 1
            if step % 50 == 0 { divergence.remember(step: step) }
        case .skipped, .diverged: step += 1
        case .rolledBack(let to, _): step = to
        }
        losses.append(loss)
        if step % 10 == 0 || step == config.steps { accuracy = noGrad { data.accuracy(model(data.points)) } }
        return loss
    }

    /// The square of the plane shown: the data's bounding box, padded and made square.
    public var bounds: (x0: Float, x1: Float, y0: Float, y1: Float) {
        let p = data.points.toArray()
        let xs = stride(from: 0, to: p.count, by: 2).map { p[$0] }
        let ys = stride(from: 1, to: p.count, by: 2).map { p[$0] }
        let cx = ((xs.min() ?? -1) + (xs.max() ?? 1)) / 2
        let cy = ((ys.min() ?? -1) + (ys.max() ?? 1)) / 2
        let half = max((xs.max() ?? 1) - (xs.min() ?? -1), (ys.max() ?? 1) - (ys.min() ?? -1)) / 2 * 1.1
        return (cx - half, cx + half, cy - half, cy + half)
    }

    /// The model's probability of class 1 on an n × n grid over `bounds` (row 0 at the top), and the
    /// first hidden layer's activations on the same grid ([neuron][row][col]) for at most `neurons`.
    public func probe(n: Int, neurons: Int = 8) -> (probability: [[Float]], neurons: [[[Float]]]) {
        let b = bounds
        var grid: [Float] = []
        grid.reserveCapacity(n * n * 2)
        for r in 0..<n {
            for c in 0..<n {
                grid.append(b.x0 + (b.x1 - b.x0) * (Float(c) + 0.5) / Float(n))
                grid.append(b.y1 - (b.y1 - b.y0) * (Float(r) + 0.5) / Float(n))
            }
        }
        return noGrad {
            let x = Tensor(shape: [n * n, 2], data: grid)
            let p = model(x).softmax(1).toArray()
            let probability = (0..<n).map { r in (0..<n).map { c in p[(r * n + c) * 2 + 1] } }
            let first = model.layers[0](x)
            let h = (config.activation == .tanh ? first.tanh() : first.relu()).toArray()
            let k = min(neurons, config.width)
            let maps = (0..<k).map { j in (0..<n).map { r in (0..<n).map { c in h[(r * n + c) * config.width + j] } } }
            return (probability, maps)
        }
    }
}

public struct ClassifierSnapshot: Sendable {
    public var step = 0, totalSteps = 0
    public var dataset: ToyDataset = .spirals
    public var model = ""
    public var losses: [(x: Double, y: Double)] = []
    public var accuracy = 0.0
    /// P(class 1) on a grid over `bounds`, row 0 at the top.
    public var probability: [[Float]] = []
    public var neurons: [[[Float]]] = []
    /// Points in the plane with their labels.
    public var points: [(x: Float, y: Float, label: Int)] = []
    public var bounds: (x0: Float, x1: Float, y0: Float, y1: Float) = (-1, 1, -1, 1)
    public init() {}
}

public enum ClassifierCommand: Sendable { case restart }

public final class ClassifierLab: SteppedSession {
    public private(set) var session: ClassifierSession
    /// Grid resolution of the probability map, and how often it is recomputed.
    public var gridSize = 48, probeEvery = 10
    var probed: (probability: [[Float]], neurons: [[[Float]]])?

    public init(_ config: ClassifierConfig) throws {
        session = try ClassifierSession(config)
        probed = session.probe(n: gridSize)
    }

    public var step: Int { session.step }
    public var isFinished: Bool { session.step >= session.config.steps }

    public func advance() throws {
        session.trainStep()
        if session.divergence.diverged {
            throw SessionError.diverged(step: session.step, rollbacks: session.divergence.rollbacks)
        }
        if session.step % probeEvery == 0 || isFinished { probed = session.probe(n: gridSize) }
    }

    public func handle(_ command: ClassifierCommand) {
        switch command {
        case .restart:
            if let s = try? ClassifierSession(session.config) {
                session = s
                probed = s.probe(n: gridSize)
            }
        }
    }

    public func publish(into s: inout ClassifierSnapshot) {
        let c = session.config
        s.step = session.step
        s.totalSteps = c.steps
        s.dataset = c.dataset
        s.model =
            "MLP 2-" + Array(repeating: "\(c.width)", count: c.layers).joined(separator: "-")
            + "-2 \(c.activation.rawValue)"
        if s.losses.count > session.losses.count { s.losses = [] }
        for i in s.losses.count..<session.losses.count { s.losses.append((Double(i + 1), Double(session.losses[i]))) }
        s.accuracy = session.accuracy
        if let p = probed {
            s.probability = p.probability
            s.neurons = p.neurons
        }
        if s.points.isEmpty || s.step <= 1 {
            let p = session.data.points.toArray()
            s.points = session.data.labels.enumerated().map { (p[2 * $0.offset], p[2 * $0.offset + 1], $0.element) }
            s.bounds = session.bounds
        }
    }

    /// Saves the weights and the configuration as a session directory.
    public func save(to directory: String) throws {
        try ClassifierLab.save(session, to: directory)
    }
}

public typealias ClassifierRunner = SessionRunner<ClassifierLab>

extension SessionRunner where Session == ClassifierLab {
    public static func classifier(_ config: ClassifierConfig) -> ClassifierRunner {
        var initial = ClassifierSnapshot()
        initial.totalSteps = config.steps
        initial.dataset = config.dataset
        return ClassifierRunner(title: "Classifier playground", initial: initial) { try ClassifierLab(config) }
    }
}

extension ClassifierLab {
    public static let format = "orrery-classifier-session-1"

    /// model.safetensors and config.json, committed atomically as one snapshot.
    public static func save(_ s: ClassifierSession, to directory: String) throws {
        var files: [(name: String, bytes: [UInt8])] = []
        do {
            let items = s.model.namedParameters().map { SafetensorsWriter.Item($0.0, $0.1) }
            files.append(
                (
                    "model.safetensors",
                    try SafetensorsWriter.encode(items, metadata: ["step": "\(s.step)", "format": format])
                ))
            let manifest = SessionManifest(
                format: format, lab: "classifier", step: s.step, config: s.config, metrics: ["accuracy": s.accuracy])
            files.append(("config.json", try manifest.encoded()))
        } catch {
            throw CheckpointError.writeFailed(dir: directory, reason: "cannot encode the session: \(error)")
        }
        try SessionDirectory.commit(files, step: s.step, to: directory)
    }
}
