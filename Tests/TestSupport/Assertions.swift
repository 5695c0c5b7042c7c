// Assertions and fixtures shared by the test targets.
import Foundation
import XCTest

/// Elementwise |a − b| ≤ atol + rtol·|b|, failing at the first element that is not, with both values.
public func assertClose(
    _ a: [Float], _ b: [Float], atol: Float = 1e-4, rtol: Float = 1e-4, _ msg: String = "",
    file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(a.count, b.count, "\(msg): sizes", file: file, line: line)
    for i in 0..<min(a.count, b.count) {
        if !(abs(a[i] - b[i]) <= atol + rtol * abs(b[i])) {
            XCTFail("\(msg): element \(i): \(a[i]) vs \(b[i])", file: file, line: line)
            return
        }
    }
}

extension XCTestCase {
    /// A fresh directory removed when the test ends.
    public func temporaryDirectory(_ label: String = "test") throws -> String {
        let dir = NSTemporaryDirectory() + "orrery-\(label)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }
}

/// A seeded random number generator (SplitMix64) for tests that draw with Swift's random APIs: the same
/// draws on every run, so a failure reproduces.
public struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
