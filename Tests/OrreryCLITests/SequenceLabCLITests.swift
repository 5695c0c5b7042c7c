import CPNG
import Foundation
import TestSupport
import XCTest

final class SequenceLabCLITests: XCTestCase {
    let small = [
        "--width", "32", "--heads", "2", "--history", "8", "--anticipation", "4", "--train-frames", "3000",
        "--test-frames", "400", "--batch", "64",
    ]

    /// `train oad --baselines gru` with --json: a start event, step events with both losses, eval events
    /// with mAP and per-class AP for each detector, a done event; the session directory it saves is
    /// what `eval oad --checkpoint` scores, to the same mAP; the PNG of the stream view is written.
    func testTrainOADThenEvalTheCheckpoint() throws {
        let dir = try temporaryDirectory("cli-oad")
        let r = try run(
            [
                "train", "oad", "--baselines", "gru", "--steps", "20", "--log-every", "10", "--json", "--out",
                dir + "/s",
                "--png", dir + "/stream.png",
            ] + small)
        XCTAssertEqual(r.code, 0, r.err)
        let lines = jsonLines(r.out)
        XCTAssertEqual(lines.first?["type"] as? String, "start")
        let steps = lines.filter { $0["type"] as? String == "step" }
        XCTAssertEqual(steps.count, 2)
        XCTAssertNotNil(steps.last?["oadtr_loss"] as? Double)
        XCTAssertNotNil(steps.last?["gru_loss"] as? Double)
        let evals = lines.filter { $0["type"] as? String == "eval" }
        XCTAssertEqual(evals.map { $0["model"] as? String }, ["oadtr", "gru"])
        XCTAssertEqual((evals[0]["per_class_ap"] as? [Any])?.count, 6)
        XCTAssertEqual((evals[0]["anticipation_accuracy"] as? [Double])?.count, 4)
        XCTAssertEqual(lines.last?["type"] as? String, "done")
        var w: Int32 = 0
        var h: Int32 = 0
        XCTAssertEqual(png_read_size(dir + "/stream.png", &w, &h), 0)
        XCTAssertGreaterThan(w, 900)

        let e = try run(["eval", "oad", "--checkpoint", dir + "/s", "--json"])
        XCTAssertEqual(e.code, 0, e.err)
        let scored = jsonLines(e.out).filter { $0["type"] as? String == "eval" }
        XCTAssertEqual(scored.count, 2)
        XCTAssertEqual(scored[0]["map"] as! Double, evals[0]["map"] as! Double, accuracy: 1e-9)
        XCTAssertEqual(scored[1]["map"] as! Double, evals[1]["map"] as! Double, accuracy: 1e-9)
    }

    /// The shipped detectors score as the README says: OadTR above the GRU on held-out mAP.
    func testShippedDetectorsOadTRBeatsTheGRU() throws {
        let e = try run(["eval", "oad", "--json"])
        XCTAssertEqual(e.code, 0, e.err)
        let scored = jsonLines(e.out).filter { $0["type"] as? String == "eval" }
        XCTAssertEqual(scored.map { $0["model"] as? String }, ["oadtr", "gru"])
        let oad = scored[0]["map"] as! Double
        let gru = scored[1]["map"] as! Double
        XCTAssertGreaterThan(oad, gru, "OadTR \(oad) vs GRU \(gru)")
        XCTAssertGreaterThan(oad, 0.85)
    }

    /// Bad flags and bad directories: one line naming the problem, non-zero exit.
    func testBadInputIsNamed() throws {
        let dir = try temporaryDirectory("cli-oad-bad")
        for (args, needle) in [
            (["train", "oad", "--heads", "5", "--steps", "1"], "heads"),
            (["train", "oad", "--baselines", "rnn", "--steps", "1"], "rnn"),
            (["train", "oad-gru", "--steps", "0"], "steps"),
            (["eval", "oad", "--checkpoint", dir + "/missing"], "missing"),
            (["eval", "oad", "--study", "--checkpoint", dir], "study"),
        ] {
            let r = try run(args)
            XCTAssertNotEqual(r.code, 0, "\(args)")
            XCTAssertEqual(r.err.split(separator: "\n").count, 1, r.err)
            XCTAssertTrue(r.err.contains(needle), "\(args): \(r.err)")
        }
    }
}
