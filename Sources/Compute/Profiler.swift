// The step profiler: where does a training step's time go? Kernels and ops open a scope naming their
// category (GEMM with its shape, attention, norms, elementwise, cross-entropy, optimizer, …) and the
// work they do (FLOPs or bytes moved); the profiler adds up wall time per category on the thread that
// started it. The outermost scope owns its time (an optimizer step's elementwise work is the
// optimizer's), except buffer allocation and waiting for the workers at the end of a parallel
// region, which are taken out of whatever scope they happen in and shown on their own lines.
// When it is off a scope costs one load and a branch.
import CKernels
import Dispatch
import Foundation

public enum ProfileCategory: Int, CaseIterable, Sendable {
    case gemm, attentionForward, attentionBackward, norm, elementwise, reduction, embedding, copy
    case crossEntropy, optimizer, allocation, sync, other

    public var label: String {
        switch self {
        case .gemm: "GEMM"
        case .attentionForward: "attention forward"
        case .attentionBackward: "attention backward"
        case .norm: "norms"
        case .elementwise: "elementwise"
        case .reduction: "reductions"
        case .embedding: "embedding, RoPE"
        case .copy: "copies, transposes"
        case .crossEntropy: "cross-entropy"
        case .optimizer: "optimizer"
        case .allocation: "allocation"
        case .sync: "thread sync"
        case .other: "autograd, other"
        }
    }

    /// Whether the category's work is counted in FLOPs (against the FMA peak) or bytes (against memory
    /// bandwidth); allocation, sync and other count neither.
    public var boundByCompute: Bool { self == .gemm || self == .attentionForward || self == .attentionBackward }
}

/// One line of a profile: a category (or one GEMM shape) over the profiled steps.
public struct ProfileLine: Sendable {
    public var name: String
    public var category: ProfileCategory
    public var calls = 0
    public var seconds = 0.0
    public var flops = 0.0
    public var bytes = 0.0
}

/// What the profiler measured over `steps` steps.
public struct StepProfile: Sendable {
    public var steps = 0
    /// Wall time of the profiled region.
    public var seconds = 0.0
    /// One line per category, in `ProfileCategory` order (`other` = wall time not in any scope).
    public var categories: [ProfileLine] = []
    /// GEMM time by shape (M×N×K), largest first.
    public var gemmShapes: [ProfileLine] = []
    /// Tensor buffers taken from the heap and reused from the pool.
    public var heapAllocations = 0
    public var reusedAllocations = 0

    public var stepSeconds: Double { seconds / Double(Swift.max(steps, 1)) }
    public var heapAllocationsPerStep: Double { Double(heapAllocations) / Double(Swift.max(steps, 1)) }
    public var reusedAllocationsPerStep: Double { Double(reusedAllocations) / Double(Swift.max(steps, 1)) }

    /// Rows for a table: name, ms per step, share of the step, calls per step, achieved rate (GFLOP/s
    /// or GB/s) and its fraction of the given limit. `shapes` GEMM shapes are listed under GEMM.
    public func rows(peakGFLOPS: Double, bandwidthGBs: Double, shapes: Int = 6) -> [ProfileRow] {
        var out: [ProfileRow] = []
        func row(_ l: ProfileLine, indent: Bool) -> ProfileRow {
            let ms = l.seconds * 1000 / Double(Swift.max(steps, 1))
            var r = ProfileRow(
                name: (indent ? "  " : "") + l.name, category: l.category, msPerStep: ms,
                share: seconds > 0 ? l.seconds / seconds : 0,
                callsPerStep: Double(l.calls) / Double(Swift.max(steps, 1)))
            if l.seconds > 0 {
                if l.category.boundByCompute, l.flops > 0 {
                    r.rate = l.flops / l.seconds / 1e9
                    r.unit = "GFLOP/s"
                    r.ofLimit = peakGFLOPS > 0 ? r.rate! / peakGFLOPS : nil
                } else if l.bytes > 0 {
                    r.rate = l.bytes / l.seconds / 1e9
                    r.unit = "GB/s"
                    r.ofLimit = bandwidthGBs > 0 ? r.rate! / bandwidthGBs : nil
                }
            }
            return r
        }
        for c in categories where c.seconds > 0 || c.category == .allocation {
            out.append(row(c, indent: false))
            if c.category == .gemm {
                for s in gemmShapes.prefix(shapes) { out.append(row(s, indent: true)) }
                if gemmShapes.count > shapes {
                    var rest = ProfileLine(name: "\(gemmShapes.count - shapes) more shapes", category: .gemm)
                    for s in gemmShapes.dropFirst(shapes) {
                        rest.calls += s.calls
                        rest.seconds += s.seconds
                        rest.flops += s.flops
                    }
                    out.append(row(rest, indent: true))
                }
            }
        }
        return out
    }
}

public struct ProfileRow: Sendable {
    public var name: String
    public var category: ProfileCategory
    public var msPerStep: Double
    public var share: Double
    public var callsPerStep: Double
    public var rate: Double?
    public var unit = ""
    public var ofLimit: Double?
}

public enum Profiler {
    /// Whether a profile is being recorded (read by every scope; written only by start/stop).
    nonisolated(unsafe) public internal(set) static var active = false
    nonisolated(unsafe) static var owner = pthread_t()
    nonisolated(unsafe) static var inScope = false
    nonisolated(unsafe) static var excluded: UInt64 = 0
    nonisolated(unsafe) static var lines = [ProfileLine]()
    nonisolated(unsafe) static var shapes: [GEMMShape: ProfileLine] = [:]
    nonisolated(unsafe) static var started: UInt64 = 0
    nonisolated(unsafe) static var suspendedNanos: UInt64 = 0
    nonisolated(unsafe) static var pausedAt: UInt64? = nil
    nonisolated(unsafe) static var heapAtStart = 0
    nonisolated(unsafe) static var reusedAtStart = 0
    nonisolated(unsafe) static var allocCalls = 0
    nonisolated(unsafe) static var allocNanos: UInt64 = 0
    nonisolated(unsafe) static var allocBytes = 0.0
    static let lock = NSLock()

    struct GEMMShape: Hashable {
        let batch: Int, m: Int, n: Int, k: Int
        var name: String { (batch > 1 ? "\(batch)× " : "") + "\(m)×\(n)×\(k)" }
    }

    @inline(__always) static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    @inline(__always) static var onOwner: Bool { pthread_equal(pthread_self(), owner) != 0 }

    /// Starts recording on the calling thread (the one that runs the steps). One profile at a time:
    /// returns false if another thread is recording.
    @discardableResult
    public static func start() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if active { return false }
        owner = pthread_self()
        inScope = false
        excluded = 0
        lines = ProfileCategory.allCases.map { ProfileLine(name: $0.label, category: $0) }
        shapes = [:]
        allocCalls = 0
        allocNanos = 0
        allocBytes = 0
        suspendedNanos = 0
        pausedAt = nil
        heapAtStart = MemoryStats.heapAllocations
        reusedAtStart = MemoryStats.reusedAllocations
        orr_team_profile_reset()
        orr_team_set_profiling(1)
        started = now()
        active = true
        return true
    }

    /// Stops recording and returns the profile of what ran since `start`, as `steps` steps.
    public static func stop(steps: Int) -> StepProfile {
        lock.lock()
        defer { lock.unlock() }
        if let p = pausedAt {
            suspendedNanos &+= now() &- p
            pausedAt = nil
        }
        let elapsed = (now() &- started) &- suspendedNanos
        active = false
        orr_team_set_profiling(0)
        var p = StepProfile()
        p.steps = steps
        p.seconds = Double(elapsed) / 1e9
        var l = lines
        if l.isEmpty { l = ProfileCategory.allCases.map { ProfileLine(name: $0.label, category: $0) } }
        l[ProfileCategory.allocation.rawValue].calls = allocCalls
        l[ProfileCategory.allocation.rawValue].seconds = Double(allocNanos) / 1e9
        l[ProfileCategory.allocation.rawValue].bytes = allocBytes
        var sync = orr_team_profile_t()
        orr_team_profile_read(&sync)
        l[ProfileCategory.sync.rawValue].calls = Int(sync.regions)
        l[ProfileCategory.sync.rawValue].seconds = Double(sync.wait_ns) / 1e9
        let accounted = l.reduce(0.0) { $0 + $1.seconds }
        l[ProfileCategory.other.rawValue].seconds = Swift.max(0, p.seconds - accounted)
        p.categories = l
        p.gemmShapes = shapes.values.sorted { $0.seconds > $1.seconds }
        p.heapAllocations = MemoryStats.heapAllocations - heapAtStart
        p.reusedAllocations = MemoryStats.reusedAllocations - reusedAtStart
        lines = []
        shapes = [:]
        return p
    }

    /// Stops the clock between profiled steps (a lab's pauses, probes and samples); `resume` restarts
    /// it. Only the profiling thread can pause.
    public static func pause() {
        guard active, onOwner, !inScope else { return }
        pausedAt = now()
        active = false
        orr_team_set_profiling(0)
        pausedHeap = MemoryStats.heapAllocations
        pausedReused = MemoryStats.reusedAllocations
    }

    public static func resume() {
        guard let p = pausedAt, onOwner else { return }
        suspendedNanos &+= now() &- p
        pausedAt = nil
        heapAtStart += MemoryStats.heapAllocations - pausedHeap
        reusedAtStart += MemoryStats.reusedAllocations - pausedReused
        orr_team_set_profiling(1)
        active = true
    }
    nonisolated(unsafe) static var pausedHeap = 0
    nonisolated(unsafe) static var pausedReused = 0

    /// Runs `body` outside the profile (a lab's validation pass between profiled training steps):
    /// its time, allocations and regions are left out.
    public static func suspended<T>(_ body: () throws -> T) rethrows -> T {
        guard active, onOwner, !inScope else { return try body() }
        let t0 = now()
        let heap = MemoryStats.heapAllocations
        let reused = MemoryStats.reusedAllocations
        active = false
        orr_team_set_profiling(0)
        defer {
            orr_team_set_profiling(1)
            active = true
            suspendedNanos &+= now() &- t0
            heapAtStart += MemoryStats.heapAllocations - heap
            reusedAtStart += MemoryStats.reusedAllocations - reused
        }
        return try body()
    }

    /// Runs `body` as work of `category` (FLOPs or bytes it does, for the achieved rate).
    @inline(__always)
    public static func scope<T>(
        _ category: ProfileCategory, flops: Double = 0, bytes: Double = 0, _ body: () throws -> T
    ) rethrows -> T {
        guard active else { return try body() }
        return try measured(category, flops: flops, bytes: bytes, shape: nil, body)
    }

    /// Runs a GEMM C[M,N] += A[M,K]·B[K,N] as its own line by shape.
    @inline(__always)
    public static func gemm<T>(m: Int, n: Int, k: Int, batch: Int = 1, _ body: () throws -> T) rethrows -> T {
        guard active else { return try body() }
        return try measured(
            .gemm, flops: 2 * Double(batch) * Double(m) * Double(n) * Double(k), bytes: 0,
            shape: GEMMShape(batch: batch, m: m, n: n, k: k), body)
    }

    @inline(never)
    static func measured<T>(
        _ category: ProfileCategory, flops: Double, bytes: Double, shape: GEMMShape?, _ body: () throws -> T
    ) rethrows -> T {
        guard !inScope, onOwner else { return try body() }
        inScope = true
        excluded = 0
        let syncBefore = orr_team_profile_wait_ns()
        let t0 = now()
        defer {
            let spent = now() &- t0
            let waited = orr_team_profile_wait_ns() &- syncBefore
            let own = Double(spent &- Swift.min(spent, excluded &+ waited)) / 1e9
            inScope = false
            lines[category.rawValue].calls += 1
            lines[category.rawValue].seconds += own
            lines[category.rawValue].flops += flops
            lines[category.rawValue].bytes += bytes
            if let shape {
                var s = shapes[shape] ?? ProfileLine(name: shape.name, category: .gemm)
                s.calls += 1
                s.seconds += own
                s.flops += flops
                shapes[shape] = s
            }
        }
        return try body()
    }

    /// A tensor buffer was obtained (heap or pool) and, if asked, zeroed, starting at `since`.
    static func allocation(bytes: Int, zeroed: Bool, since t0: UInt64) {
        guard active, onOwner else { return }
        let spent = now() &- t0
        allocCalls += 1
        allocNanos &+= spent
        if zeroed { allocBytes += Double(bytes) }
        if inScope { excluded &+= spent }
    }
}
