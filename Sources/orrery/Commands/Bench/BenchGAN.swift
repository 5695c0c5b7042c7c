import ArgumentParser
import Compute
import Foundation
import Models
import NN

/// `orrery bench gan-step`: the reference DCGAN's training step and image sampling, side by side with
/// PyTorch running the same model.
struct BenchGANStep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gan-step",
        abstract: "DCGAN 32×32 training step (one D and one G update) and sampling images/s.",
        discussion: """
            The DCGAN of Radford et al. at 32×32×3: G = ConvT(100→4nf, 4) BN ReLU → ConvT(→2nf) BN ReLU
            → ConvT(→nf) BN ReLU → ConvT(→3) tanh; D = Conv(3→nf) LReLU → Conv(→2nf) BN LReLU → Conv(→4nf)
            BN LReLU → Conv(→1, 4); BCE-with-logits, Adam 2e-4 (0.5, 0.999), batch 64, widths nf 32 and 64.
            One step: D on a real batch and the detached fake batch, then G through a fresh D pass (as
            PyTorch's DCGAN example). 5 warm-up steps, then --steps timed steps, median. With --torch
            PYTHON, PyTorch runs the same model right after Orrery and a ratio line is printed.
            """)
    @OptionGroup var common: CommonOptions
    @Option(help: "Timed steps per width.") var steps = 20
    @Option(help: "Comma-separated widths nf.") var widths = "32,64"
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
        _ = try parsedWidths()
    }

    func parsedWidths() throws -> [Int] {
        let w = widths.split(separator: ",", omittingEmptySubsequences: false).map { Int($0) }
        guard !w.isEmpty, w.allSatisfy({ ($0 ?? 0) >= 1 && ($0 ?? 0) <= 256 }) else {
            throw ValidationError("--widths takes numbers 1…256, e.g. 32,64")
        }
        return w.map { $0! }
    }

    func run() throws {
        try common.apply()
        let threads = Parallel.threads
        let B = 64
        let nz = 100
        if !json {
            print(
                machineLine(threads)
                    + (torch == nil ? " (MFU needs --torch: the step's FLOPs are PyTorch's count)" : ""))
            print(
                "DCGAN 32×32×3, batch \(B), \(threads) threads (median of \(steps) steps"
                    + (torch != nil && Swift.min(rounds, steps) > 1
                        ? " in \(Swift.min(rounds, steps)) rounds alternating with the peer)" : ")"))
        }
        for nf in try parsedWidths() {
            var rng = RNG(seed: 1)
            let shape = DCGANShape(size: 32, channels: 3)
            let G = DCGANGenerator(latent: nz, width: nf, shape: shape, norm: .batch, rng: &rng)
            let D = DCGANDiscriminator(width: nf, shape: shape, norm: .batch, rng: &rng)
            let optG = Adam(G.parameters, lr: 2e-4, betas: (0.5, 0.999))
            let optD = Adam(D.parameters, lr: 2e-4, betas: (0.5, 0.999))
            let real = Tensor.rand([B, 3, 32, 32], -1, 1, rng: &rng)
            let measured = try alternatingRounds(
                steps: steps, rounds: rounds,
                step: {
                    timedMs {
                        let fake = G(Tensor.randn([B, nz], rng: &rng))
                        D.zeroGrad()
                        GANLoss.discriminator(.gan, real: D(real), fake: D(fake.detach())).backward()
                        optD.step()
                        G.zeroGrad()
                        GANLoss.generator(.gan, fake: D(fake)).backward()
                        optG.step()
                    }
                },
                peer: torch.map { py in
                    { count, last in
                        try runPython(
                            py, torchScript(nf: nf, threads: threads, steps: count, sample: last), threads: threads)
                    }
                })
            let times = measured.orrery
            let peerTimes = measured.peer
            let peerSample = measured.peerLast.first(where: { $0.0 == "sample" })?.1
            if torch != nil && peerSample == nil { throw CLIError("torch peer printed no sampling time") }
            G.train(false)
            let sampleTimes = measure(runs: 5, minSeconds: 0.3) {
                _ = noGrad { G(Tensor.randn([B, nz], rng: &rng)) }
            }
            var rec = BenchRecord(
                bench: "gan-step", caseName: "dcgan32-nf\(nf)", impl: "orrery", threads: threads, timesMs: times,
                extra: [:])
            let sampleMs = sampleTimes.sorted()[sampleTimes.count / 2]
            rec.extra = [
                "images_per_s": Double(B) / (rec.median / 1000), "sample_images_per_s": Double(B) / (sampleMs / 1000),
                "generator_parameters": G.parameterCount, "discriminator_parameters": D.parameterCount,
            ]
            var line = String(
                format: "nf %-3d orrery %7.1f ms/step  %7.0f train img/s  %7.0f sample img/s", nf, rec.median,
                Double(B) / (rec.median / 1000), Double(B) / (sampleMs / 1000))
            let mfu = PeerCountedMFU(measured.peerLast)
            if let m = mfu.fraction(rec.median) { rec.extra["mfu"] = m }
            line += mfu.text(rec.median)
            if json { print(JSONLine.encode(rec.json)) }
            if torch != nil, let ts = peerSample {
                let tt = peerTimes
                var prec = BenchRecord(
                    bench: "gan-step", caseName: "dcgan32-nf\(nf)", impl: "torch", threads: threads, timesMs: tt,
                    extra: [:])
                prec.extra = [
                    "images_per_s": Double(B) / (prec.median / 1000), "sample_images_per_s": Double(B) / (ts / 1000),
                ]
                if let m = mfu.fraction(prec.median) { prec.extra["mfu"] = m }
                line += String(
                    format: "\nnf %-3d torch  %7.1f ms/step  %7.0f train img/s  %7.0f sample img/s",
                    nf, prec.median, Double(B) / (prec.median / 1000), Double(B) / (ts / 1000))
                line += mfu.text(prec.median)
                line += String(
                    format: "  → orrery/torch step %.2fx, sampling %.2fx", prec.median / rec.median, ts / sampleMs)
                if json {
                    print(JSONLine.encode(prec.json))
                    print(
                        JSONLine.encode([
                            "bench": "gan-step", "case": "dcgan32-nf\(nf)", "impl": "ratio", "threads": threads,
                            "vs": "torch", "ratio": prec.median / rec.median, "sample_ratio": ts / sampleMs,
                        ]))
                }
            }
            if !json { print(line) }
        }
    }

    func torchScript(nf: Int, threads: Int, steps: Int, sample: Bool) -> String {
        """
        import time, torch, torch.nn as nn
        torch.set_num_threads(\(threads))
        torch.manual_seed(0)
        nf, nz, B = \(nf), 100, 64
        G = nn.Sequential(
            nn.ConvTranspose2d(nz, 4 * nf, 4, 1, 0, bias=False), nn.BatchNorm2d(4 * nf), nn.ReLU(True),
            nn.ConvTranspose2d(4 * nf, 2 * nf, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * nf), nn.ReLU(True),
            nn.ConvTranspose2d(2 * nf, nf, 4, 2, 1, bias=False), nn.BatchNorm2d(nf), nn.ReLU(True),
            nn.ConvTranspose2d(nf, 3, 4, 2, 1, bias=False), nn.Tanh())
        D = nn.Sequential(
            nn.Conv2d(3, nf, 4, 2, 1, bias=True), nn.LeakyReLU(0.2, True),
            nn.Conv2d(nf, 2 * nf, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * nf), nn.LeakyReLU(0.2, True),
            nn.Conv2d(2 * nf, 4 * nf, 4, 2, 1, bias=False), nn.BatchNorm2d(4 * nf), nn.LeakyReLU(0.2, True),
            nn.Conv2d(4 * nf, 1, 4, 1, 0, bias=False))
        oG = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
        oD = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
        real = torch.rand(B, 3, 32, 32) * 2 - 1
        ones, zeros = torch.ones(B), torch.zeros(B)
        bce = nn.BCEWithLogitsLoss()
        def step():
            fake = G(torch.randn(B, nz, 1, 1))
            oD.zero_grad(set_to_none=True)
            (bce(D(real).view(-1), ones) + bce(D(fake.detach()).view(-1), zeros)).backward(); oD.step()
            oG.zero_grad(set_to_none=True)
            bce(D(fake).view(-1), ones).backward(); oG.step()
        for i in range(5 + \(steps)):
            t0 = time.perf_counter()
            step()
            if i >= 5: print("step", (time.perf_counter() - t0) * 1000)
        if \(sample ? "True" : "False"):
            from torch.utils.flop_counter import FlopCounterMode
            with FlopCounterMode(display=False) as fc: step()
            print("flops", fc.get_total_flops())
            G.eval()
            ts = []
            with torch.no_grad():
                for r in range(5):
                    n = 0; t0 = time.perf_counter()
                    while time.perf_counter() - t0 < 0.3:
                        G(torch.randn(B, nz, 1, 1)); n += 1
                    ts.append((time.perf_counter() - t0) * 1000 / n)
            ts.sort()
            print("sample", ts[len(ts) // 2])
        """
    }
}
