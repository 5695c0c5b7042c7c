import ArgumentParser
import Compute
import Formats
import Foundation
import Labs
import Playground
import TerminalUI

// The `orrery` command: argument parsing and wiring only; the work lives in the libraries.

@main
struct Orrery: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "orrery",
        abstract: "Watch neural networks learn, in the terminal, on Orrery's own CPU compute core.",
        discussion:
            "With no subcommand, opens the terminal UI (on a terminal); every feature also has a headless subcommand.",
        version: OrreryVersion.string,
        subcommands: [
            Train.self, Scaling.self, DeepSeekLabCommand.self, Sample.self, Generate.self, Denoise.self, Chat.self,
            Models.self, Inspect.self,
            Eval.self,
            Export.self,
            Bench.self,
            Version.self,
        ],
        defaultSubcommand: nil)

    @OptionGroup var common: CommonOptions

    /// Runs the command line; every error becomes one `error: <what> (<where>)` line on stderr and a
    /// non-zero exit.
    static func main() {
        setvbuf(standardOut, nil, _IOLBF, 0)
        signal(SIGXFSZ, SIG_IGN)  // a write past a file-size limit fails (EFBIG) and is reported, not fatal
        signal(SIGPIPE, SIG_IGN)  // a closed pipe is seen as EPIPE, so a training run can save before it ends
        let args = Arguments.normalized(Array(CommandLine.arguments.dropFirst()))
        var command: ParsableCommand
        do { command = try parseAsRoot(args) } catch {
            if exitCode(for: error) == .success { printHelp(error) }  // --help, --version
            let what = message(for: error).split(whereSeparator: \.isNewline).map(String.init)
                .filter { !$0.isEmpty && !$0.hasPrefix("Usage:") && !$0.hasPrefix("  See ") }.joined(separator: "; ")
            let path = Arguments.commandPath(args)
            fail("\(what) (see '\(path) --help')", code: exitCode(for: error).rawValue)
        }
        do {
            try command.run()
            try StandardOutput.check()
        } catch let e as ExitCode {
            Foundation.exit(e.rawValue)
        } catch let e as StandardOutput.Failure where e.brokenPipe {
            Foundation.exit(141)  // the reader went away (| head): quiet, as SIGPIPE would be
        } catch let e as ValidationError {
            fail("\(e.message) (see '\(Arguments.commandPath(args)) --help')", code: 64)
        } catch {
            if exitCode(for: error) == .success { printHelp(error) }  // help requested from inside a command
            fail("\(error)", code: 1)
        }
    }

    /// Prints help or the version (a "clean exit" of the parser), checking that stdout took it.
    static func printHelp(_ error: Error) -> Never {
        print(fullMessage(for: error))
        do { try StandardOutput.check() } catch let e as StandardOutput.Failure {
            if e.brokenPipe { Foundation.exit(141) }
            fail(e.description, code: 1)
        } catch { fail("\(error)", code: 1) }
        Foundation.exit(0)
    }

    /// Prints one error line (made safe for a terminal) and exits.
    static func fail(_ message: String, code: Int32) -> Never {
        fflush(standardOut)
        let line = "error: " + TerminalText.safe(message) + "\n"
        FileHandle.standardError.write(Data(line.utf8))
        Foundation.exit(code == 0 ? 1 : code)
    }

    @Option(help: "Chat model directory for the chat lab (default: the model shipped in the binary).")
    var chatCheckpoint: String?
    @Option(help: "A GGUF model (llama, qwen2) for the chat lab; the shipped model stays in its model picker.")
    var chatModel: String?
    @Option(
        help:
            "Open a saved language session (a directory written by 'train --out' or the UI's save) in the language lab."
    )
    var open: String?

    mutating func run() throws {
        try common.apply()
        if let dir = open {
            // Checked before the terminal is taken over, so a bad directory is a plain one-line error.
            do { _ = try SessionDirectory.current(dir) } catch let e as CheckpointError {
                throw CLIError(e.description)
            }
        }
        var source = chatCheckpoint.map { ModelSource.directory($0) } ?? .defaultChat
        if let m = chatModel {
            // Checked before the terminal is taken over: a bad file is a plain one-line error.
            do { _ = try GGUFFile(path: m) } catch let e as GGUFError {
                if case .io = e { throw CLIError(e.description) }
                throw CLIError("\(m): \(e.description)")
            }
            source = .gguf(m)
        }
        try UI.launch(chatModel: source, open: open)
    }
}

enum OrreryVersion {
    static let string = "0.1.0"
}

/// Options every command accepts.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "Worker threads for kernels (default: all cores).")
    var threads: Int?

    func validate() throws {
        if let t = threads, !(t >= 1 && t <= 1024) {
            throw ValidationError("--threads must be between 1 and 1024, got \(t)")
        }
    }

    func apply() throws {
        try validate()
        if let t = threads { Parallel.threads = t }
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the version, the CPU, its measured FP32 FMA peak and the compute kernels it uses.")
    @Flag(help: "Print one JSON object.") var json = false
    func run() throws {
        let peak = Machine.fmaPeak()
        let info: [String: Any] = [
            "version": OrreryVersion.string, "gemm_kernel": Kernels.gemmKernelName,
            "threads": Parallel.threads, "cpu": Machine.cpuName, "fma_peak_gflops": peak.gflops,
            "vector_unit": peak.unit,
        ]
        if json {
            print(JSONLine.encode(info))
        } else {
            print("orrery \(OrreryVersion.string) (gemm kernel \(Kernels.gemmKernelName), \(Parallel.threads) threads)")
            print(
                String(
                    format: "CPU %@, FP32 FMA peak %.0f GFLOP/s (%@, %d threads)", Machine.cpuName, peak.gflops,
                    peak.unit, Parallel.threads))
        }
    }
}

/// A user-facing error: one line on stderr, non-zero exit.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ what: String) { description = what }
}

enum UI {
    static func launch(chatModel: ModelSource, open: String?) throws {
        let backend: NcursesBackend
        do { backend = try NcursesBackend(environment: ProcessInfo.processInfo.environment) } catch let e
            as TerminalUnavailable
        {
            throw CLIError(
                "cannot start the terminal UI: \(e.reason); use the headless commands instead: "
                    + "orrery train gpt|lstm|gru|chat|race|classifier|gan|vqgan|ddpm|ldm|oad|moe|mla|mtp|fp8, "
                    + "orrery deepseek, orrery scaling, orrery sample, orrery denoise, "
                    + "orrery chat, orrery eval, orrery inspect, "
                    + "orrery bench (see orrery --help)"
            )
        }
        let app = App(backend: backend, chatModel: chatModel)
        if case .gguf = chatModel { ChatScreen.open(app) }
        if let dir = open { app.openLanguage(directory: dir) }
        app.run(quitSignal: { backend.quitSignal })
        backend.stop()
        // Where the work went, once the terminal is back.
        for line in app.exitMessages { print(line) }
        if backend.quitSignal != 0 { Foundation.exit(128 + backend.quitSignal) }
    }
}
