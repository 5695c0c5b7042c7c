import ArgumentParser
import Compute
import Foundation
import Models
import NN

/// The two reference GPT shapes (depth, width, heads, context, batch) used to compare with PyTorch.
struct GPTBenchShape {
    let name: String, layers: Int, width: Int, heads: Int, context: Int, batch: Int
    static let all = [
        GPTBenchShape(name: "4Lx128,T=128,B=32", layers: 4, width: 128, heads: 4, context: 128, batch: 32),
        GPTBenchShape(name: "6Lx384,T=256,B=8", layers: 6, width: 384, heads: 6, context: 256, batch: 8),
    ]
}

/// Training FLOPs per token: 6 × non-embedding parameters + attention 12·L·T·C (nanoGPT / PaLM estimate).
func trainFlopsPerToken(nonEmbedding: Int, layers: Int, context: Int, width: Int) -> Double {
    Double(6 * nonEmbedding + 12 * layers * context * width)
}

/// The PyTorch peer: nanoGPT's architecture (learned positions, pre-LayerNorm, GELU MLP, tied head,
/// no biases) with an optional preallocated KV cache — one definition for both benchmarks.
func torchNanoGPTSource(threads: Int, vocab: Int, layers: Int, heads: Int, width: Int, positions: Int) -> String {
    """
    import math, time, torch, torch.nn as nn, torch.nn.functional as F
    torch.set_num_threads(\(threads))
    V, L, H, C, MAXT = \(vocab), \(layers), \(heads), \(width), \(positions)
    class Block(nn.Module):
        def __init__(s):
            super().__init__()
            s.ln_1, s.ln_2 = nn.LayerNorm(C, bias=False), nn.LayerNorm(C, bias=False)
            s.c_attn, s.a_proj = nn.Linear(C, 3 * C, bias=False), nn.Linear(C, C, bias=False)
            s.c_fc, s.m_proj = nn.Linear(C, 4 * C, bias=False), nn.Linear(4 * C, C, bias=False)
            s.kc = s.vc = None
        def forward(s, x, pos):
            b, t, _ = x.shape
            q, k, v = (z.view(b, t, H, C // H).transpose(1, 2) for z in s.c_attn(s.ln_1(x)).split(C, dim=2))
            if pos is None:
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:
                s.kc[:, :, pos:pos + t] = k; s.vc[:, :, pos:pos + t] = v
                y = F.scaled_dot_product_attention(q, s.kc[:, :, :pos + t], s.vc[:, :, :pos + t], is_causal=(t > 1))
            x = x + s.a_proj(y.transpose(1, 2).contiguous().view(b, t, C))
            return x + s.m_proj(F.gelu(s.c_fc(s.ln_2(x))))
    class GPT(nn.Module):
        def __init__(s):
            super().__init__()
            s.wte, s.wpe = nn.Embedding(V, C), nn.Embedding(MAXT, C)
            s.h = nn.ModuleList([Block() for _ in range(L)])
            s.ln_f, s.lm_head = nn.LayerNorm(C, bias=False), nn.Linear(C, V, bias=False)
            s.wte.weight = s.lm_head.weight
            for p in s.parameters():
                if p.dim() == 2: nn.init.normal_(p, 0, 0.02)
        def hidden(s, idx, pos):
            p0 = 0 if pos is None else pos
            x = s.wte(idx) + s.wpe(torch.arange(p0, p0 + idx.shape[1]))
            for b in s.h: x = b(x, pos)
            return s.ln_f(x)
    torch.manual_seed(0)

    """
}

struct BenchTrainGPT: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-gpt",
        abstract: "GPT training steps (forward, backward, clip, AdamW) in tokens/s for two shapes.",
        discussion: """
            Orrery's GPT (RoPE, RMSNorm, SwiGLU) against a nanoGPT-architecture model (learned positions,
            LayerNorm, GELU) at the same depth, width, heads, context and batch; vocab 65; 5 warm-up steps,
            then --steps timed steps, median. With --torch PYTHON, PyTorch runs each shape right after
            Orrery (or in --rounds alternating rounds).
            """)
    @OptionGroup var common: CommonOptions
    @Option(help: "Timed steps per shape.") var steps = 20
    enum Shapes: String, ExpressibleByArgument, CaseIterable { case all, small, large }
    @Option(help: "Which shapes: all, small or large.") var shapes: Shapes = .all
    @Option(help: "A Python with torch to measure side by side.") var torch: String?
    // One round by default: PyTorch's GPT step measured 10–15 % slower in a fresh process's first
    // dozen steps (its allocator is still going to the OS), so short alternating rounds, each a new
    // process, would be unfair to it here (the DCGAN and UNet peers measured the same either way).
    @Option(
        help: """
            Alternating rounds of Orrery and the peer (the timed steps split among them; each peer \
            round is a new process with its own warm-up).
            """)
    var rounds = 1
    @Flag(
        help: """
            After the timed steps, profile --profile-steps more: where a step's time goes (GEMM by shape, \
            attention, norms, elementwise, cross-entropy, optimizer, allocation, thread sync), each against \
            the machine's limits.
            """)
    var profile = false
    @Option(help: "Steps the profile covers.") var profileSteps = 10
    @Flag(help: "JSON lines per the bench contract.") var json = false

    func validate() throws {
        guard steps >= 1 && steps <= 10_000 else { throw ValidationError("--steps must be 1…10000, got \(steps)") }
        guard rounds >= 1 && rounds <= 100 else { throw ValidationError("--rounds must be 1…100, got \(rounds)") }
        guard profileSteps >= 1 && profileSteps <= 1000 else {
            throw ValidationError("--profile-steps must be 1…1000, got \(profileSteps)")
        }
    }

    func run() throws {
        try common.apply()
        let threads = Parallel.threads
        let list = GPTBenchShape.all.filter { shapes == .all || (shapes == .small ? $0.layers == 4 : $0.layers == 6) }
        let startPeak = Machine.limits.fmaGFLOPS
        if !json {
            print(
                String(
                    format: "%@, FP32 FMA peak %.0f GFLOP/s (MFU = model FLOP/s ÷ peak)", Machine.cpuName, startPeak))
            print(
                "GPT training step, vocab 65, \(threads) threads (median of \(steps) steps"
                    + (torch != nil && Swift.min(rounds, steps) > 1
                        ? " in \(Swift.min(rounds, steps)) rounds alternating with the peer)" : ")"))
        }
        for s in list {
            let model = GPT(
                GPTConfig(vocabSize: 65, contextLength: s.context, layers: s.layers, heads: s.heads, width: s.width),
                seed: 1)
            let opt = Adam.adamW(model.namedParameters(), lr: 1e-3, betas: (0.9, 0.99), weightDecay: 0.1)
            var rng = RNG(seed: 2)
            let data = (0..<100_000).map { _ in rng.int(below: 65) }
            func step() -> Double {
                var x: [Int] = []
                var y: [Int] = []
                for _ in 0..<s.batch {
                    let o = rng.int(below: data.count - s.context - 1)
                    x += data[o..<(o + s.context)]
                    y += data[(o + 1)..<(o + 1 + s.context)]
                }
                return timedMs {
                    model.zeroGrad()
                    model.loss(x, targets: y, batch: s.batch).backward()
                    Autograd.clipGradNorm(model.parameters, maxNorm: 1)
                    opt.step()
                }
            }
            let measured = try alternatingRounds(
                steps: steps, rounds: rounds,
                step: step,
                peer: torch.map { py in
                    { count, _ in try runPython(py, torchTrainScript(s, steps: count), threads: threads) }
                })
            // The peak measured again after the runs; the best reading of the process stands.
            let peak = Machine.confirmPeak()
            if !json && peak > 1.02 * startPeak {
                print(String(format: "(FMA peak measured again after the runs: %.0f GFLOP/s, used below)", peak))
            }
            let times = measured.orrery
            let peerTimes = measured.peer
            let peerParams = Int(measured.peerLast.first { $0.0 == "params" }?.1 ?? 0)
            let tokens = Double(s.batch * s.context)
            let nonEmb = model.parameterCount - 65 * s.width
            let flopsTok = trainFlopsPerToken(
                nonEmbedding: nonEmb, layers: s.layers, context: s.context, width: s.width)
            var rec = BenchRecord(
                bench: "train-gpt", caseName: s.name, impl: "orrery", threads: threads, timesMs: times, extra: [:])
            let tps = tokens / (rec.median / 1000)
            rec.extra = [
                "tokens_per_s": tps, "model_gflops": tps * flopsTok / 1e9, "parameters": model.parameterCount,
                "mfu": tps * flopsTok / 1e9 / peak, "peak_gflops": peak, "cpu": Machine.cpuName,
            ]
            var line = String(
                format: "%-20@ orrery %8.1f ms/step %9.0f tok/s %6.1f GFLOP/s = %4.1f%% MFU (%.2fM params)",
                s.name, rec.median, tps, tps * flopsTok / 1e9, 100 * tps * flopsTok / 1e9 / peak,
                Double(model.parameterCount) / 1e6)
            if json { print(JSONLine.encode(rec.json)) }
            if torch != nil {
                let tt = peerTimes
                let tparams = peerParams
                var prec = BenchRecord(
                    bench: "train-gpt", caseName: s.name, impl: "torch", threads: threads, timesMs: tt, extra: [:])
                let ttps = tokens / (prec.median / 1000)
                let tflops = trainFlopsPerToken(
                    nonEmbedding: tparams - 65 * s.width - s.context * s.width, layers: s.layers,
                    context: s.context, width: s.width)
                prec.extra = [
                    "tokens_per_s": ttps, "model_gflops": ttps * tflops / 1e9, "parameters": tparams,
                    "mfu": ttps * tflops / 1e9 / peak,
                ]
                line += String(
                    format:
                        "\n%-20@ torch  %8.1f ms/step %9.0f tok/s %6.1f GFLOP/s = %4.1f%% MFU (%.2fM params) → orrery/torch %.2fx",
                    s.name, prec.median, ttps, ttps * tflops / 1e9, 100 * ttps * tflops / 1e9 / peak,
                    Double(tparams) / 1e6, tps / ttps)
                if json {
                    print(JSONLine.encode(prec.json))
                    print(
                        JSONLine.encode([
                            "bench": "train-gpt", "case": s.name, "impl": "ratio", "threads": threads,
                            "vs": "torch", "ratio": tps / ttps,
                        ]))
                }
            }
            if !json { print(line) }
            if profile {
                Profiler.start()
                for _ in 0..<profileSteps { _ = step() }
                let p = Profiler.stop(steps: profileSteps)
                printProfile(p, caseName: s.name, limits: Machine.limits, json: json)
            }
        }
    }

    func torchTrainScript(_ s: GPTBenchShape, steps: Int) -> String {
        torchNanoGPTSource(
            threads: Parallel.threads, vocab: 65, layers: s.layers, heads: s.heads, width: s.width, positions: s.context
        ) + """
            T, B = \(s.context), \(s.batch)
            m = GPT()
            print("params", sum(p.numel() for p in m.parameters()))
            opt = torch.optim.AdamW([{"params": [p for p in m.parameters() if p.dim() >= 2], "weight_decay": 0.1},
                                     {"params": [p for p in m.parameters() if p.dim() < 2], "weight_decay": 0.0}],
                                    lr=1e-3, betas=(0.9, 0.99))
            data = torch.randint(0, V, (100000,))
            for i in range(5 + \(steps)):
                ix = torch.randint(len(data) - T - 1, (B,))
                x = torch.stack([data[j:j + T] for j in ix]); y = torch.stack([data[j + 1:j + 1 + T] for j in ix])
                t0 = time.perf_counter()
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(m.lm_head(m.hidden(x, None)).view(-1, V), y.view(-1)).backward()
                torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
                opt.step()
                if i >= 5: print("step", (time.perf_counter() - t0) * 1e3)
            """
    }
}

struct BenchGenerate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Autoregressive generation at batch 1 with the KV cache: tokens/s.",
        discussion: """
            A 4-layer × 128 GPT (4 heads, vocab 65): a 1-token prompt, then --tokens single-token steps,
            sampling from softmax at temperature 1. With --torch PYTHON, a nanoGPT-architecture model with a
            preallocated KV cache runs side by side.
            """)
    @OptionGroup var common: CommonOptions
    @Option(help: "Tokens generated per run.") var tokens = 256
    @Option(help: "Timed runs.") var runs = 7
    @Option(help: "A Python with torch to measure side by side.") var torch: String?
    @Flag(help: "JSON lines per the bench contract.") var json = false

    func validate() throws {
        guard tokens >= 1 && tokens <= 100_000 else {
            throw ValidationError("--tokens must be 1…100000, got \(tokens)")
        }
        guard runs >= 1 && runs <= 101 else { throw ValidationError("--runs must be 1…101, got \(runs)") }
    }

    func run() throws {
        try common.apply()
        let threads = Parallel.threads
        let model = GPT(GPTConfig(vocabSize: 65, contextLength: 512, layers: 4, heads: 4, width: 128), seed: 1)
        let tok = CharTokenizer(chars: [])
        var o = SamplingOptions()
        o.temperature = 1
        o.maxTokens = tokens
        func once(_ seed: UInt64) {
            o.seed = seed
            let g = TextGenerator(model: model, tokenizer: tok, prompt: [0], options: o)
            while g.next() != nil {}
        }
        once(0)
        once(1)
        var times: [Double] = []
        for r in 0..<runs {
            let t0 = DispatchTime.now().uptimeNanoseconds
            once(UInt64(r + 2))
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        }
        var rec = BenchRecord(
            bench: "generate", caseName: "4Lx128,B=1,\(tokens)tok", impl: "orrery", threads: threads, timesMs: times,
            extra: [:])
        let tps = Double(tokens) / (rec.median / 1000)
        rec.extra["tokens_per_s"] = tps
        var line = String(
            format: "generate 4L×128, batch 1, KV cache: orrery %.0f tokens/s (%.1f ms per %d tokens)", tps, rec.median,
            tokens)
        if json { print(JSONLine.encode(rec.json)) }
        if let py = torch {
            let out = try runPython(py, torchScript(threads), threads: threads)
            let tt = out.filter { $0.0 == "run" }.map(\.1)
            guard tt.count == runs else { throw CLIError("torch peer printed \(tt.count) timings") }
            var prec = BenchRecord(
                bench: "generate", caseName: rec.caseName, impl: "torch", threads: threads, timesMs: tt, extra: [:])
            let ttps = Double(tokens) / (prec.median / 1000)
            prec.extra["tokens_per_s"] = ttps
            line += String(
                format: "\n                                         torch  %.0f tokens/s → orrery/torch %.2fx", ttps,
                tps / ttps)
            if json {
                print(JSONLine.encode(prec.json))
                print(
                    JSONLine.encode([
                        "bench": "generate", "case": rec.caseName, "impl": "ratio", "threads": threads, "vs": "torch",
                        "ratio": tps / ttps,
                    ]))
            }
        }
        if !json { print(line) }
    }

    func torchScript(_ threads: Int) -> String {
        torchNanoGPTSource(threads: threads, vocab: 65, layers: 4, heads: 4, width: 128, positions: 512) + """
            N = \(tokens)
            m = GPT().eval()
            @torch.inference_mode()
            def gen():
                for b in m.h: b.kc = torch.zeros(1, H, MAXT, C // H); b.vc = torch.zeros(1, H, MAXT, C // H)
                idx = torch.zeros(1, 1, dtype=torch.long); logits = m.lm_head(m.hidden(idx, 0)[:, -1, :]); pos = 1
                for _ in range(N):
                    nxt = torch.multinomial(F.softmax(logits, -1), 1)
                    logits = m.lm_head(m.hidden(nxt, pos)[:, -1, :]); pos += 1
            gen(); gen()
            for _ in range(\(runs)):
                t = time.perf_counter(); gen(); print("run", (time.perf_counter() - t) * 1e3)
            """
    }
}
