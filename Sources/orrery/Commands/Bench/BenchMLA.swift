import ArgumentParser
import Compute
import Foundation
import Labs
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
        if !json {
            print(
                "batch-1 greedy decode, \(layers) layers × \(width), \(heads) heads, \(tokens) tokens (\(Parallel.threads) threads)"
            )
        }
        var mhaRate = 0.0
        let cases = DecodeComparison.measure(
            layers: layers, width: width, heads: heads, kvHeads: kvHeads, tokens: tokens, runs: runs)
        for d in cases {
            var rec = BenchRecord(
                bench: "mla-decode", caseName: "\(layers)x\(width),h\(heads)", impl: d.name, threads: Parallel.threads,
                timesMs: d.timesMs, extra: [:])
            let rate = d.tokensPerSecond
            if d.name == "mha" { mhaRate = rate }
            rec.extra = ["tokens_per_s": rate, "kv_bytes_per_token": d.kvBytesPerToken, "parameters": d.parameters]
            if json {
                print(JSONLine.encode(rec.json))
            } else {
                print(
                    String(
                        format: "%@  %6d KV bytes/token  %8.0f tokens/s  (%.2f× MHA)  %d parameters",
                        d.name.uppercased().padding(toLength: 4, withPad: " ", startingAt: 0), d.kvBytesPerToken, rate,
                        rate / max(mhaRate, 1e-9), d.parameters))
            }
        }
    }
}
