// Runs a Python peer (numpy, PyTorch) for a side-by-side benchmark: one runner for every bench.
import Compute
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

/// A benchmark's timed steps split into `rounds` alternating rounds, so a slow spell of a shared
/// machine falls on both sides: Orrery's steps (5 warm-up steps first, 1 after each peer round,
/// whose caches it inherits), then, when `peer` is given, one peer process running `count` steps
/// (it prints "step MS" lines). `step` runs one step and returns its timed milliseconds (work it
/// should not time, such as drawing a batch, stays outside). Returns Orrery's times, the peer's,
/// and the peer's last output (for what it prints once, such as sampling times).
func alternatingRounds(
    steps: Int, rounds: Int, step: () -> Double, peer: ((_ count: Int, _ last: Bool) throws -> [(String, Double)])?
) throws -> (orrery: [Double], peer: [Double], peerLast: [(String, Double)]) {
    var times: [Double] = []
    var peerTimes: [Double] = []
    var peerLast: [(String, Double)] = []
    let R = Swift.min(rounds, steps)
    for r in 0..<R {
        let warm = r == 0 ? 5 : 1
        let count = steps * (r + 1) / R - steps * r / R
        for i in 0..<(warm + count) {
            let ms = step()
            if i >= warm { times.append(ms) }
        }
        if let peer {
            let out = try peer(count, r == R - 1)
            let tt = out.filter { $0.0 == "step" }.map(\.1)
            guard tt.count == count else { throw CLIError("peer printed \(tt.count) step times, expected \(count)") }
            peerTimes += tt
            peerLast = out
        }
    }
    return (times, peerTimes, peerLast)
}

/// Milliseconds `body` takes.
func timedMs(_ body: () -> Void) -> Double {
    let t0 = DispatchTime.now().uptimeNanoseconds
    body()
    return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
}

/// MFU of a training step whose FLOPs the peer counted (PyTorch's `FlopCounterMode`, printed as a
/// `flops` line; the same network on both sides): nil where the peer did not run.
struct PeerCountedMFU {
    let stepFlops: Double?
    let peak = Machine.fmaPeak().gflops

    init(_ peerLines: [(String, Double)]) { stepFlops = peerLines.first(where: { $0.0 == "flops" })?.1 }

    /// The fraction of the FMA peak a step of `ms` milliseconds reaches.
    func fraction(_ ms: Double) -> Double? { stepFlops.map { $0 / ms / 1e6 / peak } }

    /// "  GFLOP/s = MFU" for a table line, or nothing.
    func text(_ ms: Double) -> String {
        guard let f = stepFlops else { return "" }
        return String(format: "  %5.1f GFLOP/s = %4.1f%% MFU", f / ms / 1e6, 100 * f / ms / 1e6 / peak)
    }
}
