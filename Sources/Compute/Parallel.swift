// The worker pool: work is split into at most `Parallel.threads` chunks and run on GCD's pool.
// Results never depend on the thread count: kernels split work by output element, never by
// reduction order across threads, and random numbers are drawn serially.
import Dispatch
import Foundation

public enum Parallel {
    nonisolated(unsafe) private static var _threads: Int = ProcessInfo.processInfo.activeProcessorCount

    /// Number of worker threads used by kernels (default: all cores). `--threads` sets it.
    public static var threads: Int {
        get { _threads }
        set { _threads = max(1, newValue) }
    }

    /// Runs `body(range)` over `0..<n` split into contiguous ranges, one per worker, each at least
    /// `grain` items (so tiny loops stay on the calling thread).
    @inlinable
    public static func forRanges(_ n: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        if n <= 0 { return }
        let chunks = min(threads, max(1, n / max(grain, 1)))
        if chunks <= 1 {
            body(0..<n)
            return
        }
        withoutActuallyEscaping(body) { body in
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                let lo = n * c / chunks
                let hi = n * (c + 1) / chunks
                if lo < hi { body(lo..<hi) }
            }
        }
    }

    /// Runs `body(i)` for every i in 0..<n across the workers (for coarse tasks such as batch items).
    @inlinable
    public static func forEach(_ n: Int, _ body: (Int) -> Void) {
        forRanges(n, grain: 1) { r in for i in r { body(i) } }
    }
}
