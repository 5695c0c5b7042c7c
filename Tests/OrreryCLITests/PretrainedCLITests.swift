// Real-checkpoint commands and the chat lab on a GGUF model, end to end on the release binary, with a
// tiny llama-architecture model the test writes itself (CI needs no download).
import Compute
import Formats
import Foundation
import TestSupport
import XCTest

enum TinyChatModel {
    /// GPT-2's byte symbols, then the ChatML tokens: a byte-level vocabulary every text encodes in.
    static var vocabulary: [String] {
        var out: [String] = []
        var n = 0
        for b in 0..<256 {
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            out.append(String(Character(Unicode.Scalar(printable ? UInt32(b) : UInt32(256 + n))!)))
            if !printable { n += 1 }
        }
        return out + ["<|im_start|>", "<|im_end|>"]
    }

    /// A 2-layer llama (width 64, 4 heads, 2 KV heads) with random float32 weights.
    static func write(_ path: String) throws {
        var w = GGUFWriter()
        var rng = RNG(seed: 3)
        let (D, H, KV, F, L) = (64, 4, 2, 128, 2)
        let vocab = vocabulary
        w.set("general.architecture", string: "llama")
        w.set("general.name", string: "tiny-test-llama")
        for (k, v) in [
            ("block_count", L), ("context_length", 256), ("embedding_length", D), ("feed_forward_length", F),
        ] {
            w.set("llama.\(k)", uint32: v)
        }
        w.set("llama.attention.head_count", uint32: H)
        w.set("llama.attention.head_count_kv", uint32: KV)
        w.set("llama.attention.layer_norm_rms_epsilon", float32: 1e-5)
        w.set("tokenizer.ggml.model", string: "gpt2")
        w.set("tokenizer.ggml.tokens", strings: vocab)
        w.set("tokenizer.ggml.token_type", int32s: [Int](repeating: 1, count: 256) + [3, 3])
        w.set("tokenizer.ggml.merges", strings: [])
        w.set("tokenizer.ggml.eos_token_id", uint32: 257)
        w.set("tokenizer.chat_template", string: "{% for m in messages %}<|im_start|>{{ m['role'] }}…{% endfor %}")
        func mat(_ n: String, _ rows: Int, _ cols: Int) {
            w.add(n, Tensor.randn([rows, cols], std: 0.5 / Float(cols).squareRoot(), rng: &rng))
        }
        mat("token_embd.weight", vocab.count, D)
        for i in 0..<L {
            w.add("blk.\(i).attn_norm.weight", Tensor.ones([D]))
            w.add("blk.\(i).ffn_norm.weight", Tensor.ones([D]))
            mat("blk.\(i).attn_q.weight", D, D)
            mat("blk.\(i).attn_k.weight", D / H * KV, D)
            mat("blk.\(i).attn_v.weight", D / H * KV, D)
            mat("blk.\(i).attn_output.weight", D, D)
            mat("blk.\(i).ffn_gate.weight", F, D)
            mat("blk.\(i).ffn_up.weight", F, D)
            mat("blk.\(i).ffn_down.weight", D, F)
        }
        w.add("output_norm.weight", Tensor.ones([D]))
        try w.write(to: path)
    }
}

final class PretrainedCLITests: XCTestCase {
    func testInspectGenerateAndChatOnAGGUFModel() throws {
        let dir = try temporaryDirectory("gguf-cli")
        let model = dir + "/tiny.gguf"
        try TinyChatModel.write(model)
        let inspect = try run(["inspect", model, "--json"])
        XCTAssertEqual(inspect.code, 0, inspect.err)
        let info = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(inspect.out.utf8)) as? [String: Any])
        let m = try XCTUnwrap(info["model"] as? [String: Any])
        XCTAssertEqual(m["layers"] as? Int, 2)
        XCTAssertEqual(m["kv_heads"] as? Int, 2)
        XCTAssertEqual(m["template"] as? String, "chatml")
        XCTAssertEqual((info["tensors"] as? [Any])?.count, 2 + 2 * 9)
        // Greedy generation is deterministic; --top-logits reports each step's largest logits.
        let a = try run([
            "generate", "--model", model, "--prompt", "hello", "--max-tokens", "8", "--json", "--top-logits", "3",
        ])
        let b = try run(["generate", "--model", model, "--prompt", "hello", "--max-tokens", "8", "--json"])
        XCTAssertEqual(a.code, 0, a.err)
        let lastA = a.out.split(separator: "\n").last.map(String.init) ?? ""
        let lastB = b.out.split(separator: "\n").last.map(String.init) ?? ""
        let ids = { (s: String) in
            (try? JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any])?["ids"] as? [Int]
        }
        XCTAssertNotNil(ids(lastA))
        XCTAssertEqual(ids(lastA), ids(lastB))
        let firstLine = a.out.split(separator: "\n").first.map(String.init) ?? "{}"
        let first = (try? JSONSerialization.jsonObject(with: Data(firstLine.utf8))) as? [String: Any]
        XCTAssertEqual((first?["top_logits"] as? [Any])?.count, 3)
        let chat = try run(["chat", "--model", model, "--max-tokens", "5"], stdin: "hi\nhow are you?\n")
        XCTAssertEqual(chat.code, 0, chat.err)
        XCTAssertEqual(chat.out.split(separator: "\n", omittingEmptySubsequences: false).count, 3, chat.out)
        // A broken file is one line naming the problem.
        XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/bad.gguf", contents: Data("GGUF\u{3}\0\0\0".utf8)))
        let bad = try run(["generate", "--model", dir + "/bad.gguf", "--prompt", "x"])
        XCTAssertEqual(bad.code, 1)
        XCTAssertTrue(bad.err.contains("bad.gguf") && bad.err.contains("GGUF header"), bad.err)
    }

    /// The chat lab on a GGUF model: an answer streams with the attention map and the next-token
    /// strip; the model picker lists the GGUF file and the shipped model, and switches.
    func testChatLabOnAGGUFModelWithPicker() throws {
        try XCTSkipUnless(Tmux.available, "tmux is not installed (.ci/run installs it)")
        let dir = try temporaryDirectory("gguf-tui")
        let model = dir + "/tiny.gguf"
        try TinyChatModel.write(model)
        let m = Tmux(
            width: 140, height: 45,
            command: "cd \(dir); \(orreryBinary.path) --chat-model \(model); echo EXIT=\\$?; sleep 30",
            env: ["XDG_CACHE_HOME": dir + "/cache", "LANG": "C.UTF-8"])
        defer { m.kill() }
        XCTAssertTrue(m.wait(for: "tiny-test-llama"), m.capture())
        m.literal("what is up?")
        m.keys("Enter")
        XCTAssertTrue(m.wait(for: "bot:"), m.capture())
        XCTAssertTrue(m.wait(for: "next token: the 5 most likely"), m.capture())
        XCTAssertTrue(m.wait(for: "%"), m.capture())
        XCTAssertTrue(m.capture().contains("attention of the generated token · L0 H0"), m.capture())
        m.keys("C-l")
        m.literal("and again?")
        m.keys("Enter")
        XCTAssertTrue(m.wait(for: "logit lens: what each layer would say"), m.capture())
        XCTAssertTrue(m.wait(for: "layer  1"), m.capture())
        m.keys("Tab")
        m.keys("Up")
        XCTAssertTrue(m.wait(for: "L1 H0"), "layer key on a real model: \(m.capture())")
        m.keys("m")
        XCTAssertTrue(m.wait(for: "Chat with which model?"), m.capture())
        XCTAssertTrue(m.capture().contains("tiny.gguf") && m.capture().contains("the shipped tiny chat model"))
        m.keys("Down")
        m.keys("Enter")
        XCTAssertTrue(m.wait(for: "gpt 4×128"), "switched to the shipped model: \(m.capture())")
        m.keys("Tab")
        m.literal("what is 3 plus 4?")
        m.keys("Enter")
        XCTAssertTrue(m.wait(for: "bot: 3 plus 4 is 7."), m.capture())
    }
}
