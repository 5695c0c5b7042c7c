import ArgumentParser
import Compute
import Foundation
import Models
import NN

struct BenchPacking: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "packing",
        abstract: "GPT training steps on the same documents as padded rows vs packed, padding-free buffers.",
        discussion: """
            Documents have long-tailed (log-normal) lengths of random tokens: this measures throughput,
            not learning. Padded: each document alone in a row of --context tokens, --rows rows a step.
            Packed: documents packed into buffers of --context tokens, --rows buffers concatenated into one
            padding-free sequence a step, attention kept inside documents. Reports real (non-padding)
            tokens per second and the padding fraction.
            """)
    @OptionGroup var common: CommonOptions
    @Option(help: "Documents.") var documents = 400
    @Option(help: "Context length (row / buffer capacity).") var context = 256
    @Option(help: "Rows (padded) or buffers (packed) per step.") var rows = 8
    @Option(help: "Model width.") var width = 128
    @Option(help: "Layers.") var layers = 4
    @Flag(help: "JSON lines per the bench contract.") var json = false

    func validate() throws {
        guard documents >= 1 && documents <= 100_000 else {
            throw ValidationError("--documents must be 1…100000, got \(documents)")
        }
        guard context >= 8 && context <= 8192 else { throw ValidationError("--context must be 8…8192, got \(context)") }
        guard rows >= 1 && rows <= 4096 else { throw ValidationError("--rows must be 1…4096, got \(rows)") }
        guard width >= 8 && width <= 2048 && width % 8 == 0 else {
            throw ValidationError("--width must be a multiple of 8 in 8…2048 (4 heads of even size), got \(width)")
        }
        guard layers >= 1 && layers <= 48 else { throw ValidationError("--layers must be 1…48, got \(layers)") }
    }

    func run() throws {
        try common.apply()
        var rng = RNG(seed: 5)
        let vocab = 256
        let docs: [[Int]] = (0..<documents).map { _ in
            let len = Int(Foundation.exp(3.6 + 0.9 * Double(rng.normal())).rounded()) + 2  // median ≈ 38, long tail
            return (0..<min(len, 4 * context)).map { _ in rng.int(below: vocab) }
        }
        let config = GPTConfig(vocabSize: vocab, contextLength: context, layers: layers, heads: 4, width: width)
        let padded = SequencePacker.padded(docs, length: context)
        let packed = SequencePacker.pack(docs, capacity: context)
        let real = padded.reduce(0) { $0 + $1.realTokens }
        if !json {
            print(
                "GPT \(layers)×\(width), context \(context), \(documents) documents = \(real) training tokens, "
                    + "\(Parallel.threads) threads"
            )
        }
        var results: [String: Double] = [:]
        for (name, seqs) in [("padded", padded), ("packed", packed)] {
            let model = GPT(config, seed: 1)
            let opt = Adam.adamW(model.namedParameters(), lr: 1e-3)
            // Steps: groups of `rows` sequences; packed groups are flattened into one sequence.
            var stepTimes: [Double] = []
            var total = 0
            var realTokens = 0
            let start = DispatchTime.now().uptimeNanoseconds
            var i = 0
            while i < seqs.count {
                let group = Array(seqs[i..<min(seqs.count, i + rows)])
                i += rows
                let t0 = DispatchTime.now().uptimeNanoseconds
                model.zeroGrad()
                let loss: Tensor
                if name == "padded" {
                    loss = model.loss(group.flatMap(\.tokens), targets: group.flatMap(\.targets), batch: group.count)
                } else {
                    var cu = [0]
                    var pos: [Int] = []
                    for s in group {
                        cu += s.cuSeqlens.dropFirst().map { $0 + cu.last! }
                        pos += s.positions
                    }
                    loss = model.loss(
                        group.flatMap(\.tokens), targets: group.flatMap(\.targets), batch: 1, positions: pos,
                        cuSeqlens: cu)
                }
                loss.backward()
                opt.step()
                stepTimes.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
                total += group.reduce(0) { $0 + $1.count }
                realTokens += group.reduce(0) { $0 + $1.realTokens }
            }
            let secs = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let tps = Double(realTokens) / secs
            let padFrac = 1 - Double(realTokens) / Double(total)
            results[name] = tps
            let rec = BenchRecord(
                bench: "packing", caseName: "gpt\(layers)x\(width),ctx=\(context)", impl: name,
                threads: Parallel.threads, timesMs: stepTimes,
                extra: [
                    "tokens_per_s": tps, "padding_fraction": padFrac, "steps": stepTimes.count,
                    "computed_tokens": total, "real_tokens": realTokens,
                ])
            if json {
                print(JSONLine.encode(rec.json))
            } else {
                print(
                    String(
                        format: "%@: %4d steps, %7d tokens computed, padding %5.1f%%, %8.0f real tokens/s",
                        name, stepTimes.count, total, padFrac * 100, tps))
            }
        }
        if let a = results["packed"], let b = results["padded"] {
            let padFrac = 1 - Double(real) / Double(padded.count * context)
            if json {
                print(
                    JSONLine.encode([
                        "bench": "packing", "case": "gain", "impl": "ratio", "threads": Parallel.threads,
                        "ratio": a / b, "padding_removed_ratio": 1 / (1 - padFrac),
                    ]))
            } else {
                print(
                    String(
                        format: "packed/padded real tokens/s: %.2fx (removing %.1f%% padding predicts %.2fx)",
                        a / b, padFrac * 100, 1 / (1 - padFrac)))
            }
        }
    }
}
