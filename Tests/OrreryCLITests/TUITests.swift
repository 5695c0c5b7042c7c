// End-to-end: the real release binary in tmux (send-keys in, capture-pane out).
import Foundation
import TestSupport
import XCTest

final class TUITests: XCTestCase {
    var binary: String {
        var dir = Bundle.main.bundleURL
        for b in Bundle.allBundles where b.bundlePath.hasSuffix(".xctest") {
            dir = b.bundleURL.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("orrery").path
    }
    var tmp: String!

    override func setUpWithError() throws {
        try XCTSkipUnless(Tmux.available, "tmux is not installed (.ci/run installs it)")
        tmp = NSTemporaryDirectory() + "orrery-tui-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    }
    override func tearDown() { if let t = tmp { try? FileManager.default.removeItem(atPath: t) } }

    /// Runs orrery, then records the terminal settings once it exits.
    func launch(_ t: inout Tmux?, env: [String: String] = [:], width: Int = 140, height: Int = 45) -> Tmux {
        let m = Tmux(
            width: width, height: height,
            command: "cd \(tmp!); \(binary); echo EXIT=\\$?; stty -a > \(tmp!)/stty.txt; sleep 30", env: env)
        t = m
        return m
    }

    func sttyRestored(file: StaticString = #filePath, line: UInt = #line) {
        let end = Date().addingTimeInterval(10)
        var s = ""
        while Date() < end {
            s = (try? String(contentsOfFile: tmp + "/stty.txt", encoding: .utf8)) ?? ""
            if !s.isEmpty { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        let words = Set(s.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == ";" }).map(String.init))
        XCTAssertTrue(
            words.contains("echo") && words.contains("icanon"), "terminal restored (stty: \(s.prefix(300)))",
            file: file, line: line)
    }

    func testHomeLanguageLabHeatmapKeysExportAndQuit() throws {
        var t: Tmux?
        let m = launch(&t)
        defer { m.kill() }
        XCTAssertTrue(m.wait(for: "Language lab"), m.capture())
        XCTAssertTrue(m.capture().contains("Chat") && m.capture().contains("Attention lesson"))
        m.keys("Enter")
        XCTAssertTrue(m.wait(for: "configure"))
        m.keys("Enter")
        XCTAssertTrue(m.wait(for: "attention layer 0 head 0"), m.capture())
        func loss() -> String? {
            m.capture().split(separator: "\n").last { $0.contains("step ") }.flatMap { l in
                l.range(of: "loss ").map { String(l[$0.upperBound...].prefix(6)) }
            }
        }
        let a = loss()
        Thread.sleep(forTimeInterval: 2)
        let b = loss()
        XCTAssertNotNil(a)
        XCTAssertNotEqual(a, b, "loss changes between captures")
        m.keys("l")
        XCTAssertTrue(m.wait(for: "attention layer 1 head 0", timeout: 5))
        m.keys("h")
        XCTAssertTrue(m.wait(for: "attention layer 1 head 1", timeout: 5))
        m.keys("e")
        XCTAssertTrue(m.wait(for: "wrote ", timeout: 5), m.capture())
        let pngs = try FileManager.default.contentsOfDirectory(atPath: tmp).filter { $0.hasSuffix(".png") }
        XCTAssertEqual(pngs.count, 1)
        let data = try Data(contentsOf: URL(fileURLWithPath: tmp + "/" + pngs[0]))
        XCTAssertEqual(Array(data.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        func be32(_ o: Int) -> Int { data[o..<(o + 4)].reduce(0) { $0 << 8 | Int($1) } }
        XCTAssertEqual([be32(16), be32(20)], [640, 360], "the loss plot PNG decodes to its size")
        m.keys("?")
        XCTAssertTrue(m.wait(for: "pause / resume", timeout: 5))
        m.keys("x")
        m.keys("q")
        XCTAssertTrue(m.wait(for: "not saved", timeout: 5), m.capture())
        m.keys("n")
        XCTAssertTrue(m.wait(for: "EXIT=0", timeout: 10), m.capture())
        sttyRestored()
    }

    func testLessonAnimatesAndChatAnswers() {
        var t: Tmux?
        let m = launch(&t)
        defer { m.kill() }
        XCTAssertTrue(m.wait(for: "Attention lesson"))
        m.keys("Down", "Down", "Down", "Enter")
        XCTAssertTrue(m.wait(for: "online softmax"))
        let s1 = m.capture().range(of: "step \\d+ of", options: .regularExpression).map { m.capture()[$0] }
        Thread.sleep(forTimeInterval: 1.2)
        let s2 = m.capture().range(of: "step \\d+ of", options: .regularExpression).map { m.capture()[$0] }
        XCTAssertNotEqual(s1, s2, "the lesson animates")
        m.keys("Escape", "Up", "Up", "Enter")
        XCTAssertTrue(m.wait(for: "gpt 4×128"), m.capture())
        m.literal("what is 3 plus 4?")
        m.keys("Enter")
        XCTAssertTrue(m.wait(for: "bot: 3 plus 4 is 7."), m.capture())
        m.keys("Escape", "q")
        XCTAssertTrue(m.wait(for: "EXIT=0", timeout: 10))
        sttyRestored()
    }

    func testEscActsAtOnceAndLettersAreTextInChat() {
        var t: Tmux?
        let m = launch(&t, width: 80, height: 24)
        defer { m.kill() }
        XCTAssertTrue(m.wait(for: "Language lab"))
        m.keys("Enter")
        XCTAssertTrue(m.wait(for: "configure"))
        let start = Date()
        m.keys("Escape")
        XCTAssertTrue(m.wait(for: "Attention lesson", timeout: 5))
        XCTAssertLessThan(Date().timeIntervalSince(start), 0.6, "Esc is not held for an escape sequence (25 ms delay)")
        m.keys("Down", "Enter")
        XCTAssertTrue(m.wait(for: "you>"))
        m.literal("qué? é😀")
        XCTAssertTrue(m.wait(for: "you> qué? é😀", timeout: 5), "UTF-8 typed whole; q and ? are text: \(m.capture())")
        m.keys("Escape", "q")
        XCTAssertTrue(m.wait(for: "EXIT=0", timeout: 10))
    }

    func testResizingRepeatedlyKeepsItRunning() {
        var t: Tmux?
        let m = launch(&t)
        defer { m.kill() }
        XCTAssertTrue(m.wait(for: "Language lab"))
        for _ in 0..<3 {
            m.resize(20, 5)
            XCTAssertTrue(m.wait(for: "enlarge", timeout: 5), m.capture())
            m.resize(100, 30)
            XCTAssertTrue(m.wait(for: "Attention lesson", timeout: 5), m.capture())
        }
        m.resize(70, 22)
        XCTAssertTrue(m.wait(for: "Language lab", timeout: 5))
        XCTAssertFalse(m.capture().contains("EXIT="))
        m.keys("q")
        XCTAssertTrue(m.wait(for: "EXIT=0", timeout: 10))
    }

    func testCtrlCSigtermAndACrashRestoreTheTerminal() throws {
        do {
            var t: Tmux?
            let m = launch(&t)
            defer { m.kill() }
            XCTAssertTrue(m.wait(for: "Language lab"))
            m.keys("C-c")
            XCTAssertTrue(m.wait(for: "EXIT=130", timeout: 10), m.capture())
            sttyRestored()
        }
        try FileManager.default.removeItem(atPath: tmp + "/stty.txt")
        do {
            var t: Tmux?
            let m = launch(&t)
            defer { m.kill() }
            XCTAssertTrue(m.wait(for: "Language lab"))
            var child: Int32 = 0
            if let f = popen("pgrep -P \(m.panePID) -x orrery", "r") {
                var line = [CChar](repeating: 0, count: 64)
                if fgets(&line, 64, f) != nil {
                    child = Int32(String(cString: line).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
                }
                pclose(f)
            }
            XCTAssertGreaterThan(child, 0)
            kill(child, SIGTERM)
            XCTAssertTrue(m.wait(for: "EXIT=143", timeout: 10), m.capture())
            sttyRestored()
        }
        try FileManager.default.removeItem(atPath: tmp + "/stty.txt")
        do {  // a trap on the session thread (hidden debug switch)
            var t: Tmux?
            let m = launch(&t, env: ["ORRERY_DEBUG_CRASH_AFTER_STEPS": "2"])
            defer { m.kill() }
            XCTAssertTrue(m.wait(for: "Language lab"))
            m.keys("Enter")
            XCTAssertTrue(m.wait(for: "configure"))
            m.keys("Enter")
            XCTAssertTrue(m.wait(for: "EXIT=1", timeout: 20), m.capture())  // 132 (SIGILL) or 133 (SIGTRAP)
            sttyRestored()
        }
    }

    func testDumbTerminalNoColorAndCLocale() {
        do {
            var t: Tmux?
            let m = launch(&t, env: ["TERM": "dumb"])
            defer { m.kill() }
            XCTAssertTrue(m.wait(for: "EXIT=1"), m.capture())
            XCTAssertTrue(
                m.capture().contains("cannot start the terminal UI") && m.capture().contains("orrery train"),
                m.capture())
        }
        do {
            var t: Tmux?
            let m = launch(&t, env: ["NO_COLOR": "1"])
            defer { m.kill() }
            XCTAssertTrue(m.wait(for: "Language lab"))
            let esc = m.capture(escapes: true)
            XCTAssertFalse(esc.contains("38;5;") || esc.contains("48;5;"), "no 256-colour codes with NO_COLOR")
            m.keys("q")
            XCTAssertTrue(m.wait(for: "EXIT=0", timeout: 10))
        }
        do {
            var t: Tmux?
            let m = launch(&t, env: ["LANG": "C", "LC_ALL": "C"])
            defer { m.kill() }
            XCTAssertTrue(m.wait(for: "Language lab"))
            XCTAssertTrue(
                m.capture().hasPrefix("+- Orrery - watch neural networks learn -"),
                "ASCII without a UTF-8 locale: \(m.capture().prefix(200))")
            XCTAssertTrue(m.capture().contains("> Language lab"))
            m.keys("q")
            XCTAssertTrue(m.wait(for: "EXIT=0", timeout: 10))
        }
    }

    /// The image labs at 80 × 24: the GAN lab trains on the ring (critic field, W1 plot), exports its
    /// view; the shipped glyph GAN opens with samples; the VQ lab's shipped prior shows samples.
    func testImageLabsAt80x24() throws {
        var t: Tmux?
        let m = launch(&t, width: 80, height: 24)
        defer { m.kill() }
        XCTAssertTrue(m.wait(for: "GAN lab"))
        m.keys("Down", "Down", "Down", "Down", "Down", "Enter")
        XCTAssertTrue(m.wait(for: "GAN lab"), m.capture())
        XCTAssertTrue(m.wait(for: "objective"), m.capture())
        m.keys("Enter")
        XCTAssertTrue(m.wait(for: "critic D(x)", timeout: 20), m.capture())
        XCTAssertTrue(m.wait(for: "W1", timeout: 20), m.capture())
        m.keys("e")
        XCTAssertTrue(m.wait(for: "wrote", timeout: 10), m.capture())
        let files = try FileManager.default.contentsOfDirectory(atPath: tmp)
        XCTAssertTrue(files.contains { $0.hasPrefix("orrery-wgan-gp-ring8") && $0.hasSuffix("-w1.png") }, "\(files)")
        // A new run: the shipped glyph GAN (asks first: the ring run is unsaved).
        m.keys("n")
        XCTAssertTrue(m.wait(for: "objective"), m.capture())
        m.keys("p")
        XCTAssertTrue(m.wait(for: "discard", timeout: 5), m.capture())
        m.keys("y")
        XCTAssertTrue(m.wait(for: "samples from fixed noise", timeout: 20), m.capture())
        XCTAssertTrue(m.wait(for: "finished", timeout: 20), m.capture())
        m.keys("Escape")
        XCTAssertTrue(m.wait(for: "VQ lab"), m.capture())
        m.keys("Down", "Enter")
        XCTAssertTrue(m.wait(for: "codebook", timeout: 5), m.capture())
        m.keys("p")
        XCTAssertTrue(m.wait(for: "codes from the prior", timeout: 20), m.capture())
        // The diffusion lab at 80 × 24: a step, then a typed prompt branches.
        m.keys("Escape")
        XCTAssertTrue(m.wait(for: "Diffusion lab"), m.capture())
        m.keys("Down", "Enter")
        XCTAssertTrue(m.wait(for: "step 0/50", timeout: 20), m.capture())
        m.keys("Right", "p", "C-u")
        m.literal("a green star")
        m.keys("Enter")
        XCTAssertTrue(m.wait(for: "branch 2/2", timeout: 10), m.capture())
        m.keys("Escape", "q")
        // The ring run was discarded; nothing unsaved remains except none: quits at once or asks.
        if m.wait(for: "unsaved", timeout: 3) { m.keys("y") }
        XCTAssertTrue(m.wait(for: "EXIT=0", timeout: 10), m.capture())
    }

    /// The diffusion lab steps forwards and back through a denoising run of the shipped text-to-shapes
    /// model, branches once with another sampler, and the two branches' final images differ; then a new
    /// prompt and more guidance branch again, a word's attention map shows, and m switches models.
    func testDiffusionStepThroughAndBranch() throws {
        var t: Tmux?
        let m = launch(&t, width: 100, height: 30)
        defer { m.kill() }
        XCTAssertTrue(m.wait(for: "Diffusion lab"))
        m.keys("Down", "Down", "Down", "Down", "Down", "Down", "Down", "Enter")
        XCTAssertTrue(m.wait(for: "step 0/50", timeout: 20), m.capture())
        XCTAssertTrue(m.wait(for: "\"a red circle\", guidance 3.0"), m.capture())
        for _ in 0..<5 { m.keys("Right") }
        XCTAssertTrue(m.wait(for: "step 5/50", timeout: 20), m.capture())
        m.keys("Left", "Left")
        XCTAssertTrue(m.wait(for: "step 3/50", timeout: 10), m.capture())
        m.keys("End")
        XCTAssertTrue(m.wait(for: "finished", timeout: 30), m.capture())
        func images() -> String { m.capture().split(separator: "\n").prefix(18).joined(separator: "\n") }
        let first = images()
        m.keys("Home", "Right", "Right", "Right", "b")
        XCTAssertTrue(m.wait(for: "branch 2/2", timeout: 10), m.capture())
        m.keys("End")
        XCTAssertTrue(m.wait(for: "finished", timeout: 30), m.capture())
        XCTAssertNotEqual(images(), first, "the branches end in different images")
        m.keys("Tab")
        XCTAssertTrue(m.wait(for: "branch 1/2", timeout: 10), m.capture())
        m.keys("e")
        XCTAssertTrue(m.wait(for: "filmstrip", timeout: 10), m.capture())
        // Another prompt at step 2 (typed keys are text while editing: "b" does not branch), then more guidance.
        m.keys("Home", "Right", "Right", "p", "C-u")
        m.literal("a blue square")
        m.keys("Enter")
        XCTAssertTrue(m.wait(for: "branch 3/3", timeout: 10), m.capture())
        XCTAssertTrue(m.wait(for: "\"a blue square\", guidance 3.0"), m.capture())
        m.keys("G")
        XCTAssertTrue(m.wait(for: "guidance 4.0", timeout: 10), m.capture())
        m.keys("w", "w")
        XCTAssertTrue(m.wait(for: "where \"blue\" looks", timeout: 10), m.capture())
        m.keys("p", "C-u")
        m.literal("a pink square")
        m.keys("Enter")
        XCTAssertTrue(m.wait(for: "\"pink\"", timeout: 10), m.capture())
        m.keys("m")
        XCTAssertTrue(m.wait(for: "glyphs, pixels", timeout: 20), m.capture())
        m.keys("Escape", "q")
        XCTAssertTrue(m.wait(for: "EXIT=0", timeout: 10), m.capture())
    }

    /// The sequence lab at 80 × 24: the shipped detectors play the held-out stream (truth, OadTR and
    /// GRU bands, attention), pause and step a frame, export the view; a new run trains both; quitting
    /// asks about the unsaved run.
    func testSequenceLabAt80x24() throws {
        var t: Tmux?
        let m = launch(&t, width: 80, height: 24)
        defer { m.kill() }
        XCTAssertTrue(m.wait(for: "Sequence lab"))
        for _ in 0..<8 { m.keys("Down") }
        m.keys("Enter")
        XCTAssertTrue(m.wait(for: "held-out stream", timeout: 20), m.capture())
        XCTAssertTrue(m.wait(for: "truth"), m.capture())
        XCTAssertTrue(m.wait(for: "attn"), m.capture())
        XCTAssertTrue(m.wait(for: "OadTR"), m.capture())
        XCTAssertTrue(m.wait(for: "GRU"), m.capture())
        XCTAssertTrue(m.wait(for: "mAP 0.", timeout: 30), m.capture())
        m.keys("p")
        XCTAssertTrue(m.wait(for: "paused", timeout: 5), m.capture())
        m.keys("e")
        XCTAssertTrue(m.wait(for: "wrote", timeout: 10), m.capture())
        let files = try FileManager.default.contentsOfDirectory(atPath: tmp)
        XCTAssertTrue(files.contains { $0.hasPrefix("orrery-oad-") && $0.hasSuffix(".png") }, "\(files)")
        m.keys("n")
        XCTAssertTrue(m.wait(for: "detectors", timeout: 5), m.capture())
        m.keys("Enter")
        XCTAssertTrue(m.wait(for: "training loss", timeout: 20), m.capture())
        XCTAssertTrue(m.wait(for: "running", timeout: 20), m.capture())
        m.keys("q")
        XCTAssertTrue(m.wait(for: "not saved", timeout: 5), m.capture())
        m.keys("n")
        XCTAssertTrue(m.wait(for: "EXIT=0", timeout: 10), m.capture())
    }

    /// The DeepSeek lab at 80 × 24: the MoE views fill in, export writes PNGs, and a new experiment
    /// (FP8, then MTP) replaces the run after asking.
    func testDeepSeekLabAt80x24() throws {
        var t: Tmux?
        let m = launch(&t, width: 80, height: 24)
        defer { m.kill() }
        XCTAssertTrue(m.wait(for: "Sequence lab"))
        for _ in 0..<9 { m.keys("Down") }
        m.keys("Enter")
        XCTAssertTrue(m.wait(for: "balancing (MoE)", timeout: 5), m.capture())
        m.keys("Down", "Down", "Down", "Left")  // 200 steps
        m.keys("Enter")
        XCTAssertTrue(m.wait(for: "expert load L0", timeout: 30), m.capture())
        XCTAssertTrue(m.wait(for: "bias b, L0 (aux-free)", timeout: 10), m.capture())
        XCTAssertTrue(m.wait(for: "max/mean", timeout: 10), m.capture())
        m.keys("l")
        XCTAssertTrue(m.wait(for: "expert load L1", timeout: 5), m.capture())
        m.keys("e")
        XCTAssertTrue(m.wait(for: "wrote", timeout: 10), m.capture())
        let files = try FileManager.default.contentsOfDirectory(atPath: tmp)
        XCTAssertTrue(files.contains { $0.hasPrefix("orrery-deepseek-moe") && $0.hasSuffix(".png") }, "\(files)")
        m.keys("n")
        XCTAssertTrue(m.wait(for: "experiment", timeout: 5), m.capture())
        m.keys("Right", "Enter")
        XCTAssertTrue(m.wait(for: "discard", timeout: 5), m.capture())
        m.keys("y")
        XCTAssertTrue(m.wait(for: "what E4M3 loses", timeout: 30), m.capture())
        XCTAssertTrue(m.wait(for: "1×128", timeout: 10), m.capture())
        m.keys("n", "Right", "Enter", "y")
        XCTAssertTrue(m.wait(for: "KV cache and decode", timeout: 30), m.capture())
        XCTAssertTrue(m.wait(for: "MLA", timeout: 10), m.capture())
        XCTAssertTrue(m.wait(for: "speculative = greedy", timeout: 30), m.capture())
        XCTAssertTrue(m.wait(for: "MTP depth 1", timeout: 30), m.capture())
        m.keys("q")
        XCTAssertTrue(m.wait(for: "not saved", timeout: 5), m.capture())
        m.keys("n")
        XCTAssertTrue(m.wait(for: "EXIT=0", timeout: 10), m.capture())
    }
}
