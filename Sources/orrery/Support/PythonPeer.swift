// Runs a Python peer (numpy, PyTorch) for a side-by-side benchmark: one runner for every bench.
import Foundation

/// Runs a peer's Python script with fair settings (thread count set, OpenBLAS overrides removed);
/// returns its "name value" lines.
func runPython(_ python: String, _ script: String, threads: Int) throws -> [(String, Double)] {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = [python, "-c", script]
    var env = ProcessInfo.processInfo.environment
    env["OPENBLAS_CORETYPE"] = nil
    env["OPENBLAS_L2_SIZE"] = nil
    env["OMP_NUM_THREADS"] = "\(threads)"
    env["OPENBLAS_NUM_THREADS"] = "\(threads)"
    p.environment = env
    let pipe = Pipe()
    let err = Pipe()
    p.standardOutput = pipe
    p.standardError = err
    do { try p.run() } catch { throw CLIError("cannot run \(python): \(error.localizedDescription)") }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else {
        let last =
            String(decoding: errData, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? "no error output"
        throw CLIError("peer \(python) exited with status \(p.terminationStatus): \(last)")
    }
    return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap { line in
        let parts = line.split(separator: " ")
        guard parts.count == 2, let v = Double(parts[1]) else { return nil }
        return (String(parts[0]), v)
    }
}
