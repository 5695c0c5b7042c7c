import Compute
import Foundation
import Labs
import Models
import XCTest

final class ClassifierLabTests: XCTestCase {
    func testSpiralsAreSeparatedWithinSeconds() throws {
        let session = try ClassifierSession(ClassifierConfig())
        let start = Date()
        while session.accuracy < 0.98 && session.step < 3000 { session.trainStep() }
        let secs = Date().timeIntervalSince(start)
        XCTAssertGreaterThanOrEqual(session.accuracy, 0.98, "accuracy \(session.accuracy) after \(session.step) steps")
        print("two spirals: accuracy \(session.accuracy) after \(session.step) steps in \(secs) s")
        // The probability map agrees with the labels at the data points' own cells.
        let (p, neurons) = session.probe(n: 64)
        XCTAssertEqual(p.count, 64)
        XCTAssertEqual(neurons.count, 8)
        let flat = p.flatMap { $0 }
        XCTAssertLessThan(flat.min() ?? 1, 0.1)
        XCTAssertGreaterThan(flat.max() ?? 0, 0.9, "both classes have regions")
    }

    func testEveryDatasetIsLearnable() throws {
        for d in ToyDataset.allCases {
            var c = ClassifierConfig()
            c.dataset = d
            let s = try ClassifierSession(c)
            XCTAssertEqual(Set(s.data.labels), [0, 1])
            while s.step < 600 { s.trainStep() }
            XCTAssertGreaterThan(s.accuracy, d == .spirals ? 0.9 : 0.95, "\(d)")
        }
    }

    /// `r` after a run has finished starts a new run: it is shown running, finishes again (and says
    /// so), and counts as unsaved, with no folder of its own yet (a save must not overwrite the old run's).
    func testARestartedRunFinishesAgainAndIsUnsaved() throws {
        var c = ClassifierConfig()
        c.steps = 20
        let runner = ClassifierRunner.classifier(c)
        runner.start()
        defer { runner.stopAndWait() }
        func wait(_ what: String, _ done: () -> Bool) {
            let end = Date().addingTimeInterval(60)
            while !done() && Date() < end { Thread.sleep(forTimeInterval: 0.005) }
            XCTAssertTrue(done(), what)
        }
        wait("first run finishes") { runner.status.get().phase == .finished }
        let dir = NSTemporaryDirectory() + "orrery-restart-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        runner.send(.save(directory: dir))
        wait("saved") { runner.status.get().savedStep == 20 }
        runner.send(.lab(.restart))
        wait("the new run starts") { runner.status.get().savedStep == nil }
        XCTAssertNil(runner.status.get().savedDirectory)
        wait("the new run finishes too") {
            runner.status.get().phase == .finished && runner.status.get().step == 20
        }
        let finishes = runner.takeEvents().filter { if case .finished = $0 { return true } else { return false } }
        XCTAssertEqual(finishes.count, 2, "each run announces its end")
    }

    func testConfigIsValidated() {
        var c = ClassifierConfig()
        c.layers = 0
        XCTAssertThrowsError(try ClassifierSession(c))
        c = ClassifierConfig()
        c.lr = -1
        XCTAssertThrowsError(try ClassifierSession(c))
    }
}
