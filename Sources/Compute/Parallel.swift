// The worker pool: work is split into at most `Parallel.threads` chunks and run on the spinning
// worker team (or GCD's pool while another thread holds the team).
// Results never depend on the thread count: kernels split work by output element, never by
// reduction order across threads, and random numbers are drawn serially.
import CKernels
import Dispatch
import Foundation

public enum Parallel {
    nonisolated(unsafe) private static var _threads: Int = ProcessInfo.processInfo.activeProcessorCount

    /// A per-thread override of `threads` (see `withThreads`), kept in a pthread key: cheap to read.
    @usableFromInline static let overrideKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Number of worker threads used by kernels (default: all cores). `--threads` sets it for the
    /// process; `withThreads` overrides it for one thread's work.
    public static var threads: Int {
        get {
            if let p = pthread_getspecific(overrideKey) { return Int(bitPattern: p) }
            return _threads
        }
        set { _threads = max(1, newValue) }
    }

    /// Runs `body` with `n` worker threads for the kernels called from this thread only (tests and
    /// benchmarks compare thread counts without changing what other threads use).
    public static func withThreads<T>(_ n: Int, _ body: () throws -> T) rethrows -> T {
        let old = pthread_getspecific(overrideKey)
        pthread_setspecific(overrideKey, UnsafeRawPointer(bitPattern: max(1, n)))
        defer { pthread_setspecific(overrideKey, old) }
        return try body()
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
        region(chunks) { c in
            let lo = n * c / chunks
            let hi = n * (c + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
    }

    /// Runs `body(i)` for every i in 0..<n across the workers (for coarse tasks such as batch items).
    @inlinable
    public static func forEach(_ n: Int, _ body: (Int) -> Void) {
        forRanges(n, grain: 1) { r in for i in r { body(i) } }
    }

    /// Runs `body(i)` for every i in 0..<n across the workers, each starting on an even share in order
    /// and then taking the last items of the others' (see `stealing`): for coarse tasks that must not
    /// wait for a core that runs slower for a while (a shared machine's cores do not run evenly).
    /// Which worker runs an item is not fixed, so `body` must depend on the item alone.
    public static func forEachStealing(_ n: Int, _ body: (Int) -> Void) {
        forEachStealingByWorker(n) { _, i in body(i) }
    }

    /// The workers `forEachStealing` uses for n items (at least 1).
    public static func stealingWorkers(_ n: Int) -> Int { max(1, min(threads, n)) }

    /// `forEachStealing`, telling `body` which worker (0 ..< stealingWorkers(n)) runs the item, so it can
    /// use that worker's scratch buffers; one worker's items never run at the same time.
    public static func forEachStealingByWorker(_ n: Int, _ body: (_ worker: Int, _ item: Int) -> Void) {
        let workers = stealingWorkers(n)
        if workers <= 1 {
            for i in 0..<max(n, 0) { body(0, i) }
            return
        }
        withUnsafeTemporaryAllocation(of: Int.self, capacity: workers + 1) { shares in
            for w in 0...workers { shares[w] = n * w / workers }
            stealingByWorker(workers: workers, shares: shares.baseAddress!, body)
        }
    }

    /// Runs `body(range)` over 0..<n in blocks of `block` items, taken as `forEachStealing` takes its
    /// items (a short pass over rows: a norm, RoPE); one block, or one worker, runs it on the caller.
    public static func forBlocksStealing(_ n: Int, block: Int, _ body: (Range<Int>) -> Void) {
        let b = max(block, 1)
        let blocks = (n + b - 1) / b
        if blocks <= 1 || threads <= 1 {
            if n > 0 { body(0..<n) }
            return
        }
        forEachStealing(blocks) { i in body(i * b..<min(n, (i + 1) * b)) }
    }

    /// Runs `body(item)` for every item in 0 ..< shares[workers] on `workers` workers: worker w owns
    /// items shares[w] ..< shares[w + 1] and takes them in order; when its own run out, it takes the
    /// last items of the others' (so a core that runs slower for a while hands work over instead of
    /// holding the rest up). Each item runs exactly once, on whichever worker took it.
    public static func stealing(workers: Int, shares: UnsafePointer<Int>, _ body: (Int) -> Void) {
        stealingByWorker(workers: workers, shares: shares) { _, item in body(item) }
    }

    /// `stealing`, with the index of the worker that runs each item.
    public static func stealingByWorker(
        workers: Int, shares: UnsafePointer<Int>, _ body: (_ worker: Int, _ item: Int) -> Void
    ) {
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 8 * workers) { ranges in
            let base = ranges.baseAddress!
            for w in 0..<workers {  // one 64-byte line per worker's range
                base[8 * w] = UInt64(shares[w + 1]) << 32 | UInt64(shares[w])
            }
            region(workers) { w in
                while true {
                    let item = orr_range_take(base + 8 * w, 0)
                    if item < 0 { break }
                    body(w, item)
                }
                for o in 1..<Swift.max(workers, 1) {
                    let victim = base + 8 * ((w + o) % workers)
                    while true {
                        let item = orr_range_take(victim, 1)
                        if item < 0 { break }
                        body(w, item)
                    }
                }
            }
        }
    }

    /// Like `forRanges`; kept for the decoding call sites that asked for the spinning team by name
    /// (every parallel region now runs there when it is free).
    public static func onTeam(_ n: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        forRanges(n, grain: grain, body)
    }

    /// One parallel region of `count` tasks, body(0) … body(count − 1). It runs on the spinning worker
    /// team (CKernels' team.c: workers spin a millisecond between regions, so the many short regions
    /// of a training step or of token-by-token decoding start without an OS wake-up). A region
    /// started from inside a team task runs inline; one started while another thread holds the team
    /// runs on GCD's pool instead. No region ever waits for the team, so none can deadlock.
    @usableFromInline
    static func region(_ count: Int, _ body: (Int) -> Void) {
        if count <= 1 || pthread_getspecific(teamKey) != nil {
            for c in 0..<count { body(c) }
            return
        }
        withoutActuallyEscaping(body) { body in
            var box = TeamTask(body: body)
            let ran = withUnsafeMutablePointer(to: &box) { p in
                orr_team_try_run(
                    Int32(count),
                    { ctx, i, _ in
                        let task = ctx!.assumingMemoryBound(to: TeamTask.self)
                        pthread_setspecific(Parallel.teamKey, UnsafeRawPointer(bitPattern: 1))
                        defer { pthread_setspecific(Parallel.teamKey, nil) }
                        task.pointee.body(Int(i))
                    }, p)
            }
            if ran == 0 { DispatchQueue.concurrentPerform(iterations: count, execute: body) }
        }
    }

    /// Set on a thread while it runs a team task.
    static let teamKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()
}

struct TeamTask {
    let body: (Int) -> Void
}
