// Storage: one 64-byte-aligned Float32 buffer shared by every view of it.
// Buffers come from a caching pool: a training step frees the same sizes it will ask for in the next
// step, so after the first step every buffer is a reused one (no malloc, no page faults). Live and
// peak bytes are counted at allocation, so screens can show memory honestly.
import CKernels
import Foundation
import Synchronization

/// Process-wide tensor memory accounting (bytes of Float32 storage currently alive and the peak),
/// and how tensor buffers were obtained: from the heap, or reused from the pool.
public enum MemoryStats {
    static let live = Atomic<Int>(0)
    static let peak = Atomic<Int>(0)
    static let heap = Atomic<Int>(0)
    static let reused = Atomic<Int>(0)

    public static var liveBytes: Int { live.load(ordering: .relaxed) }
    public static var peakBytes: Int { peak.load(ordering: .relaxed) }
    /// Tensor buffers taken from the heap (malloc) since the process started.
    public static var heapAllocations: Int { heap.load(ordering: .relaxed) }
    /// Tensor buffers handed out again from the pool since the process started.
    public static var reusedAllocations: Int { reused.load(ordering: .relaxed) }
    /// Bytes of freed buffers the pool keeps for reuse.
    public static var cachedBytes: Int { BufferPool.cachedBytes }

    /// Restarts peak tracking from the current live size (to measure the peak of one piece of work).
    public static func resetPeak() { peak.store(live.load(ordering: .relaxed), ordering: .relaxed) }

    static func allocated(_ bytes: Int) {
        let now = live.add(bytes, ordering: .relaxed).newValue
        var p = peak.load(ordering: .relaxed)
        while now > p {
            let (exchanged, original) = peak.compareExchange(expected: p, desired: now, ordering: .relaxed)
            if exchanged { break }
            p = original
        }
    }

    static func freed(_ bytes: Int) { live.subtract(bytes, ordering: .relaxed) }
}

/// The caching allocator behind Storage: free lists by size class (a class wastes at most 1/8 of a
/// buffer), capped at `limitBytes` of cached memory (an eighth of RAM, at most 4 GiB); a buffer freed
/// beyond the cap goes back to the heap.
public enum BufferPool {
    struct State {
        var free: [Int: [UnsafeMutablePointer<Float>]] = [:]
        var cached = 0
    }
    static let state = Mutex(State())

    /// Most bytes the pool keeps.
    public static let limitBytes: Int = {
        let ram = Int(clamping: ProcessInfo.processInfo.physicalMemory)
        return Swift.max(64 << 20, Swift.min(4 << 30, ram / 8))
    }()

    static var cachedBytes: Int { state.withLock { $0.cached } }

    /// Elements a buffer of `count` elements really has: small sizes round up to 16 (64 bytes), larger
    /// ones to an eighth of their power of two.
    @inline(__always)
    static func sizeClass(_ count: Int) -> Int {
        let n = Swift.max(count, 1)
        if n <= 128 { return (n + 15) & ~15 }
        let step = 1 << (Int.bitWidth - n.leadingZeroBitCount - 4)
        return (n + step - 1) / step * step
    }

    static func take(_ capacity: Int) -> UnsafeMutablePointer<Float> {
        if let p = state.withLock({ s -> UnsafeMutablePointer<Float>? in
            guard let p = s.free[capacity]?.popLast() else { return nil }
            s.cached -= capacity * 4
            return p
        }) {
            MemoryStats.reused.add(1, ordering: .relaxed)
            return p
        }
        MemoryStats.heap.add(1, ordering: .relaxed)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: capacity * 4, alignment: 64)
        return raw.bindMemory(to: Float.self, capacity: capacity)
    }

    static func give(_ p: UnsafeMutablePointer<Float>, _ capacity: Int) {
        let kept = state.withLock { s -> Bool in
            guard s.cached + capacity * 4 <= limitBytes else { return false }
            s.free[capacity, default: []].append(p)
            s.cached += capacity * 4
            return true
        }
        if !kept { UnsafeMutableRawPointer(p).deallocate() }
    }

    /// The element count a buffer of `count` elements is given (for tests).
    public static func sizeClassForTesting(_ count: Int) -> Int { sizeClass(count) }

    /// Returns every cached buffer to the heap (after a lab session ends, say).
    public static func trim() {
        let all = state.withLock { s -> [UnsafeMutablePointer<Float>] in
            defer {
                s.free = [:]
                s.cached = 0
            }
            return s.free.values.flatMap { $0 }
        }
        for p in all { UnsafeMutableRawPointer(p).deallocate() }
    }
}

public final class Storage {
    /// Number of Float32 elements.
    public let count: Int
    public let base: UnsafeMutablePointer<Float>
    let capacity: Int

    /// Keep freed heap memory mapped instead of returning it to the OS with munmap, so buffers the
    /// pool does not keep are reused without a page-fault storm.
    static let allocatorTuned: Bool = {
        orr_tune_allocator()
        return true
    }()

    public init(count: Int, zeroed: Bool = true) {
        precondition(count >= 0, "negative storage size")
        _ = Storage.allocatorTuned
        self.count = count
        capacity = BufferPool.sizeClass(count)
        if Profiler.active {
            let t0 = Profiler.now()
            base = BufferPool.take(capacity)
            if zeroed { base.initialize(repeating: 0, count: Swift.max(count, 1)) }
            Profiler.allocation(bytes: count * 4, zeroed: zeroed, since: t0)
        } else {
            base = BufferPool.take(capacity)
            if zeroed { base.initialize(repeating: 0, count: Swift.max(count, 1)) }
        }
        MemoryStats.allocated(count * MemoryLayout<Float>.stride)
    }

    deinit {
        MemoryStats.freed(count * MemoryLayout<Float>.stride)
        BufferPool.give(base, capacity)
    }
}
