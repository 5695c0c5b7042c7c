// Drives the real `orrery` binary the way a script or a user would: arguments, stdin, environment,
// and a time limit (a hang is a failure with its own message, not a stuck suite).
import Foundation
import TestSupport
import XCTest

struct CLIResult {
    var code: Int32
    var out: String
    var err: String
    var timedOut = false
    /// Killed by a signal (SIGSEGV, SIGFPE, SIGTRAP, …) rather than exiting.
    var signaled = false
    var outBytes: [UInt8] = []
}

extension XCTestCase {
    /// The built executable, next to this test bundle.
    var orreryBinary: URL {
        var dir = Bundle.main.bundleURL
        for b in Bundle.allBundles where b.bundlePath.hasSuffix(".xctest") {
            dir = b.bundleURL.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("orrery")
    }

    @discardableResult
    func run(
        _ args: [String], stdin: String? = nil, environment: [String: String]? = nil, directory: String? = nil,
        timeout: Double = 120
    ) throws -> CLIResult {
        let p = Process()
        p.executableURL = orreryBinary
        p.arguments = args
        if let environment { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let o = Pipe()
        let e = Pipe()
        let i = Pipe()
        p.standardOutput = o
        p.standardError = e
        p.standardInput = i
        signal(SIGPIPE, SIG_IGN)  // a child that exits before reading all its input must not kill the test runner
        try p.run()
        let input = i.fileHandleForWriting
        let bytes = Array((stdin ?? "").utf8)
        let feeder = Thread {
            var sent = 0
            bytes.withUnsafeBytes { raw in
                while sent < raw.count {
                    let n = write(input.fileDescriptor, raw.baseAddress! + sent, raw.count - sent)
                    if n <= 0 { break }
                    sent += n
                }
            }
            try? input.close()
        }
        feeder.start()
        let deadline = DispatchTime.now() + timeout
        var timedOut = false
        let watchdog = DispatchWorkItem {
            if p.isRunning {
                timedOut = true
                p.interrupt()
                kill(p.processIdentifier, SIGKILL)
            }
        }
        DispatchQueue.global().asyncAfter(deadline: deadline, execute: watchdog)
        final class Box: @unchecked Sendable { var data = Data() }
        let out = Box()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            out.data = o.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let err = e.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        watchdog.cancel()
        return CLIResult(
            code: p.terminationStatus, out: String(decoding: out.data, as: UTF8.self),
            err: String(decoding: err, as: UTF8.self), timedOut: timedOut,
            signaled: p.terminationReason == .uncaughtSignal, outBytes: [UInt8](out.data))
    }

    func jsonLines(_ s: String) -> [[String: Any]] {
        s.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    /// The folder of the current snapshot of a session directory.
    func currentSnapshot(_ dir: String) throws -> String {
        let name = try String(contentsOfFile: dir + "/CURRENT", encoding: .utf8).trimmingCharacters(
            in: .whitespacesAndNewlines)
        return dir + "/" + name
    }

}
