import ArgumentParser
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
        let l = Machine.limits
        let (best, unitName, read, triad) = (l.fmaGFLOPS, l.unit, l.readGBs, l.triadGBs)
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
            print("CPU            \(Machine.cpuName)")
            print(String(format: "FP32 FMA peak  %7.1f GFLOPS  (%@, %d threads)", best, unitName, threads))
            print(String(format: "memory read    %7.1f GB/s", read))
            print(String(format: "memory triad   %7.1f GB/s  (STREAM's count: 12 bytes per element)", triad))
        }
    }
}
