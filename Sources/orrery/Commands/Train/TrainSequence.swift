import ArgumentParser
import Compute
import Foundation
import Labs
import Models
import Playground

extension OADAblation: ExpressibleByArgument {}
extension OADModelKind: ExpressibleByArgument {}

/// `orrery train oad|oad-gru|oad-lstm`: online action detection on the synthetic action stream.
struct OADTrainOptions: ParsableArguments {
    @OptionGroup var train: ImageTrainOptions
    @Option(
        help: ArgumentHelp(
            "OadTR width (embedding and transformer). The GRU/LSTM baselines are sized to OadTR's parameter "
                + "count, so the OadTR flags set their size too."))
    var width: Int?
    @Option(help: "OadTR attention heads.") var heads: Int?
    @Option(help: "OadTR encoder layers.") var encoderLayers: Int?
    @Option(help: "OadTR decoder layers.") var decoderLayers: Int?
    @Option(help: "Frames of history the detector sees (OadTR window; recurrent chunk length).") var history: Int?
    @Option(help: "Future frames OadTR's decoder anticipates.") var anticipation: Int?
    @Option(help: "Weight of the anticipation loss.") var anticipationWeight: Float?
    @Option(help: "OadTR ablation: none, no-task-token, no-position, no-decoder, short-history.")
    var ablation: OADAblation = .none
    @Option(help: "Detectors trained beside it on the same stream and budget (comma-separated: gru, lstm, oadtr).")
    var baselines: String?
    @Option(help: "Frames of the training stream.") var trainFrames: Int?
    @Option(help: "Frames of the held-out stream.") var testFrames: Int?
    @Option(help: "Seed of the streams.") var dataSeed: UInt64?
    @Option(help: "Score on the held-out stream every N steps.") var evalEvery: Int?

    func config(_ kind: OADModelKind) throws -> SequenceLabConfig {
        if kind != .oadtr && ablation != .none {
            throw CLIError("--ablation changes OadTR; train it with 'orrery train oad --ablation \(ablation.rawValue)'")
        }
        var c = SequenceLabConfig()
        var o = c.oad
        o.seed = train.seed
        if let v = train.steps { o.steps = v }
        if let v = train.lr { o.lr = v }
        if let v = train.batch { o.batch = v }
        if let v = width { o.oadtr.width = v }
        if let v = heads { o.oadtr.heads = v }
        if let v = encoderLayers { o.oadtr.encoderLayers = v }
        if let v = decoderLayers { o.oadtr.decoderLayers = v }
        if let v = history { o.oadtr.history = v }
        if let v = anticipation { o.oadtr.anticipation = v }
        if let v = anticipationWeight { o.oadtr.anticipationWeight = v }
        o.oadtr = ablation.apply(o.oadtr)
        if let v = trainFrames { o.trainFrames = v }
        if let v = testFrames { o.testFrames = v }
        if let v = dataSeed { o.dataSeed = v }
        c.oad = o
        var models = [kind]
        for name in (baselines ?? "").split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) })
        where !name.isEmpty {
            guard let k = OADModelKind(rawValue: name) else {
                throw CLIError("unknown detector \"\(name)\" in --baselines (gru, lstm, oadtr)")
            }
            if !models.contains(k) { models.append(k) }
        }
        c.models = models
        c.evalEvery = evalEvery ?? max(1, min(250, o.steps))
        do { try c.validate() } catch { throw CLIError("\(error)") }
        return c
    }

    func run(_ kind: OADModelKind) throws {
        try train.prepare()
        let c = try config(kind)
        let lab: SequenceLab
        do { lab = try SequenceLab(c) } catch { throw CLIError("\(error)") }
        if train.json {
            print(
                JSONLine.encode([
                    "type": "start", "models": lab.trainers.map(\.describe), "steps": c.oad.steps,
                    "parameters": lab.trainers.map(\.parameterCount), "train_frames": c.oad.trainFrames,
                    "test_frames": c.oad.testFrames,
                ]))
        } else {
            for t in lab.trainers { print("\(t.kind.title): \(t.describe)") }
            print(
                "\(c.oad.steps) steps of \(c.oad.batch) labelled frames; streams: "
                    + "\(c.oad.trainFrames) training, \(c.oad.testFrames) held-out frames")
        }
        func event(_ l: SequenceLab) -> [String: Any] {
            var o: [String: Any] = [:]
            for (t, e) in zip(l.trainers, l.latestEvaluations) {
                o["\(t.kind.rawValue)_loss"] = Double(t.losses.last ?? .nan)
                if let e, l.step % c.evalEvery == 0 || l.isFinished { o["\(t.kind.rawValue)_map"] = e.mAP }
            }
            return o
        }
        func line(_ l: SequenceLab) -> String {
            zip(l.trainers, l.latestEvaluations).map { t, e in
                String(format: "\(t.kind.title) loss %.3f", t.losses.last ?? .nan)
                    + (e.map { String(format: " mAP %.3f", $0.mAP) } ?? "")
            }.joined(separator: " · ")
        }
        let secs = try train.run(lab, total: c.oad.steps, label: kind.rawValue, event: event, line: line)
        if train.json {
            for (t, e) in zip(lab.trainers, lab.latestEvaluations) {
                var o = OADReport.json(t, e)
                o["type"] = "eval"
                o["step"] = t.step
                print(JSONLine.encode(o))
            }
            print(
                JSONLine.encode([
                    "type": "done", "step": lab.step, "seconds": secs,
                    "ms_per_step": secs * 1000 / Double(max(1, lab.step)),
                ]))
        } else {
            print(
                String(
                    format: "%d steps in %.1f s (%.1f ms/step)", lab.step, secs, secs * 1000 / Double(max(1, lab.step)))
            )
            for t in lab.trainers {
                print(
                    String(
                        format: "\(t.kind.title): %.1f s training (%.1f ms/step)", t.trainSeconds,
                        t.trainSeconds * 1000 / Double(max(1, t.step))))
            }
            OADReport.table(zip(lab.trainers, lab.latestEvaluations).map { ($0.0.kind.title, $0.1) })
            if let o = train.out { print("saved to \(o)") }
        }
        if train.png != nil {
            lab.play(SequenceLab.window)
            var snap = SequenceSnapshot()
            lab.publish(into: &snap)
            try train.writePNG(ImageExport.streamPNG(snap))
            if let p = train.png, !train.json { print("stream view written to \(p)") }
        }
    }
}

/// Printing held-out scores (the training commands and `orrery eval oad`).
enum OADReport {
    static func json(_ t: OADTrainer, _ e: OADEvaluation?) -> [String: Any] {
        var o: [String: Any] = ["model": t.kind.rawValue, "describe": t.describe, "parameters": t.parameterCount]
        if let e { o.merge(json(e)) { a, _ in a } }
        return o
    }

    static func json(_ e: OADEvaluation) -> [String: Any] {
        [
            "map": e.mAP, "accuracy": e.accuracy, "latency_frames": e.latency, "missed": e.missed,
            "per_class_ap": e.perClass.dropFirst().map { $0 ?? .nan } as [Double],
            "anticipation_accuracy": e.anticipation,
        ]
    }

    static func table(_ rows: [(String, OADEvaluation?)]) {
        let names = ActionStream.classNames.dropFirst()
        let w = max(12, (rows.map { $0.0.count }.max() ?? 0) + 2)
        func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: n, withPad: " ", startingAt: 0) }
        func num(_ v: Double, _ f: String) -> String {
            v.isFinite ? String(format: f, v) : pad("", String(format: f, 0.0).count - 1) + "-"
        }
        print(pad("held-out", w) + "   mAP    acc latency missed  " + names.map { pad($0, 6) }.joined(separator: " "))
        for (name, e) in rows {
            guard let e else { continue }
            let ap = e.perClass.dropFirst().map { $0.map { String(format: "%6.3f", $0) } ?? "     -" }.joined(
                separator: " ")
            print(
                pad(name, w) + num(e.mAP, "%6.3f") + " " + num(e.accuracy, "%6.3f") + " " + num(e.latency, "%7.1f")
                    + " " + String(format: "%5.1f%%", e.missed * 100) + "  " + ap)
        }
        for (name, e) in rows {
            guard let e, !e.anticipation.isEmpty else { continue }
            let shown = e.anticipation.prefix(16).enumerated().map {
                String(format: "+%d %.2f", $0.offset + 1, $0.element)
            }
            print(
                "\(name) anticipation accuracy: " + shown.joined(separator: "  ")
                    + (e.anticipation.count > 16 ? "  …" : ""))
        }
    }
}

struct TrainOAD: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "oad",
        abstract: "Train OadTR (a transformer online action detector) on the synthetic action stream.")
    @OptionGroup var options: OADTrainOptions
    func run() throws { try options.run(.oadtr) }
}

struct TrainOADGRU: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "oad-gru", abstract: "Train the GRU online action detector (OadTR's baseline, same parameters).")
    @OptionGroup var options: OADTrainOptions
    func run() throws { try options.run(.gru) }
}

struct TrainOADLSTM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "oad-lstm", abstract: "Train the LSTM online action detector (OadTR's baseline, same parameters).")
    @OptionGroup var options: OADTrainOptions
    func run() throws { try options.run(.lstm) }
}
