import ArgumentParser
import Compute
import Foundation
import Models
import NN

/// `orrery bench unet-step`: the small DDPM UNet's training step and DDIM sampling, side by side with
/// PyTorch running the same architecture.
struct BenchUNetStep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unet-step",
        abstract: "DDPM UNet 32×32×3 (2 levels, 32/64 channels, mid attention) Adam step, and 50-step DDIM samples/s.",
        discussion: """
            The UNet of the diffusion lab at 32×32×3, base width 32, batch 16, ε-prediction with linear
            betas over 1000 steps, MSE, Adam 2e-4. 5 warm-up steps, then --steps timed steps, median.
            With --torch PYTHON, PyTorch runs the same architecture right after Orrery.
            """)
    @OptionGroup var common: CommonOptions
    @Option(help: "Timed steps.") var steps = 20
    @Option(help: "A Python with torch to measure side by side.") var torch: String?
    @Option(
        help: """
            Alternating rounds of Orrery and the peer (the timed steps split among them), so a slow \
            spell of a shared machine falls on both.
            """)
    var rounds = 4
    @Flag(help: "JSON lines per the bench contract.") var json = false

    func validate() throws {
        guard steps >= 1 && steps <= 10_000 else { throw ValidationError("--steps must be 1…10000, got \(steps)") }
        guard rounds >= 1 && rounds <= 100 else { throw ValidationError("--rounds must be 1…100, got \(rounds)") }
    }

    func run() throws {
        try common.apply()
        let threads = Parallel.threads
        let B = 16
        var rng = RNG(seed: 1)
        let model = UNet(UNetConfig(), rng: &rng)
        let opt = Adam(model.parameters, lr: 2e-4)
        let schedule = NoiseSchedule(.linear, steps: 1000)
        let x0 = Tensor.randn([B, 3, 32, 32], rng: &rng)
        let measured = try alternatingRounds(
            steps: steps, rounds: rounds,
            step: {
                timedMs {
                    let (xt, t, target) = schedule.trainingBatch(x0, type: .epsilon, rng: &rng)
                    model.zeroGrad()
                    model(xt, t: t).mseLoss(target).backward()
                    opt.step()
                }
            },
            peer: torch.map { py in
                { count, last in
                    try runPython(py, torchScript(threads: threads, steps: count, sample: last), threads: threads)
                }
            })
        let times = measured.orrery
        let peerTimes = measured.peer
        let peerSample = measured.peerLast.first(where: { $0.0 == "sample" })?.1
        if torch != nil && peerSample == nil { throw CLIError("torch peer printed no sampling time") }
        // 50-step DDIM on a batch of 16.
        var settings = DenoiseSettings()
        settings.steps = 50
        let s0 = DispatchTime.now().uptimeNanoseconds
        let run = DenoisingRun(
            schedule: schedule, prediction: .epsilon, shape: [B, 3, 32, 32], settings: settings, seed: 3
        ) { x, t, _ in model(x, t: [Int](repeating: t, count: B)) }
        run.jump(to: run.stepCount)
        let sampleSecs = Double(DispatchTime.now().uptimeNanoseconds - s0) / 1e9
        var rec = BenchRecord(
            bench: "unet-step", caseName: "ddpm-unet32-b16", impl: "orrery", threads: threads, timesMs: times,
            extra: [:])
        rec.extra = [
            "images_per_s": Double(B) / (rec.median / 1000), "ddim50_samples_per_s": Double(B) / sampleSecs,
            "parameters": model.parameterCount,
        ]
        var line = String(
            format: "orrery %7.1f ms/step  %6.0f train img/s  %6.2f DDIM-50 samples/s (%.3fM params)", rec.median,
            Double(B) / (rec.median / 1000), Double(B) / sampleSecs, Double(model.parameterCount) / 1e6)
        let mfu = PeerCountedMFU(measured.peerLast)
        if let m = mfu.fraction(rec.median) { rec.extra["mfu"] = m }
        line += mfu.text(rec.median)
        if json { print(JSONLine.encode(rec.json)) }
        if torch != nil, let ts = peerSample {
            let tt = peerTimes
            var prec = BenchRecord(
                bench: "unet-step", caseName: "ddpm-unet32-b16", impl: "torch", threads: threads, timesMs: tt,
                extra: [:])
            prec.extra = ["images_per_s": Double(B) / (prec.median / 1000), "ddim50_samples_per_s": Double(B) / ts]
            if let m = mfu.fraction(prec.median) { prec.extra["mfu"] = m }
            line += String(
                format: "\ntorch  %7.1f ms/step  %6.0f train img/s  %6.2f DDIM-50 samples/s",
                prec.median, Double(B) / (prec.median / 1000), Double(B) / ts)
            line += mfu.text(prec.median)
            line += String(
                format: "  → orrery/torch step %.2fx, sampling %.2fx", prec.median / rec.median, ts / sampleSecs)
            if json {
                print(JSONLine.encode(prec.json))
                print(
                    JSONLine.encode([
                        "bench": "unet-step", "case": "ddpm-unet32-b16", "impl": "ratio", "threads": threads,
                        "vs": "torch", "ratio": prec.median / rec.median, "sample_ratio": ts / sampleSecs,
                    ]))
            }
        }
        if !json {
            print(
                machineLine(threads)
                    + (torch == nil ? " (MFU needs --torch: the step's FLOPs are PyTorch's count)" : ""))
            print(
                "DDPM UNet 32×32×3, base 32, batch \(B), \(threads) threads (median of \(steps) steps"
                    + (torch != nil && Swift.min(rounds, steps) > 1
                        ? " in \(Swift.min(rounds, steps)) rounds alternating with the peer)" : ")"))
            print(line)
        }
    }

    func torchScript(threads: Int, steps: Int, sample: Bool) -> String {
        """
        import math, time, torch, torch.nn as nn, torch.nn.functional as F
        torch.set_num_threads(\(threads))
        torch.manual_seed(0)
        class ResBlock(nn.Module):
            def __init__(s, cin, cout, tdim=128):
                super().__init__()
                s.n1, s.c1 = nn.GroupNorm(8, cin), nn.Conv2d(cin, cout, 3, padding=1)
                s.t = nn.Linear(tdim, cout)
                s.n2, s.c2 = nn.GroupNorm(8, cout), nn.Conv2d(cout, cout, 3, padding=1)
                s.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
            def forward(s, x, temb):
                h = s.c1(F.silu(s.n1(x))) + s.t(F.silu(temb))[:, :, None, None]
                h = s.c2(F.silu(s.n2(h)))
                return s.skip(x) + h
        class Attn(nn.Module):
            def __init__(s, c):
                super().__init__()
                s.n, s.qkv, s.o = nn.GroupNorm(8, c), nn.Conv2d(c, 3 * c, 1), nn.Conv2d(c, c, 1)
            def forward(s, x):
                B, C, H, W = x.shape
                q, k, v = s.qkv(s.n(x)).reshape(B, 3, 1, C, H * W).transpose(3, 4).unbind(1)
                h = F.scaled_dot_product_attention(q, k, v).transpose(2, 3).reshape(B, C, H, W)
                return x + s.o(h)
        class UNet(nn.Module):
            def __init__(s):
                super().__init__()
                s.temb = nn.Sequential(nn.Linear(32, 128), nn.SiLU(), nn.Linear(128, 128))
                s.inc = nn.Conv2d(3, 32, 3, padding=1)
                s.d1 = ResBlock(32, 32); s.down = nn.Conv2d(32, 32, 3, stride=2, padding=1)
                s.d2 = ResBlock(32, 64)
                s.m1, s.ma, s.m2 = ResBlock(64, 64), Attn(64), ResBlock(64, 64)
                s.u2 = ResBlock(128, 64); s.up = nn.Conv2d(64, 64, 3, padding=1)
                s.u1 = ResBlock(96, 32)
                s.outn, s.outc = nn.GroupNorm(8, 32), nn.Conv2d(32, 3, 3, padding=1)
            def forward(s, x, t):
                f = torch.exp(-math.log(10000) * torch.arange(16) / 16)
                e = t[:, None].float() * f[None]
                temb = s.temb(torch.cat([e.sin(), e.cos()], 1))
                h = s.inc(x)
                s1 = s.d1(h, temb)
                s2 = s.d2(s.down(s1), temb)
                h = s.m2(s.ma(s.m1(s2, temb)), temb)
                h = s.u2(torch.cat([h, s2], 1), temb)
                h = s.up(F.interpolate(h, scale_factor=2, mode="nearest"))
                h = s.u1(torch.cat([h, s1], 1), temb)
                return s.outc(F.silu(s.outn(h)))
        B = 16
        m = UNet(); opt = torch.optim.Adam(m.parameters(), lr=2e-4)
        abar = torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000), 0)
        x0 = torch.randn(B, 3, 32, 32)
        def step():
            t = torch.randint(0, 1000, (B,)); eps = torch.randn_like(x0)
            a = abar[t][:, None, None, None]
            xt = a.sqrt() * x0 + (1 - a).sqrt() * eps
            loss = F.mse_loss(m(xt, t), eps)
            opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
        for i in range(5 + \(steps)):
            t0 = time.perf_counter()
            step()
            if i >= 5: print("step", (time.perf_counter() - t0) * 1000)
        if \(sample ? "True" : "False"):
            from torch.utils.flop_counter import FlopCounterMode
            with FlopCounterMode(display=False) as fc: step()
            print("flops", fc.get_total_flops())
            ts = torch.linspace(999, 0, 50).round().long()
            t0 = time.perf_counter()
            with torch.no_grad():
                x = torch.randn(B, 3, 32, 32)
                for k in range(50):
                    t = ts[k]; a = abar[t]; an = abar[ts[k + 1]] if k + 1 < 50 else torch.tensor(1.0)
                    e = m(x, t.repeat(B))
                    x0h = (x - (1 - a).sqrt() * e) / a.sqrt()
                    x = an.sqrt() * x0h + (1 - an).sqrt() * e
            print("sample", time.perf_counter() - t0)
        """
    }
}
