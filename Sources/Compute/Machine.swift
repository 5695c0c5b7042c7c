// The machine's limits, measured: the FP32 FMA peak with every worker on the widest vector unit,
// and memory bandwidth (a read stream and STREAM's triad). Benchmarks and the step profiler state
// their results as fractions of these. Measured once per process, on first use (about a second).
import CKernels
import Dispatch
import Foundation

public struct MachineLimits: Sendable {
    /// FP32 FMA peak, GFLOP/s, all `threads` threads.
    public var fmaGFLOPS: Double
    /// Vector unit the peak was measured on (avx512, avx2, neon, scalar).
    public var unit: String
    /// Memory read and triad bandwidth, GB/s.
    public var readGBs: Double
    public var triadGBs: Double
    public var threads: Int
    /// The memory bandwidth a streaming kernel can count on: the better of read and triad (this
    /// kind of shared machine measures either one low at times).
    public var bandwidthGBs: Double { Swift.max(readGBs, triadGBs) }
}

public enum Machine {
    /// The CPU's name, with its core generation where /proc/cpuinfo tells it (AMD Zen 4 and 5).
    public static let cpuName: String = {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else {
            #if arch(arm64)
                return "arm64"
            #else
                return "x86-64"
            #endif
        }
        func field(_ key: String) -> String? {
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.isEmpty { break }
                let parts = line.split(separator: ":", maxSplits: 1)
                if parts.count == 2 && parts[0].trimmingCharacters(in: .whitespaces) == key {
                    return parts[1].trimmingCharacters(in: .whitespaces)
                }
            }
            return nil
        }
        var name = field("model name") ?? field("Model") ?? field("CPU part") ?? "unknown CPU"
        if field("vendor_id") == "AuthenticAMD", let family = field("cpu family").flatMap({ Int($0) }) {
            let avx512 = (field("flags") ?? "").split(separator: " ").contains("avx512f")
            if family == 25 && avx512 { name += " (Zen 4)" } else if family == 26 { name += " (Zen 5)" }
        }
        return name
    }()

    nonisolated(unsafe) private static var cached: MachineLimits?
    private static let lock = NSLock()

    /// The limits, measured on first use with `Parallel.threads` threads, then cached.
    public static var limits: MachineLimits {
        lock.lock()
        defer { lock.unlock() }
        if let c = cached, c.threads == Parallel.threads { return c }
        let l = measure()
        cached = l
        return l
    }

    /// The FMA peak alone, measured quickly (a discarded first run, which starts the worker threads
    /// and wakes the cores, then the best of 7 runs of ~20 ms: within a few per cent of `limits`), or
    /// taken from `limits` when that was measured already. (Best of 3 without the first discarded
    /// had once come out at 153 GFLOP/s on a 234 GFLOP/s machine, and a GEMM at 139 % of it.)
    public static func fmaPeak() -> (gflops: Double, unit: String) {
        lock.lock()
        defer { lock.unlock() }
        if let c = cached, c.threads == Parallel.threads { return (c.fmaGFLOPS, c.unit) }
        if let q = quick, q.threads == Parallel.threads { return (q.gflops, q.unit) }
        _ = fma(iterations: 4_000_000, runs: 1)
        let (g, u) = fma(iterations: 4_000_000, runs: 7)
        quick = (g, u, Parallel.threads)
        return (g, u)
    }
    nonisolated(unsafe) private static var quick: (gflops: Double, unit: String, threads: Int)?

    /// Measures the FMA peak again (best of 7 runs of ~20 ms) and keeps the higher of that and what
    /// was measured before, for `limits` and `fmaPeak` alike; returns it. A benchmark calls this
    /// after its runs: on a shared machine a neighbour can hold a core through the whole first
    /// measurement (a 218 GFLOP/s machine once read 108 at the start of a `bench train-gpt`, which
    /// would have put a step at 167 % of "peak"). The peak is the hardware's, so the best reading
    /// stands; a low one only ever inflated MFU.
    @discardableResult
    public static func confirmPeak() -> Double {
        let before = fmaPeak().gflops
        let (g, _) = fma(iterations: 4_000_000, runs: 7)
        lock.lock()
        defer { lock.unlock() }
        let best = Swift.max(before, g)
        if var c = cached, c.threads == Parallel.threads {
            c.fmaGFLOPS = best
            cached = c
        }
        if var q = quick, q.threads == Parallel.threads {
            q.gflops = best
            quick = q
        }
        return best
    }

    static func fma(iterations: Int, runs: Int) -> (Double, String) {
        let threads = Parallel.threads
        var unitName = "scalar"
        var probe: UnsafePointer<CChar>?
        _ = orr_fma_loop(1, &probe)
        if let p = probe { unitName = String(cString: p) }
        var best = 0.0
        let flops = UnsafeMutablePointer<Double>.allocate(capacity: threads)
        defer { flops.deallocate() }
        for _ in 0..<runs {
            let t0 = DispatchTime.now().uptimeNanoseconds
            Parallel.forEach(threads) { i in flops[i] = orr_fma_loop(iterations, nil) }
            let secs = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            let total = (0..<threads).reduce(0.0) { $0 + flops[$1] }
            best = Swift.max(best, total / secs / 1e9)
        }
        return (best, unitName)
    }

    /// GB/s of the best of `runs` passes of `body(lo, hi)` over `items` split evenly among the threads,
    /// each pass moving `bytes`.
    static func bestRate(runs: Int, bytes: Double, items: Int, _ body: (Int, Int) -> Void) -> Double {
        let threads = Parallel.threads
        var best = 0.0
        for _ in 0..<runs {
            let t0 = DispatchTime.now().uptimeNanoseconds
            Parallel.forEach(threads) { i in body(items * i / threads, items * (i + 1) / threads) }
            let secs = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            best = Swift.max(best, bytes / secs / 1e9)
        }
        return best
    }

    /// Measures the limits now: FMA best of `runs` runs of `fmaIterations` iterations of twelve
    /// independent FMA chains per thread; read best of `runs` passes over 256 MiB; triad best of
    /// `runs` over three 64 MiB arrays (12 bytes per element, as STREAM counts).
    public static func measure(fmaIterations: Int = 20_000_000, runs: Int = 5) -> MachineLimits {
        let threads = Parallel.threads
        let (best, unitName) = fma(iterations: fmaIterations, runs: runs)
        let n = 64 << 20  // floats: 256 MiB
        let x = UnsafeMutablePointer<Float>.allocate(capacity: n)
        defer { x.deallocate() }
        x.initialize(repeating: 1, count: n)
        let read = bestRate(runs: runs, bytes: Double(n * 4), items: n) { lo, hi in _ = orr_read_stream(x + lo, hi - lo)
        }
        let m = 16 << 20  // floats per array: 64 MiB
        let (a, b, c) = (x, x + m, x + 2 * m)
        let triad = bestRate(runs: runs, bytes: Double(m * 12), items: m) { lo, hi in
            orr_triad(a + lo, b + lo, c + lo, 3, hi - lo)
        }
        return MachineLimits(fmaGFLOPS: best, unit: unitName, readGBs: read, triadGBs: triad, threads: threads)
    }
}
