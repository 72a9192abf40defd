import ArgumentParser
import Foundation
import OnlineMPE
import Stream

/// `mpe-monitor replay FILE`: runs the learner over a JSON Lines file of examples, test-then-
/// train, and prints the prequential figures, the LOO forecast and the flags as it goes.
struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Run the learner over a JSON Lines file of examples ({\"id\":…,\"x\":[…],\"y\":…} per line)."
    )

    @Argument(help: "JSON Lines file of examples.")
    var file: String
    @OptionGroup var learner: LearnerOptions
    @Option(help: "Held-out examples: their NLL and error under the posterior are printed beside the LOO forecast.")
    var test: String?
    @Option(name: .customLong("test-noisy"), help: "Held-out examples whose labels went through the same noise process as the stream (the like-for-like target of the LOO forecast); reported beside --test.")
    var testNoisy: String?
    @Option(help: "Ids known to be mislabeled, one per line: prints AUROC, average precision and precision@k of each score.")
    var truth: String?
    @Option(help: "Write one JSON line per example with its latest scores and flags.")
    var scores: String?
    @Option(help: "Write one JSON object with the final figures.")
    var summary: String?
    @Option(help: "Write the learner's snapshot as it stands after the last example (before the final re-scoring): the bytes a monitor checkpoint holds after the same examples in the same order.")
    var snapshot: String?
    @Option(help: "Print a status line every this many examples.")
    var interval: Int = 1000
    @Option(help: "How many top suspects to print at the end.")
    var top: Int = 10
    @ArgumentParser.Flag(help: "No interval lines, only the final report.")
    var quiet = false

    func run() throws {
        do {
            try replay()
        } catch let problem as ConfigurationProblem {
            throw ValidationError(problem.message)
        } catch let error as JSONLinesReader.OpenError {
            throw CommandFailure(error.description)
        }
    }

    func replay() throws {
        var settings = try learner.settings()
        let started = Date()
        let dimension = try settings.inputDimension ?? firstDimension(file, labels: settings.labels)
        settings.inputDimension = dimension
        let configuration = try settings.resolved(inputDimension: dimension)
        let decoder = ExampleDecoder(dimension: dimension, labels: settings.labels)
        var model = try OnlineLearner(configuration: configuration)
        let testSet = try test.map { try loadExamples($0, decoder: decoder) }
        let noisySet = try testNoisy.map { try loadExamples($0, decoder: decoder) }
        let truthIDs = try truth.map { path in
            Set(try String(contentsOfFile: path, encoding: .utf8).split(whereSeparator: \.isNewline).map(String.init))
        }
        printConfiguration(configuration)

        var book = ScoreBook()
        var rejected = RejectionCounter()
        var reader = try JSONLinesReader(path: file)
        defer { reader.close() }
        var lastProgress = Date()
        if !quiet { print(StatusLine.header(withTest: testSet != nil)) }
        while reader.next({ bytes, line in
            let message: ExampleMessage
            do {
                message = try decoder.decode(bytes)
            } catch {
                rejected.record(line: line, reason: "\(error)")
                return
            }
            let example = LabeledExample(id: message.id, x: message.x, y: message.y, weight: message.weight)
            do {
                let report = try model.learn(example)
                try book.record(id: message.id, label: message.y, report: report) {
                    (try testSet.map { try model.evaluate($0) }, try noisySet.map { try model.evaluate($0) })
                }
            } catch {
                rejected.record(line: line, reason: "\(error)")
            }
        }) {
            if !quiet, model.step > 0, model.step % interval == 0, book.lastStatusStep != model.step {
                book.lastStatusStep = model.step
                let testFigures = try testSet.map { try model.evaluate($0) }
                print(StatusLine.format(model: model, book: book, test: testFigures))
            }
            if Date().timeIntervalSince(lastProgress) > 5 {
                lastProgress = Date()
                FileHandle.standardError.write(Data("… \(reader.lineNumber) lines read, \(model.step) learned\n".utf8))
            }
        }
        guard model.step > 0 else { throw CommandFailure("no example in \(file) could be learned (\(rejected.total) rejected)") }

        if let snapshot {
            try Data(model.snapshot()).write(to: URL(fileURLWithPath: snapshot))
        }
        // A last re-scoring so that the final forecast describes the final posterior.
        let final = model.rescoreMemory()
        let testFigures = try testSet.map { try model.evaluate($0) }
        let noisyFigures = try noisySet.map { try model.evaluate($0) }
        book.record(rescoring: final, test: testFigures, testNoisy: noisyFigures)
        let seconds = Date().timeIntervalSince(started)
        if !quiet { print(StatusLine.format(model: model, book: book, test: testFigures)) }
        rejected.printSummary()
        printFinal(model: model, book: book, test: testFigures, seconds: seconds)
        if !quiet, let noisyFigures, let g = model.latestGeneralization {
            print("held-out (same noise) \(Fmt.fixed(noisyFigures.nll, 4)) / \(Fmt.fixed(noisyFigures.error, 4))   (forecast error: NLL \(Fmt.signed(g.looNLL - noisyFigures.nll, 4)), error \(Fmt.signed(g.looError - noisyFigures.error, 4)))")
        }
        if let truthIDs { printDetection(book: book, truth: truthIDs) }
        if let scores { try book.writeScores(to: scores) }
        if let summary {
            try writeSummary(to: summary, model: model, book: book, test: testFigures, testNoisy: noisyFigures, seconds: seconds, rejected: rejected.total, truth: truthIDs)
        }
    }

    func firstDimension(_ path: String, labels: [String]?) throws -> Int {
        var reader = try JSONLinesReader(path: path)
        defer { reader.close() }
        let decoder = ExampleDecoder(labels: labels)
        var found: Int?
        while found == nil, reader.next({ bytes, _ in found = try? decoder.decode(bytes).x.count }) {}
        guard let found else { throw CommandFailure("\(path) has no decodable example to infer the input dimension from; pass --dimension") }
        return found
    }

    func loadExamples(_ path: String, decoder: ExampleDecoder) throws -> [LabeledExample] {
        var reader = try JSONLinesReader(path: path)
        defer { reader.close() }
        var out: [LabeledExample] = []
        var problems = 0
        while reader.next({ bytes, _ in
            if let m = try? decoder.decode(bytes) { out.append(LabeledExample(id: m.id, x: m.x, y: m.y, weight: m.weight)) } else { problems += 1 }
        }) {}
        if problems > 0 { FileHandle.standardError.write(Data("warning: \(problems) undecodable lines in \(path) skipped\n".utf8)) }
        return out
    }

    func printConfiguration(_ c: LearnerConfiguration) {
        guard !quiet else { return }
        print("learner: \(c.model.rawValue), d=\(c.inputDimension), K=\(c.classes), family \(c.family.rawValue)\(c.family == .diagonal ? "/\(c.curvature.rawValue)" : ""), prior precision \(c.priorPrecision), forgetting \(c.forgetting)\(c.family == .full && c.model != .regression ? ", relinearization window \(c.relinearizationWindow)" : ""), perturbation \(c.perturbation.rawValue), memory \(c.memory.capacity) (\(c.memory.policy.rawValue)) re-scored every \(c.memory.rescoreInterval)\(c.memory.calibrationSamples > 0 && c.family == .diagonal && c.curvature == .ggn && c.memory.policy == .window ? ", forecast calibrated from \(c.memory.calibrationSamples) sample\(c.memory.calibrationSamples == 1 ? "" : "s") per re-scoring" : "")")
    }

    func printFinal(model: OnlineLearner, book: ScoreBook, test: (nll: Double, error: Double)?, seconds: Double) {
        guard let g = model.latestGeneralization else { return }
        print("")
        print("examples learned      \(model.step) in \(Fmt.fixed(seconds, 2)) s (\(Fmt.fixed(Double(model.step) / max(seconds, 1e-9), 0)) examples/s)")
        print("prequential NLL/error \(Fmt.fixed(g.prequentialNLL, 4)) / \(Fmt.fixed(g.prequentialError, 4))   (whole stream, each example scored before it was learned)")
        print("LOO forecast NLL/error \(Fmt.fixed(g.looNLL, 4)) / \(Fmt.fixed(g.looError, 4))  (memory of \(g.memoryCount), current posterior, no held-out data\(g.looCalibration == 1 ? "" : "; shifts calibrated by \(Fmt.fixed(g.looCalibration, 3))"))")
        if let test {
            print("held-out NLL/error    \(Fmt.fixed(test.nll, 4)) / \(Fmt.fixed(test.error, 4))   (forecast error: NLL \(Fmt.signed(g.looNLL - test.nll, 4)), error \(Fmt.signed(g.looError - test.error, 4)))")
        }
        print("flags                 mislabeled \(book.flagCounts[.mislabeled, default: 0]), memorized \(book.flagCounts[.memorized, default: 0]), generalization-drift \(book.flagCounts[.generalizationDrift, default: 0])")
        let suspects = book.topSuspects(top)
        if !suspects.isEmpty {
            print("")
            print("top suspects (lowest leave-one-out probability of the given label):")
            print("  id            label  LOO-predicted  label quality  memorization  flags")
            for s in suspects {
                print("  \(Fmt.pad(s.id, 13)) \(Fmt.pad(Fmt.label(s.label), 6)) \(Fmt.pad(Fmt.label(s.scores.looPredicted), 14)) \(Fmt.pad(Fmt.fixed(s.scores.labelQuality, 4), 14)) \(Fmt.pad(Fmt.fixed(s.scores.memorization, 4), 13)) \(s.flags.map(\.rawValue).sorted().joined(separator: ","))")
            }
        }
    }

    func printDetection(book: ScoreBook, truth: Set<String>) {
        let metrics = book.detection(truth: truth)
        let k = metrics.first?.1.k ?? 0
        print("")
        print("detection of the \(k) known mislabeled ids among \(book.entries.count) examples (truth file lists \(truth.count)):")
        print("  score            AUROC   avg-prec  prec@k (k=\(k))")
        for (name, metric) in metrics {
            print("  \(Fmt.pad(name, 15)) \(Fmt.fixed(metric.auroc, 4))  \(Fmt.fixed(metric.averagePrecision, 4))    \(Fmt.fixed(metric.precisionAtK, 4))")
        }
    }

    func writeSummary(to path: String, model: OnlineLearner, book: ScoreBook, test: (nll: Double, error: Double)?, testNoisy: (nll: Double, error: Double)?,
                      seconds: Double, rejected: Int, truth: Set<String>?) throws {
        let g = model.latestGeneralization
        var fields: [(String, String)] = [
            ("examples", String(model.step)), ("rejected", String(rejected)), ("seconds", JSONText.number(seconds)),
            ("prequential_nll", JSONText.number(g?.prequentialNLL ?? 0)), ("prequential_error", JSONText.number(g?.prequentialError ?? 0)),
            ("recent_prequential_nll", JSONText.number(g?.recentPrequentialNLL ?? 0)), ("recent_prequential_error", JSONText.number(g?.recentPrequentialError ?? 0)),
            ("loo_nll", JSONText.number(g?.looNLL ?? 0)), ("loo_error", JSONText.number(g?.looError ?? 0)),
            ("loo_calibration", JSONText.number(g?.looCalibration ?? 1)),
            ("memory_count", String(g?.memoryCount ?? 0)),
            ("flags", JSONText.object(FlagKind.allCases.map { ($0.rawValue, String(book.flagCounts[$0, default: 0])) })),
            ("forecast_series", "[" + book.forecastSeries.map { point in
                let s = point.generalization
                var fields = [("step", String(s.step)), ("loo_nll", JSONText.number(s.looNLL)), ("loo_error", JSONText.number(s.looError)),
                              ("loo_calibration", JSONText.number(s.looCalibration)),
                              ("recent_prequential_nll", JSONText.number(s.recentPrequentialNLL)),
                              ("recent_prequential_error", JSONText.number(s.recentPrequentialError)),
                              ("memory_prequential_nll", JSONText.number(s.memoryPrequentialNLL)),
                              ("memory_prequential_error", JSONText.number(s.memoryPrequentialError))]
                if let t = point.test { fields += [("test_nll", JSONText.number(t.nll)), ("test_error", JSONText.number(t.error))] }
                if let t = point.testNoisy { fields += [("test_noisy_nll", JSONText.number(t.nll)), ("test_noisy_error", JSONText.number(t.error))] }
                return JSONText.object(fields)
            }.joined(separator: ",") + "]"),
            ("drift_events", "[" + book.driftEvents.map { e in
                JSONText.object([("step", String(e.step)), ("series", JSONText.string(e.series.rawValue)), ("detector", JSONText.string(e.detector.rawValue)),
                                 ("statistic", JSONText.number(e.statistic)), ("value", JSONText.number(e.value))])
            }.joined(separator: ",") + "]"),
            ("configuration", JSONText.object(summaryConfiguration(model.configuration))),
        ]
        if let test {
            fields.append(("test_nll", JSONText.number(test.nll)))
            fields.append(("test_error", JSONText.number(test.error)))
        }
        if let testNoisy {
            fields.append(("test_noisy_nll", JSONText.number(testNoisy.nll)))
            fields.append(("test_noisy_error", JSONText.number(testNoisy.error)))
        }
        if let truth {
            fields.append(("detection", JSONText.object(book.detection(truth: truth).map { name, m in
                (name, JSONText.object([("auroc", JSONText.number(m.auroc)), ("average_precision", JSONText.number(m.averagePrecision)),
                                        ("precision_at_k", JSONText.number(m.precisionAtK)), ("k", String(m.k))]))
            })))
        }
        try (JSONText.object(fields) + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    func summaryConfiguration(_ c: LearnerConfiguration) -> [(String, String)] {
        [("model", JSONText.string(c.model.rawValue)), ("family", JSONText.string(c.family.rawValue)),
         ("curvature", JSONText.string(c.curvature.rawValue)), ("prior_precision", JSONText.number(c.priorPrecision)),
         ("forgetting", JSONText.number(c.forgetting)), ("relinearization_window", String(c.relinearizationWindow)),
         ("perturbation", JSONText.string(c.perturbation.rawValue)),
         ("memory", String(c.memory.capacity)), ("rescore_interval", String(c.memory.rescoreInterval)),
         ("calibration_samples", String(c.memory.calibrationSamples)), ("input_dimension", String(c.inputDimension)), ("classes", String(c.classes))]
    }
}

/// Counts rejected lines by reason and shows the first few, so that a bad file is diagnosed
/// without one log line per bad message.
struct RejectionCounter {
    var total = 0
    var byReason: [String: Int] = [:]
    static let shown = 5

    mutating func record(line: Int, reason: String) {
        total += 1
        let kind = String(reason.prefix { $0 != ":" })
        byReason[kind, default: 0] += 1
        if total <= RejectionCounter.shown {
            FileHandle.standardError.write(Data("rejected line \(line): \(reason)\n".utf8))
        }
    }

    func printSummary() {
        guard total > 0 else { return }
        let parts = byReason.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        FileHandle.standardError.write(Data("rejected \(total) lines in all (\(parts))\n".utf8))
    }
}
