import ArgumentParser
import Compute
import Foundation
import Labs
import Models

/// `orrery bench decode`: prompt processing and generation tokens/s of a real GGUF model, with
/// llama.cpp (llama-cpp-python) side by side in the same run.
struct BenchDecode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Prompt processing and generation tokens/s of a GGUF model (llama.cpp side by side with --llama).",
        discussion: """
            The prompt is --prompt-tokens random token ids (seeded; BOS first), fed as one batch into a fresh
            cache: prompt tokens/s. Then --gen-tokens single-token steps, each picking the argmax of the
            logits: generation tokens/s. --reps repetitions after one warm-up, median reported. With
            --llama PYTHON (a Python with llama_cpp), llama.cpp runs the same file with the same token ids,
            thread count and context right after Orrery, weights read into memory (as Orrery's), float16
            KV cache, flash attention off; a ratio line follows.
            """)
    @OptionGroup var common: CommonOptions
    @Option(help: "A GGUF model file.") var model: String
    @Option(help: "Prompt length in tokens.") var promptTokens = 256
    @Option(help: "Generated tokens per repetition.") var genTokens = 128
    @Option(help: "Timed repetitions.") var reps = 5
    @Option(help: "A Python with llama_cpp to measure side by side.") var llama: String?
    @Flag(help: "JSON lines per the bench contract.") var json = false

    func validate() throws {
        guard promptTokens >= 1 && promptTokens <= 8192 else { throw ValidationError("--prompt-tokens must be 1…8192") }
        guard genTokens >= 1 && genTokens <= 8192 else { throw ValidationError("--gen-tokens must be 1…8192") }
        guard reps >= 1 && reps <= 100 else { throw ValidationError("--reps must be 1…100") }
    }

    func run() throws {
        try common.apply()
        let threads = Parallel.threads
        let m = try loadPretrained(model, template: "chatml", contextCap: promptTokens + genTokens + 1)
        let c = m.model.config
        guard promptTokens + genTokens <= c.context else {
            throw CLIError(
                "--prompt-tokens + --gen-tokens = \(promptTokens + genTokens) exceeds the context \(c.context)")
        }
        var rng = RNG(seed: 7)
        let first = m.tokenizer.bos ?? 0
        let low = min(300, c.vocab - 1)  // past the special and byte tokens
        let prompt = [first] + (1..<promptTokens).map { _ in rng.int(below: max(1, c.vocab - low)) + low }
        let name = URL(fileURLWithPath: model).lastPathComponent
        if !json {
            print(
                "\(name): \(c.architecture) \(c.layers)×\(c.width), \(m.typeCounts.map { "\($0.1) \($0.0)" }.joined(separator: ", ")) "
                    + "— \(threads) threads, kernels \(QuantizedMatrix.kernelName)")
        }
        var pp: [Double] = []
        var tg: [Double] = []
        var generated: [Int] = []
        for r in 0..<(reps + 1) {
            let dec = m.model.makeDecoder()
            let t0 = DispatchTime.now().uptimeNanoseconds
            var logits = dec.feed(prompt)
            let t1 = DispatchTime.now().uptimeNanoseconds
            var out: [Int] = []
            for _ in 0..<genTokens {
                let t = argmax(logits)
                out.append(t)
                logits = dec.feed([t])
            }
            let t2 = DispatchTime.now().uptimeNanoseconds
            if r > 0 {
                pp.append(Double(promptTokens) / (Double(t1 - t0) / 1e9))
                tg.append(Double(genTokens) / (Double(t2 - t1) / 1e9))
            }
            generated = out
        }
        let ppM = median(pp)
        let tgM = median(tg)
        let caseName = "\(name)-pp\(promptTokens)-tg\(genTokens)"
        if json {
            print(
                JSONLine.encode([
                    "bench": "decode", "case": caseName, "impl": "orrery", "threads": threads,
                    "prompt_tokens_per_s": ppM, "generation_tokens_per_s": tgM, "runs": reps,
                    "prompt_min": pp.min()!, "prompt_max": pp.max()!, "generation_min": tg.min()!,
                    "generation_max": tg.max()!, "kernels": QuantizedMatrix.kernelName,
                ]))
        } else {
            print(String(format: "orrery     prompt %7.1f tokens/s   generation %7.1f tokens/s", ppM, tgM))
        }
        guard let py = llama else { return }
        let out = try runPython(
            py, llamaScript(path: model, prompt: prompt, threads: threads, context: promptTokens + genTokens + 1),
            threads: threads)
        let lpp = out.filter { $0.0 == "pp" }.map(\.1)
        let ltg = out.filter { $0.0 == "tg" }.map(\.1)
        let ltok = out.filter { $0.0 == "tok" }.map { Int($0.1) }
        guard lpp.count == reps, ltg.count == reps else {
            throw CLIError("llama.cpp peer printed \(lpp.count) results")
        }
        let same = zip(ltok, generated).prefix { $0 == $1 }.count
        if json {
            print(
                JSONLine.encode([
                    "bench": "decode", "case": caseName, "impl": "llama.cpp", "threads": threads,
                    "prompt_tokens_per_s": median(lpp), "generation_tokens_per_s": median(ltg), "runs": reps,
                ]))
            print(
                JSONLine.encode([
                    "bench": "decode", "case": caseName, "impl": "ratio", "vs": "llama.cpp", "threads": threads,
                    "prompt_ratio": ppM / median(lpp), "generation_ratio": tgM / median(ltg),
                    "greedy_tokens_agreeing": same, "greedy_tokens": genTokens,
                ]))
        } else {
            print(
                String(
                    format: "llama.cpp  prompt %7.1f tokens/s   generation %7.1f tokens/s"
                        + "  → orrery/llama.cpp prompt %.2fx, generation %.2fx", median(lpp), median(ltg),
                    ppM / median(lpp), tgM / median(ltg)))
            print("greedy continuations agree for the first \(same) of \(genTokens) tokens")
        }
    }

    func argmax(_ t: Tensor) -> Int {
        let p = t.data
        var best = 0
        for i in 1..<t.count where p[i] > p[best] { best = i }
        return best
    }

    func median(_ a: [Double]) -> Double { a.sorted()[a.count / 2] }

    func llamaScript(path: String, prompt: [Int], threads: Int, context: Int) -> String {
        """
        import time, numpy as np, llama_cpp
        from llama_cpp import Llama
        llm = Llama(model_path=\(String(reflecting: path)), n_ctx=\(max(context, 512)), n_batch=\(max(prompt.count, 512)),
                    n_ubatch=\(max(prompt.count, 512)), n_threads=\(threads), n_threads_batch=\(threads),
                    logits_all=False, verbose=False, flash_attn=False, use_mmap=False)
        prompt = \(prompt)
        ctx = llm._ctx.ctx
        V = llm.n_vocab()
        # llm.scores holds only zeros without logits_all; read the last position's logits directly.
        def last():
            return int(np.argmax(np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1), shape=(V,))))
        toks = []
        for r in range(\(reps) + 1):
            llm.reset(); llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
            t0 = time.perf_counter(); llm.eval(prompt); t1 = time.perf_counter()
            tok = last(); out = [tok]
            t2 = time.perf_counter()
            for _ in range(\(genTokens)):
                llm.eval([tok]); tok = last(); out.append(tok)
            t3 = time.perf_counter()
            if r > 0:
                print("pp", len(prompt) / (t1 - t0)); print("tg", \(genTokens) / (t3 - t2))
            toks = out
        for t in toks[:\(genTokens)]: print("tok", t)
        """
    }
}
