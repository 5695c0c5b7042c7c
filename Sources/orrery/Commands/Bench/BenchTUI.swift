import ArgumentParser
import Compute
import Foundation
import Labs
import Playground

struct BenchTUI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tui",
        abstract:
            "Frame time of every screen at 200×60 from recorded snapshots, and training tokens/s under the UI "
            + "vs headless."
    )
    @OptionGroup var common: CommonOptions
    @Option(help: "Frames per screen.") var frames = 100
    @Option(help: "Training steps for the under-the-UI comparison.") var steps = 60
    @Flag(help: "JSON lines per the bench contract.") var json = false

    func validate() throws {
        guard frames >= 1 && frames <= 10_000 else { throw ValidationError("--frames must be 1…10000, got \(frames)") }
        guard steps >= 5 && steps <= 100_000 else { throw ValidationError("--steps must be 5…100000, got \(steps)") }
    }

    func run() throws {
        try common.apply()
        let threads = Parallel.threads
        for r in TUIBenchmark.frameTimes(frames: frames, chatModel: .defaultChat) {
            let rec = BenchRecord(
                bench: "tui", caseName: "200x60,\(r.screen)", impl: "orrery", threads: threads, timesMs: r.timesMs,
                extra: [
                    "frame_ms": BenchRecord(
                        bench: "", caseName: "", impl: "", threads: 0, timesMs: r.timesMs, extra: [:]
                    ).median
                ])
            if json {
                print(JSONLine.encode(rec.json))
            } else {
                print(
                    String(
                        format: "frame 200×60 %-10@ median %.3f ms (max %.3f)", r.screen, rec.median,
                        r.timesMs.max() ?? 0))
            }
        }
        var c = LMConfig()
        c.steps = steps
        c.evalEvery = 0
        c.checkpointEvery = 0
        let (headless, ui) = try TUIBenchmark.trainingUnderUI(config: c)
        if json {
            print(
                JSONLine.encode([
                    "bench": "tui", "case": "train gpt 4x128 tokens/s", "impl": "headless", "threads": threads,
                    "tokens_per_s": headless,
                ]))
            print(
                JSONLine.encode([
                    "bench": "tui", "case": "train gpt 4x128 tokens/s", "impl": "under-tui", "threads": threads,
                    "tokens_per_s": ui,
                ]))
            print(
                JSONLine.encode([
                    "bench": "tui", "case": "train gpt 4x128 tokens/s", "impl": "ratio", "threads": threads,
                    "ratio": ui / headless,
                ]))
        } else {
            print(
                String(
                    format: "training gpt 4×128: headless %.0f tok/s, under the UI %.0f tok/s (%.1f%%)", headless, ui,
                    (ui / headless - 1) * 100))
        }
    }
}
