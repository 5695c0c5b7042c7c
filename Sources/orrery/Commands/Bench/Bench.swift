import ArgumentParser
import Compute
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure kernels (release build): medians over repeated runs after a warm-up.",
        subcommands: [
            BenchGEMM.self, BenchAttention.self, BenchPacking.self, BenchTrainGPT.self, BenchGenerate.self,
            BenchTUI.self, BenchGANStep.self, BenchUNetStep.self, BenchDecode.self, BenchPeak.self, BenchMLADecode.self,
        ])
}

/// One measurement line of the --json contract.
/// The first line of a benchmark's table: the CPU, its measured FMA peak and the threads.
func machineLine(_ threads: Int) -> String {
    String(format: "%@, FP32 FMA peak %.0f GFLOP/s, %d threads", Machine.cpuName, Machine.fmaPeak().gflops, threads)
}

struct BenchRecord {
    var bench: String, caseName: String, impl: String, threads: Int
    var timesMs: [Double]
    var extra: [String: Any]

    var median: Double {
        let s = timesMs.sorted()
        return s[s.count / 2]
    }
    var json: [String: Any] {
        var o: [String: Any] = [
            "bench": bench, "case": caseName, "impl": impl, "threads": threads,
            "median_ms": median, "min_ms": timesMs.min()!, "max_ms": timesMs.max()!,
            "runs": timesMs.count, "cpu": Machine.cpuName,
        ]
        for (k, v) in extra { o[k] = v }
        return o
    }
}

/// Times `body`: a warm-up, then `runs` repetitions, each looping the body enough times to last
/// at least `minSeconds`; returns milliseconds per call for each repetition.
func measure(runs: Int = 7, minSeconds: Double = 0.2, _ body: () -> Void) -> [Double] {
    body()
    var inner = 1
    let t0 = DispatchTime.now().uptimeNanoseconds
    var calls = 0
    while Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 < minSeconds / 2 {
        body()
        calls += 1
    }
    inner = max(1, calls * 2)
    var out: [Double] = []
    for _ in 0..<runs {
        let s = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<inner { body() }
        out.append(Double(DispatchTime.now().uptimeNanoseconds - s) / 1e6 / Double(inner))
    }
    return out
}

/// How `bench gemm` stores its operands (BLAS transposition flags).
enum GEMMLayout: String, ExpressibleByArgument, CaseIterable {
    case nn, tn, nt
}

struct BenchGEMM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "SGEMM GFLOPS (C = A·B, float32) for square and transformer shapes.",
        discussion: """
            With --numpy PYTHON, numpy (OpenBLAS) runs the same shape right after Orrery, in the same
            process tree and thread count, and a ratio line is printed (impl "ratio").
            """)
    @OptionGroup var common: CommonOptions
    @Option(help: "Comma-separated sizes: N for N×N×N or MxKxN.") var sizes =
        "256,512,1024,2048,4096x128x384,4096x128x512,4096x512x128,128x4096x128"
    @Option(
        help: """
            Operand layouts, BLAS-style: nn (A [M,K], B [K,N] row-major), tn (A stored [K,M]: a weight \
            gradient Xᵀ·dY), nt (B stored [N,K]: x·Wᵀ).
            """) var layout: GEMMLayout = .nn
    @Option(help: "Repetitions per shape.") var runs = 7
    @Option(help: "A Python with numpy to measure side by side.") var numpy: String?
    @Flag(help: "JSON lines per the bench contract.") var json = false

    func parsedSizes() throws -> [(Int, Int, Int)] {
        guard !sizes.isEmpty else { throw ValidationError("--sizes needs at least one size (N or MxKxN)") }
        return try sizes.split(separator: ",", omittingEmptySubsequences: false).map { s in
            let parts = s.split(separator: "x", omittingEmptySubsequences: false)
            let p = parts.compactMap { Int($0) }
            guard p.count == parts.count, p.count == 1 || p.count == 3, p.allSatisfy({ $0 > 0 && $0 <= 16384 }) else {
                throw ValidationError("bad size \"\(s)\": use N or MxKxN with 1…16384")
            }
            return p.count == 1 ? (p[0], p[0], p[0]) : (p[0], p[1], p[2])
        }
    }

    func validate() throws {
        _ = try parsedSizes()
        guard runs >= 1 && runs <= 101 else { throw ValidationError("--runs must be 1…101") }
    }

    func run() throws {
        try common.apply()
        let threads = Parallel.threads
        let peak = Machine.fmaPeak().gflops
        if !json {
            print(machineLine(threads) + ", gemm kernel \(Kernels.gemmKernelName)")
            print(
                "      M     K     N |   orrery GFLOPS (of peak)"
                    + (numpy != nil ? " |    numpy GFLOPS (of peak) |  ratio" : ""))
        }
        var rng = RNG(seed: 42)
        for (M, K, N) in try parsedSizes() {
            let a = Tensor.randn([M, K], rng: &rng)
            let b = Tensor.randn([K, N], rng: &rng)
            let c = Tensor.empty([M, N])
            // The same storage read as a transposed operand: A [K, M] (element (m, k) at k·M + m) or
            // B [N, K].
            let (rsA, csA) = layout == .tn ? (1, M) : (K, 1)
            let (rsB, csB) = layout == .nt ? (1, K) : (N, 1)
            let times = measure(runs: runs) {
                Kernels.gemm(
                    M: M, N: N, K: K, A: a.data, rsA: rsA, csA: csA, B: b.data, rsB: rsB, csB: csB,
                    C: c.data, rsC: N, csC: 1)
            }
            let flop = 2.0 * Double(M) * Double(N) * Double(K)
            var rec = BenchRecord(
                bench: "gemm", caseName: "\(M)x\(K)x\(N)" + (layout == .nn ? "" : ":\(layout.rawValue)"),
                impl: "orrery", threads: threads,
                timesMs: times, extra: [:])
            let gf = flop / (rec.median * 1e6)
            rec.extra["gflops"] = gf
            rec.extra["mfu"] = gf / peak
            rec.extra["kernel"] = Kernels.gemmKernelName
            var peerGF: Double?
            if let py = numpy {
                let peerTimes = try runNumpy(py, M, K, N, threads)
                var prec = BenchRecord(
                    bench: "gemm", caseName: rec.caseName, impl: "numpy", threads: threads,
                    timesMs: peerTimes, extra: [:])
                let peer = flop / (prec.median * 1e6)
                peerGF = peer
                prec.extra["gflops"] = peer
                prec.extra["mfu"] = peer / peak
                if json {
                    print(JSONLine.encode(rec.json))
                    print(JSONLine.encode(prec.json))
                    print(
                        JSONLine.encode([
                            "bench": "gemm", "case": rec.caseName, "impl": "ratio",
                            "threads": threads, "ratio": gf / peer, "vs": "numpy",
                        ]))
                }
            } else if json {
                print(JSONLine.encode(rec.json))
            }
            if !json {
                var line = String(format: "%7d %5d %5d | %15.1f (%4.1f%%)", M, K, N, gf, 100 * gf / peak)
                if let p = peerGF { line += String(format: " | %15.1f (%4.1f%%) | %5.2fx", p, 100 * p / peak, gf / p) }
                print(line)
            }
        }
    }

    /// Runs numpy's matmul for one shape in a child process; returns ms per call per repetition.
    func runNumpy(_ python: String, _ M: Int, _ K: Int, _ N: Int, _ threads: Int) throws -> [Double] {
        let script = """
            import time, numpy as np
            M, K, N, R = \(M), \(K), \(N), \(runs)
            rng = np.random.default_rng(0)
            A = rng.standard_normal((M, K), dtype=np.float32); B = rng.standard_normal((K, N), dtype=np.float32)
            if '\(layout.rawValue)' == 'tn': A = A.reshape(K, M).T
            if '\(layout.rawValue)' == 'nt': B = B.reshape(N, K).T
            C = np.empty((M, N), dtype=np.float32); np.matmul(A, B, out=C)
            t0 = time.perf_counter(); n = 0
            while time.perf_counter() - t0 < 0.1: np.matmul(A, B, out=C); n += 1
            inner = max(1, n * 2)
            for _ in range(R):
                t = time.perf_counter()
                for _ in range(inner): np.matmul(A, B, out=C)
                print('t', (time.perf_counter() - t) / inner * 1e3)
            """
        let vals = try runPython(python, script, threads: threads).filter { $0.0 == "t" }.map(\.1)
        guard vals.count == runs else { throw CLIError("numpy peer printed \(vals.count) timings, expected \(runs)") }
        return vals
    }
}
