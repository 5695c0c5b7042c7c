// A streaming stand-in for pre-extracted video features (what online action detection runs on: one
// feature vector per frame from a frozen video backbone), generated in code and seeded.
//
// Six actions in three twin pairs — grab/push (both start with "reach"), jump/sit (both start with
// "crouch"), wave/point (both start with "raise arm"). Each action is a trajectory through three phase
// patterns: the first phase is shared with its twin, so the first ~35 % of an action cannot tell the
// twins apart and only later frames do. An action fades in over a few frames (gradual onset) and out
// over its last frames; its length and strength vary. Between actions: background that drifts slowly
// (an AR(1) walk around a scene vector), sometimes with a *false start* — a faint, short onset of a
// pair's shared first phase that fades back to background without becoming an action. Most actions
// are announced by a *preparation cue* a few frames before they start (as a sprinter's set position
// precedes the start): three background frames carrying a pattern of the action that follows, 6–24
// frames before its onset. The cue is the one early sign of which twin is coming — a long-range
// dependency: a detector that looks back to it resolves the twin at the onset and can anticipate the
// start; one that does not must wait for the second phase. Every frame has white noise on top. Labels: 0 background, 1…6 the actions; every frame of a segment carries the
// segment's action, including the ambiguous start.
//
//   x_t = b_t + a · env(i) · Σ_k w_k(i / (L − 1)) · P[action][k] + σ ε_t
//
// with b_t the drifting background, env the fade-in/fade-out envelope, w_k the phase weights (phase 0
// alone for u < 0.35, a cross-fade to phase 1 by 0.45, phase 1 to 0.75, a cross-fade to phase 2 by
// 0.85), P the phase patterns (P[twin][0] shared) and ε standard normal.
import Compute
import Foundation

/// One action instance in a stream: frames start..<start+length carry `action`.
public struct ActionSegment: Equatable, Sendable, Codable {
    public var start: Int, length: Int, action: Int
    public init(start: Int, length: Int, action: Int) {
        self.start = start
        self.length = length
        self.action = action
    }
    public var end: Int { start + length }
}

public struct ActionStreamConfig: Codable, Equatable, Sendable {
    /// Feature dimension per frame.
    public var features = 64
    /// Action lengths in frames (uniform).
    public var minLength = 24, maxLength = 64
    /// Background gaps between actions in frames (uniform).
    public var minGap = 8, maxGap = 48
    /// Frames over which an action fades in.
    public var onset = 6
    /// Standard deviation of each pattern entry (signal) and of the per-frame noise.
    public var signal: Float = 0.3, noise: Float = 1
    /// Chance that a background gap holds a false start.
    public var falseStarts: Float = 0.35
    /// Chance that an action is announced by its preparation cue; the cue's lead (frames from the
    /// cue's first frame to the action's first), its length, and its strength relative to `signal`.
    public var cues: Float = 0.8
    public var minCueLead = 6, maxCueLead = 24
    public var cueLength = 3
    public var cueGain: Float = 1.5
    /// Seed of the action patterns and the scene (shared by every stream of a dataset).
    public var patternSeed: UInt64 = 7
    public init() {}

    public func validate() throws {
        func check(_ ok: Bool, _ what: String) throws { if !ok { throw ActionStreamError.config(what) } }
        try check(features >= 2 && features <= 1024, "features must be 2…1024, got \(features)")
        try check(
            minLength >= 4 && maxLength >= minLength && maxLength <= 10_000, "action lengths must be 4 ≤ min ≤ max")
        try check(minGap >= 1 && maxGap >= minGap && maxGap <= 10_000, "gaps must be 1 ≤ min ≤ max")
        try check(onset >= 1 && onset <= minLength, "onset must be 1…min length, got \(onset)")
        try check(signal > 0 && signal.isFinite && noise >= 0 && noise.isFinite, "signal must be > 0, noise ≥ 0")
        try check((0...1).contains(falseStarts), "false-start chance must be in [0, 1]")
        try check((0...1).contains(cues), "cue chance must be in [0, 1]")
        try check(
            cueLength >= 1 && minCueLead >= cueLength && maxCueLead >= minCueLead && maxCueLead <= 1000,
            "cue lead must be ≥ cue length and min ≤ max")
        try check(cueGain >= 0 && cueGain.isFinite, "cue gain must be ≥ 0")
    }
}

public enum ActionStreamError: Error, CustomStringConvertible, Equatable {
    case config(String)
    public var description: String {
        switch self {
        case .config(let s): return "action stream: \(s)"
        }
    }
}

public struct ActionStream: Sendable {
    public static let classNames = ["background", "grab", "push", "jump", "sit", "wave", "point"]
    /// The first phase each twin pair shares.
    public static let sharedOnsets = ["reach", "crouch", "raise arm"]
    public static let actions = 6
    public static var classes: Int { actions + 1 }
    /// The action that shares action a's first phase.
    public static func twin(of a: Int) -> Int { a % 2 == 1 ? a + 1 : a - 1 }

    public let config: ActionStreamConfig
    public let frames: Int
    /// Features [frames · features], row-major.
    public let features: [Float]
    /// The class of each frame (0 background).
    public let labels: [Int]
    public let segments: [ActionSegment]
    /// False starts (background frames that begin like an action): (start, length, pair).
    public let falseStartSegments: [(start: Int, length: Int, pair: Int)]
    /// Preparation cues (background frames announcing the action that follows): (start, action).
    public let cueSegments: [(start: Int, action: Int)]

    /// The phase weights (w0, w1, w2) at fraction u ∈ [0, 1] of an action.
    public static func phaseWeights(_ u: Float) -> (Float, Float, Float) {
        if u < 0.35 { return (1, 0, 0) }
        if u < 0.45 {
            let f = (u - 0.35) / 0.1
            return (1 - f, f, 0)
        }
        if u < 0.75 { return (0, 1, 0) }
        if u < 0.85 {
            let f = (u - 0.75) / 0.1
            return (0, 1 - f, f)
        }
        return (0, 0, 1)
    }

    /// The phase patterns P[action][phase] (action 1…6; index 0 unused), each [features].
    public static func patterns(_ c: ActionStreamConfig) -> [[[Float]]] {
        var rng = RNG(seed: c.patternSeed)
        func pattern() -> [Float] { (0..<c.features).map { _ in c.signal * rng.normal() } }
        var p: [[[Float]]] = [[]]
        for _ in 0..<(actions / 2) {
            let shared = pattern()
            p.append([shared, pattern(), pattern()])
            p.append([shared, pattern(), pattern()])
        }
        return p
    }

    /// The preparation-cue pattern of each action (index 0 unused), each [features].
    public static func cuePatterns(_ c: ActionStreamConfig) -> [[Float]] {
        var rng = RNG(seed: c.patternSeed &+ 2)
        return [[]] + (1...actions).map { _ in (0..<c.features).map { _ in c.cueGain * c.signal * rng.normal() } }
    }

    /// The scene vector the background drifts around.
    static func scene(_ c: ActionStreamConfig) -> [Float] {
        var rng = RNG(seed: c.patternSeed &+ 1)
        return (0..<c.features).map { _ in 0.5 * c.signal * rng.normal() }
    }

    public init(_ config: ActionStreamConfig = ActionStreamConfig(), frames: Int, seed: UInt64) {
        precondition(frames >= 1, "ActionStream: at least one frame")
        self.config = config
        self.frames = frames
        let F = config.features
        let P = ActionStream.patterns(config)
        let scene = ActionStream.scene(config)
        var rng = RNG(seed: seed)
        var labels = [Int](repeating: 0, count: frames)
        var x = [Float](repeating: 0, count: frames * F)
        var segments: [ActionSegment] = []
        var falseStarts: [(Int, Int, Int)] = []
        var cues: [(Int, Int)] = []
        // Lay out gaps and actions first.
        var t = config.minGap + rng.int(below: config.maxGap - config.minGap + 1)
        while t < frames {
            let L = config.minLength + rng.int(below: config.maxLength - config.minLength + 1)
            guard t + L <= frames else { break }
            let a = 1 + rng.int(below: ActionStream.actions)
            segments.append(ActionSegment(start: t, length: L, action: a))
            t += L + config.minGap + rng.int(below: config.maxGap - config.minGap + 1)
        }
        // Cues in the gap before an action (never inside the previous action), then false starts in
        // what is left of each gap (never touching an action or a cue).
        var gapStart = 0
        for s in segments + [ActionSegment(start: frames, length: 0, action: 0)] {
            var gapEnd = s.start
            if s.action > 0, rng.uniform() < config.cues {
                let lead = config.minCueLead + rng.int(below: config.maxCueLead - config.minCueLead + 1)
                if s.start - lead >= gapStart + 1 {
                    cues.append((s.start - lead, s.action))
                    gapEnd = s.start - lead
                }
            }
            let gap = gapEnd - gapStart
            if gap >= 10, rng.uniform() < config.falseStarts {
                let len = 4 + rng.int(below: Swift.min(8, gap - 6) - 3)
                let start = gapStart + 2 + rng.int(below: gap - len - 3)
                falseStarts.append((start, len, rng.int(below: ActionStream.actions / 2)))
            }
            gapStart = s.end
        }
        // Background: an AR(1) drift around the scene.
        var drift = [Float](repeating: 0, count: F)
        for i in 0..<frames {
            for f in 0..<F {
                drift[f] = 0.97 * drift[f] + 0.05 * config.signal * rng.normal()
                x[i * F + f] = scene[f] + drift[f]
            }
        }
        for s in segments {
            let strength = 0.75 + 0.5 * rng.uniform()
            for i in 0..<s.length {
                let u = Float(i) / Float(s.length - 1)
                let (w0, w1, w2) = ActionStream.phaseWeights(u)
                let env = Swift.min(1, Float(i + 1) / Float(config.onset)) * Swift.min(1, Float(s.length - i) / 3)
                let a = strength * env
                let p = P[s.action]
                let row = (s.start + i) * F
                for f in 0..<F { x[row + f] += a * (w0 * p[0][f] + w1 * p[1][f] + w2 * p[2][f]) }
                labels[s.start + i] = s.action
            }
        }
        let C = ActionStream.cuePatterns(config)
        for (start, action) in cues {
            for i in 0..<config.cueLength where start + i < frames {
                for f in 0..<F { x[(start + i) * F + f] += C[action][f] }
            }
        }
        for (start, len, pair) in falseStarts {
            let p = P[2 * pair + 1][0]
            let peak = 0.4 + 0.3 * rng.uniform()
            for i in 0..<len {
                // Rises like an onset, then fades: a triangle peaking at 60 % of its length.
                let u = Float(i + 1) / Float(len)
                let env = peak * (u < 0.6 ? u / 0.6 : (1 - u) / 0.4 + 0.1)
                for f in 0..<F { x[(start + i) * F + f] += env * p[f] }
            }
        }
        for i in 0..<(frames * F) { x[i] += config.noise * rng.normal() }
        features = x
        self.labels = labels
        self.segments = segments
        falseStartSegments = falseStarts
        cueSegments = cues
    }

    /// The features of frames from..<to as [to − from, features]; frames before 0 are zero vectors
    /// (what an online model sees before the stream began).
    public func window(endingAt t: Int, length T: Int) -> [Float] {
        let F = config.features
        var out = [Float](repeating: 0, count: T * F)
        for k in 0..<T {
            let i = t - T + 1 + k
            guard i >= 0 && i < frames else { continue }
            for f in 0..<F { out[k * F + f] = features[i * F + f] }
        }
        return out
    }

    /// The features of every frame [frames, features].
    public var tensor: Tensor { Tensor(shape: [frames, config.features], data: features) }

    /// Labels of frames t+1…t+ℓ (−100 past the end of the stream: ignored by the loss).
    public func future(after t: Int, count: Int) -> [Int] {
        (1...Swift.max(1, count)).prefix(count).map { k in t + k < frames ? labels[t + k] : -100 }
    }
}
