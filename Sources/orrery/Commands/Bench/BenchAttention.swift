import ArgumentParser
import Compute
import Foundation

struct BenchAttention: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attention",
        abstract: "Naive (materialised) vs flash attention: forward and forward+backward time and peak extra bytes.",
        discussion: """
            Batch 1, 4 heads, head dim 64. With --torch PYTHON, PyTorch's scaled_dot_product_attention runs
            each case right after Orrery with the same thread count, and ratio lines are printed.
            """)
    @OptionGroup var common: CommonOptions
    @Option(help: "Comma-separated sequence lengths.") var seq = "256,1024,4096"
    @Option(help: "Heads.") var heads = 4
    @Option(help: "Head dimension.") var headDim = 64
    enum Masks: String, ExpressibleByArgument, CaseIterable { case causal, full, both }
    @Option(help: "Which masks: causal, full or both.") var mask: Masks = .both
    @Option(help: "Repetitions per case (N ≥ 4096 uses at most 5).") var runs = 9
    @Option(help: "Skip the naive implementation above this length (its memory grows as N²).") var naiveMax = 4096
    @Option(help: "A Python with torch to measure side by side.") var torch: String?
    @Flag(help: "JSON lines per the bench contract.") var json = false
    @Flag(
        help: ArgumentHelp(
            "Also time flash attention's tile products alone (row 'bound').",
            discussion: "The same tiles in the same order without the masks, softmax, exponentials and dS (the "
                + "outputs are discarded): the ceiling of the tiling against the FMA peak, and the share of "
                + "flash's time that the rest takes.")) var bound = false
    @Option(help: "Flash query tile rows (default: the library's).") var blockQ: Int?
    @Option(help: "Flash key/value tile rows (default: the library's).") var blockK: Int?

    func lengths() throws -> [Int] {
        let parts = seq.split(separator: ",", omittingEmptySubsequences: false)
        let values = parts.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, values.count == parts.count, values.allSatisfy({ $0 >= 1 && $0 <= 65536 }) else {
            throw ValidationError("--seq must be comma-separated lengths in 1…65536, got \"\(seq)\"")
        }
        return values
    }

    func validate() throws {
        _ = try lengths()
        guard heads >= 1 && heads <= 64 else { throw ValidationError("--heads must be 1…64, got \(heads)") }
        guard headDim >= 2 && headDim <= 256 && headDim % 2 == 0 else {
            throw ValidationError("--head-dim must be even and 2…256, got \(headDim)")
        }
        guard runs >= 1 && runs <= 101 else { throw ValidationError("--runs must be 1…101, got \(runs)") }
        guard naiveMax >= 0 else { throw ValidationError("--naive-max must be ≥ 0, got \(naiveMax)") }
        for (name, b) in [("--block-q", blockQ), ("--block-k", blockK)] {
            if let b, !(b >= 1 && b <= 1024) { throw ValidationError("\(name) must be 1…1024, got \(b)") }
        }
    }

    func run() throws {
        try common.apply()
        if let b = blockQ { FlashAttention.blockQ = b }
        if let b = blockK { FlashAttention.blockK = b }
        let threads = Parallel.threads
        let lengths = try lengths()
        let masks: [Bool] = mask == .causal ? [true] : mask == .full ? [false] : [true, false]
        var fmaPeak = Machine.fmaPeak().gflops
        if !json {
            print(machineLine(threads))
            print(
                "attention B=1 H=\(heads) d=\(headDim) (median ms; peak = extra tensor bytes; MFU counts the useful "
                    + "FLOPs, 4·d per visible query-key pair forward, 10·d backward, against the FMA peak)")
            print("    N  mask   | impl  |    fwd ms | fwd+bwd ms |  peak MiB | fwd+bwd GFLOP/s (MFU)")
        }
        var rng = RNG(seed: 1)
        for N in lengths {
            let q = Tensor.randn([1, heads, N, headDim], rng: &rng)
            let k = Tensor.randn([1, heads, N, headDim], rng: &rng)
            let v = Tensor.randn([1, heads, N, headDim], rng: &rng)
            let dO = Tensor.randn([1, heads, N, headDim], rng: &rng)
            for causal in masks {
                let reps = N >= 4096 ? min(runs, 5) : runs
                let pairs = Double(AttentionMask(nq: N, nk: N, causal: causal).visiblePairs)
                let usefulFlops = 14 * Double(heads * headDim) * pairs  // forward 4·d, backward 10·d per pair
                func rate(_ ms: Double) -> (Double, Double) {
                    (usefulFlops / ms / 1e6, usefulFlops / ms / 1e6 / fmaPeak)
                }
                let caseName = "n=\(N),\(causal ? "causal" : "full")"
                /// One implementation's fwd and fwd+bwd records, the latter with its useful GFLOP/s and MFU.
                func records(_ impl: String, _ fwd: [Double], _ fb: [Double]) -> (BenchRecord, BenchRecord) {
                    let f = BenchRecord(
                        bench: "attention", caseName: caseName + ",fwd", impl: impl, threads: threads, timesMs: fwd,
                        extra: [:])
                    var b = BenchRecord(
                        bench: "attention", caseName: caseName + ",fwd+bwd", impl: impl, threads: threads, timesMs: fb,
                        extra: [:])
                    b.extra["useful_gflops"] = rate(b.median).0
                    b.extra["mfu"] = rate(b.median).1
                    return (f, b)
                }
                var flashFB: Double?
                for impl in AttentionImplementation.allCases {
                    if impl == .naive && N > naiveMax { continue }
                    let fwd = measure(runs: reps, minSeconds: 0.05) {
                        _ = noGrad { Tensor.attention(q, k, v, causal: causal, implementation: impl) }
                    }
                    let qs = q.requiringGrad()
                    let ks = k.requiringGrad()
                    let vs = v.requiringGrad()
                    let fb = measure(runs: reps, minSeconds: 0.05) {
                        Tensor.attention(qs, ks, vs, causal: causal, implementation: impl).backward(dO)
                        qs.grad = nil
                        ks.grad = nil
                        vs.grad = nil
                    }
                    var products: (fwd: [Double], fb: [Double])?
                    if impl == .flash && bound {
                        products = FlashAttention.timingProductsOnly {
                            let f = measure(runs: reps, minSeconds: 0.05) {
                                _ = noGrad { Tensor.attention(q, k, v, causal: causal, implementation: impl) }
                            }
                            let b = measure(runs: reps, minSeconds: 0.05) {
                                Tensor.attention(qs, ks, vs, causal: causal, implementation: impl).backward(dO)
                                qs.grad = nil
                                ks.grad = nil
                                vs.grad = nil
                            }
                            return (f, b)
                        }
                    }
                    // The peak measured again after each implementation's runs; the best reading of
                    // the process stands (see `Machine.confirmPeak`).
                    fmaPeak = Machine.confirmPeak()
                    let base = MemoryStats.liveBytes
                    MemoryStats.resetPeak()
                    Tensor.attention(qs, ks, vs, causal: causal, implementation: impl).backward(dO)
                    qs.grad = nil
                    ks.grad = nil
                    vs.grad = nil
                    let peak = MemoryStats.peakBytes - base
                    for t in [q, k, v] { t.requiresGrad = false }
                    let (f, both) = records(impl.rawValue, fwd, fb)
                    var b = both
                    b.extra["peak_bytes"] = peak
                    if impl == .flash { flashFB = b.median }
                    if json {
                        print(JSONLine.encode(f.json))
                        print(JSONLine.encode(b.json))
                    } else {
                        print(
                            String(
                                format: "%5d  %-6@ | %-5@ | %9.2f | %10.2f | %9.1f | %6.1f (%4.1f%%)", N,
                                causal ? "causal" : "full", impl.rawValue, f.median, b.median,
                                Double(peak) / 1_048_576, rate(b.median).0, 100 * rate(b.median).1))
                    }
                    if let products {
                        let (pf, productsBoth) = records("flash-products", products.fwd, products.fb)
                        var pb = productsBoth
                        // The share of flash's fwd+bwd not spent in the tile products.
                        let rest = 1 - pb.median / b.median
                        pb.extra["rest_fraction"] = rest
                        if json {
                            print(JSONLine.encode(pf.json))
                            print(JSONLine.encode(pb.json))
                        } else {
                            print(
                                String(
                                    format: "%5d  %-6@ | bound | %9.2f | %10.2f |           | %6.1f (%4.1f%%) "
                                        + "tile products alone; the rest is %.0f%% of flash's fwd+bwd",
                                    N, causal ? "causal" : "full", pf.median, pb.median, rate(pb.median).0,
                                    100 * rate(pb.median).1, 100 * rest))
                        }
                    }
                }
                if let py = torch, let mine = flashFB {
                    let (tf, tfb) = try runTorch(py, N: N, causal: causal, threads: threads, reps: reps)
                    fmaPeak = Machine.confirmPeak()
                    let (tf0, tr) = records("torch-sdpa", tf, tfb)
                    if json {
                        print(JSONLine.encode(tf0.json))
                        print(JSONLine.encode(tr.json))
                        print(
                            JSONLine.encode([
                                "bench": "attention", "case": tr.caseName, "impl": "ratio", "threads": threads,
                                "vs": "torch-sdpa", "ratio": tr.median / mine,
                            ]))
                    } else {
                        print(
                            String(
                                format:
                                    "%5d  %-6@ | torch |  %8.2f | %10.2f |           | %6.1f (%4.1f%%) → flash is %.2fx faster",
                                N, causal ? "causal" : "full", tf0.median, tr.median, rate(tr.median).0,
                                100 * rate(tr.median).1, tr.median / mine))
                    }
                }
            }
        }
    }

    /// PyTorch's F.scaled_dot_product_attention on the same shape in a child process.
    func runTorch(_ python: String, N: Int, causal: Bool, threads: Int, reps: Int) throws -> ([Double], [Double]) {
        let script = """
            import time, torch, torch.nn.functional as F
            torch.set_num_threads(\(threads))
            g = torch.Generator().manual_seed(0)
            q, k, v, do = (torch.randn(1, \(heads), \(N), \(headDim), generator=g) for _ in range(4))
            for t in (q, k, v): t.requires_grad_(True)
            def fwd():
                with torch.no_grad(): F.scaled_dot_product_attention(q, k, v, is_causal=\(causal ? "True" : "False"))
            def fb():
                o = F.scaled_dot_product_attention(q, k, v, is_causal=\(causal ? "True" : "False")); o.backward(do)
                for t in (q, k, v): t.grad = None
            for f in (fwd, fb):
                f(); f()
                for _ in range(\(reps)):
                    t = time.perf_counter(); f(); print(f.__name__, (time.perf_counter() - t) * 1e3)
            """
        let out = try runPython(python, script, threads: threads)
        let f = out.filter { $0.0 == "fwd" }.map(\.1)
        let b = out.filter { $0.0 == "fb" }.map(\.1)
        guard f.count == reps && b.count == reps else {
            throw CLIError("torch peer printed unexpected output (\(python))")
        }
        return (f, b)
    }
}
