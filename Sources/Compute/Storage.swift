// Storage: one 64-byte-aligned Float32 buffer shared by every view of it.
// Live and peak bytes are counted at allocation, so later screens can show memory honestly.
import CKernels
import Synchronization

/// Process-wide tensor memory accounting (bytes of Float32 storage currently alive and the peak).
public enum MemoryStats {
    static let live = Atomic<Int>(0)
    static let peak = Atomic<Int>(0)

    public static var liveBytes: Int { live.load(ordering: .relaxed) }
    public static var peakBytes: Int { peak.load(ordering: .relaxed) }

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

public final class Storage {
    /// Number of Float32 elements.
    public let count: Int
    public let base: UnsafeMutablePointer<Float>

    /// Keep freed tensor memory in the heap instead of returning it to the OS with munmap, so the
    /// next step's tensors reuse already-mapped pages (no page-fault storm every training step).
    static let allocatorTuned: Bool = {
        orr_tune_allocator()
        return true
    }()

    public init(count: Int, zeroed: Bool = true) {
        precondition(count >= 0, "negative storage size")
        _ = Storage.allocatorTuned
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        base = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        if zeroed { base.initialize(repeating: 0, count: max(count, 1)) }
        MemoryStats.allocated(count * MemoryLayout<Float>.stride)
    }

    deinit {
        MemoryStats.freed(count * MemoryLayout<Float>.stride)
        UnsafeMutableRawPointer(base).deallocate()
    }
}
