import ArgumentParser
import CKernels
import Compute
import Foundation

/// `orrery bench peak`: the machine's limits that every other benchmark is a fraction of — the FP32
/// FMA peak on the widest vector unit with all threads, and memory bandwidth (a read stream and
/// STREAM's triad).
struct BenchPeak: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peak",
        abstract: "Measured FP32 FMA peak (all threads, widest vector unit) and memory bandwidth (read, triad).",
        discussion: """
            FMA: twelve independent fused multiply-add chains per thread on zmm (AVX-512), ymm (AVX2) or
            scalar registers, every thread at once; best of 5 runs. Bandwidth: each thread streams its
            share of a 256 MiB array (read), and a[i] = b[i] + s·c[i] over three 64 MiB arrays (triad,
            counted as STREAM does: 12 bytes per element); best of 5. Model FLOP/s of a training or
            attention benchmark divided by the FMA figure is its MFU.
            """)
    @OptionGroup var common: CommonOptions
    @Flag(help: "JSON lines per the bench contract.") var json = false

    func run() throws {
        try common.apply()
        let threads = Parallel.threads
        var unitName = "scalar"
        var probe: UnsafePointer<CChar>?
        _ = orr_fma_loop(1, &probe)
        if let p = probe { unitName = String(cString: p) }
        let iters = 20_000_000
        var best = 0.0
        for _ in 0..<5 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let flops = UnsafeMutablePointer<Double>.allocate(capacity: threads)
            defer { flops.deallocate() }
            Parallel.forEach(threads) { i in flops[i] = orr_fma_loop(iters, nil) }
            let secs = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            let total = (0..<threads).reduce(0.0) { $0 + flops[$1] }
            best = max(best, total / secs / 1e9)
        }
        let n = 64 << 20  // floats: 256 MiB
        let x = UnsafeMutablePointer<Float>.allocate(capacity: n)
        defer { x.deallocate() }
        x.initialize(repeating: 1, count: n)
        var read = 0.0
        for _ in 0..<5 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            Parallel.forEach(threads) { i in
                let lo = n * i / threads
                let hi = n * (i + 1) / threads
                _ = orr_read_stream(x + lo, hi - lo)
            }
            let secs = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            read = max(read, Double(n * 4) / secs / 1e9)
        }
        let m = 16 << 20  // floats per array: 64 MiB
        let (a, b, c) = (x, x + m, x + 2 * m)
        var triad = 0.0
        for _ in 0..<5 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            Parallel.forEach(threads) { i in
                let lo = m * i / threads
                let hi = m * (i + 1) / threads
                orr_triad(a + lo, b + lo, c + lo, 3, hi - lo)
            }
            let secs = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            triad = max(triad, Double(m * 12) / secs / 1e9)
        }
        if json {
            print(
                JSONLine.encode([
                    "bench": "peak", "case": "fma", "impl": "orrery", "threads": threads, "gflops": best,
                    "unit": unitName,
                ]))
            print(
                JSONLine.encode([
                    "bench": "peak", "case": "read", "impl": "orrery", "threads": threads, "gb_per_s": read,
                ]))
            print(
                JSONLine.encode([
                    "bench": "peak", "case": "triad", "impl": "orrery", "threads": threads, "gb_per_s": triad,
                ]))
        } else {
            print(String(format: "FP32 FMA peak  %7.1f GFLOPS  (%@, %d threads)", best, unitName, threads))
            print(String(format: "memory read    %7.1f GB/s", read))
            print(String(format: "memory triad   %7.1f GB/s  (STREAM's count: 12 bytes per element)", triad))
        }
    }
}
