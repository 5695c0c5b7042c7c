import ArgumentParser
import Compute
import Foundation
import Labs
import Models
import Playground

/// Options of `orrery sample gan|vqgan`.
struct ImageSampleOptions: ParsableArguments {
    @OptionGroup var common: CommonOptions
    @Option(help: "Session directory (default: the model shipped in the binary).") var checkpoint: String?
    @Option(help: "Write the sample grid as a PNG.") var png: String?
    @Option(help: "Grid as COLUMNSxROWS.") var grid = "8x8"
    @Option(help: "Random seed (different seeds, different samples).") var seed: UInt64 = 1
    @Flag(help: "Print the grid on the terminal (colour half-blocks, or ASCII without colour or UTF-8).")
    var ascii = false
    @Flag(help: "Print one JSON object (with --png or --ascii as well, if given).") var json = false

    func parsedGrid() throws -> (Int, Int) {
        let p = grid.lowercased().split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
        guard p.count == 2, let c = p[0], let r = p[1], (1...64).contains(c), (1...64).contains(r) else {
            throw ValidationError("--grid takes COLUMNSxROWS with 1…64 each, e.g. 8x8; got \"\(grid)\"")
        }
        return (c, r)
    }

    func validate() throws { _ = try parsedGrid() }

    /// Writes and prints a sampled grid; `make(n)` draws n images.
    func emit(_ what: String, _ make: (Int) throws -> SampleGrid) throws {
        try common.apply()
        let (cols, rows) = try parsedGrid()
        let start = Date()
        let grid = try make(cols * rows)
        let secs = Date().timeIntervalSince(start)
        if let p = png {
            let scale = grid.side <= 16 ? 4 : 3
            let img = ImageExport.gridPNG(grid, columns: cols, scale: scale, title: "\(what), seed \(seed)")
            do { try PNGExport.write(p, width: img.0, height: img.1, rgb: img.2) } catch { throw CLIError("\(error)") }
        }
        if ascii || (png == nil && !json) {
            let colour = TerminalArt.colourAllowed
            let perRow = max(1, min(cols, (TerminalArt.width + 1) / (grid.side + 1)))
            for line in ImageExport.text(grid, columns: perRow, colour: colour) { print(line) }
        }
        if json {
            var o: [String: Any] = [
                "type": "done", "model": what, "images": grid.count, "seconds": secs,
                "images_per_s": Double(grid.count) / max(secs, 1e-9), "seed": Int(seed),
                "side": grid.side, "channels": grid.channels,
            ]
            if let p = png { o["png"] = p }
            print(JSONLine.encode(o))
        } else if let p = png {
            print(String(format: "%d images in %.2f s written to %@", grid.count, secs, p))
        }
        try StandardOutput.check()
    }
}

enum TerminalArt {
    /// Colour only on a terminal, without NO_COLOR, with a UTF-8 locale (the half-block needs it).
    static var colourAllowed: Bool {
        let env = ProcessInfo.processInfo.environment
        guard isatty(1) == 1, (env["NO_COLOR"] ?? "").isEmpty, env["TERM"] != "dumb" else { return false }
        let locale = env["LC_ALL"] ?? env["LC_CTYPE"] ?? env["LANG"] ?? ""
        return locale.uppercased().contains("UTF-8") || locale.uppercased().contains("UTF8")
    }

    static var width: Int {
        var ws = winsize()
        if isatty(1) == 1, ioctl(1, UInt(TIOCGWINSZ), &ws) == 0, ws.ws_col > 0 { return Int(ws.ws_col) }
        return Int(ProcessInfo.processInfo.environment["COLUMNS"] ?? "") ?? 80
    }
}

struct SampleGAN: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gan", abstract: "Images from a trained GAN generator (default: the shipped glyph GAN).")
    @OptionGroup var options: ImageSampleOptions

    func run() throws {
        let lab: GANLab
        do { lab = try ShippedImageModels.gan(checkpoint: options.checkpoint) } catch { throw CLIError("\(error)") }
        let c = lab.session.config
        guard c.data.isImage else {
            throw CLIError(
                "the GAN in \(options.checkpoint ?? "?") generates 2-D points (\(c.data.rawValue)), not images; "
                    + "its view is 'orrery train \(c.objective.rawValue) --data \(c.data.rawValue) --png FILE'")
        }
        try options.emit("\(c.objective.rawValue) on \(c.data.rawValue)") { n in
            var rng = RNG(seed: options.seed)
            return SampleGrid(tensor: lab.session.sample(Tensor.randn([n, c.latent], rng: &rng)))
        }
    }
}

struct SampleVQGAN: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vqgan",
        abstract: "Images from a VQ prior: codes sampled by its GPT, decoded (default: the shipped shapes model).")
    @OptionGroup var options: ImageSampleOptions
    @Option(help: "Sampling temperature.") var temperature: Float = 1
    @Option(help: "Keep the K most likely codes at each step (0: all).") var topK = 0

    func validate() throws {
        guard temperature >= 0 && temperature <= 10 else { throw ValidationError("--temperature must be 0…10") }
        guard topK >= 0 && topK <= 1_000_000 else { throw ValidationError("--top-k must be ≥ 0") }
    }

    func run() throws {
        let s: VQPriorSession
        do { s = try ShippedImageModels.vqPrior(checkpoint: options.checkpoint) } catch { throw CLIError("\(error)") }
        try options.emit("\(s.config.vq.mode.rawValue) prior on \(s.config.vq.data.rawValue)") { n in
            SampleGrid(tensor: s.sample(n, temperature: temperature, topK: topK, seed: options.seed))
        }
    }
}
