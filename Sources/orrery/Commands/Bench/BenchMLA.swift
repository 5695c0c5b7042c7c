import ArgumentParser
import Compute
import Foundation
import Models

/// `orrery bench mla-decode`: the KV cache and decode speed of multi-head, grouped-query and
/// multi-head latent attention at the same width, side by side in one run.
struct BenchMLADecode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mla-decode",
        abstract: "KV-cache bytes per token and batch-1 decode tokens/s of MHA, GQA and MLA GPTs of the same width.",
        discussion: """
            Three GPTs of --layers × --width with --heads heads (random weights: speed does not depend on them):
            MHA, GQA with --kv-heads key/value heads, and MLA (latent 64, rotary 16, query latent 96,
            decoded by the absorbed path). Each decodes --tokens tokens after a 16-token prompt, greedily;
            the median of --runs runs.
            """)
    @OptionGroup var common: CommonOptions
    @Option(help: "Layers.") var layers = 4
    @Option(help: "Width.") var width = 128
    @Option(help: "Attention heads.") var heads = 4
    @Option(help: "Key/value heads of the GQA model.") var kvHeads = 1
    @Option(help: "Tokens decoded per run.") var tokens = 256
    @Option(help: "Runs (median reported).") var runs = 5
    @Flag(help: "JSON lines per the bench contract.") var json = false

    func validate() throws {
        guard (1...64).contains(layers), (8...2048).contains(width), heads >= 1, width % heads == 0,
            (width / heads) % 2 == 0, kvHeads >= 1, heads % kvHeads == 0
        else {
            throw ValidationError("layers 1…64, width 8…2048 split into heads of even size, kv-heads dividing heads")
        }
        guard (1...4096).contains(tokens), (1...100).contains(runs) else {
            throw ValidationError("--tokens must be 1…4096 and --runs 1…100")
        }
    }

    func run() throws {
        try common.apply()
        let context = tokens + 16
        var cases: [(String, GPTConfig)] = []
        let base = GPTConfig(vocabSize: 256, contextLength: context, layers: layers, heads: heads, width: width)
        cases.append(("mha", base))
        cases.append(
            (
                "gqa",
                GPTConfig(
                    vocabSize: 256, contextLength: context, layers: layers, heads: heads, kvHeads: kvHeads, width: width
                )
            ))
        var mla = base
        mla.mla = MLAConfig()
        cases.append(("mla", mla))
        if !json {
            print(
                "batch-1 greedy decode, \(layers) layers × \(width), \(heads) heads, \(tokens) tokens (\(Parallel.threads) threads)"
            )
        }
        var mhaRate = 0.0
        for (name, c) in cases {
            let model = GPT(c, seed: 1)
            model.train(false)
            let prompt = Array(0..<16)
            var times: [Double] = []
            var bytes = 0
            for _ in 0..<(runs + 1) {
                let dec = model.makeDecoder() as! GPTDecoder
                let t0 = DispatchTime.now().uptimeNanoseconds
                var logits = dec.feed(prompt)
                for _ in 0..<tokens {
                    let v = logits.toArray()
                    var best = 0
                    for i in v.indices where v[i] > v[best] { best = i }
                    logits = dec.feed([best])
                }
                times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
                bytes = dec.cacheBytesPerToken
            }
            times.removeFirst()  // warm-up
            var rec = BenchRecord(
                bench: "mla-decode", caseName: "\(layers)x\(width),h\(heads)", impl: name, threads: Parallel.threads,
                timesMs: times, extra: [:])
            let rate = Double(tokens) / (rec.median / 1000)
            if name == "mha" { mhaRate = rate }
            rec.extra = ["tokens_per_s": rate, "kv_bytes_per_token": bytes, "parameters": model.parameterCount]
            if json {
                print(JSONLine.encode(rec.json))
            } else {
                print(
                    String(
                        format: "%@  %6d KV bytes/token  %8.0f tokens/s  (%.2f× MHA)  %d parameters",
                        name.uppercased().padding(toLength: 4, withPad: " ", startingAt: 0), bytes, rate,
                        rate / max(mhaRate, 1e-9), model.parameterCount))
            }
        }
    }
}
