import Foundation
import OnlineMPE

/// What replay remembers about every example: its latest scores (re-scored examples carry their
/// latest values), its flags, and the forecast series, for the final report and output files.
struct ScoreBook {
    struct Entry: Sendable {
        var id: String
        var label: Double
        var prequentialLabelProbability: Double
        var scores: Sensitivities
        var flags: Set<FlagKind>
        /// Examples learned when this example arrived (its 1-based position in the stream).
        var arrival: Int
        /// Examples learned when each kind of flag was first raised for this example.
        var firstFlagged: [FlagKind: Int] = [:]
    }

    /// One point of the forecast series: the LOO forecast at a re-scoring and, when held-out
    /// files were given, their figures under the posterior of the same moment.
    struct ForecastPoint {
        var generalization: GeneralizationSnapshot
        var test: (nll: Double, error: Double)?
        var testNoisy: (nll: Double, error: Double)?
    }

    private(set) var entries: [Entry] = []
    private var index: [String: Int] = [:]
    private(set) var flagCounts: [FlagKind: Int] = [:]
    private(set) var forecastSeries: [ForecastPoint] = []
    /// Every change-detector firing, in stream order.
    private(set) var driftEvents: [DriftEvent] = []
    var lastStatusStep = -1

    /// Records one learned example; a re-scoring it completed is recorded with the held-out
    /// figures `heldOut` computes under the current posterior.
    mutating func record(id: String, label: Double, report: ExampleReport,
                         heldOut: () throws -> (test: (nll: Double, error: Double)?, testNoisy: (nll: Double, error: Double)?)) rethrows {
        let entry = Entry(id: id, label: label, prequentialLabelProbability: report.prequential.labelProbability,
                          scores: report.scores, flags: [], arrival: report.step)
        if let i = index[id] {
            entries[i] = entry
        } else {
            index[id] = entries.count
            entries.append(entry)
        }
        if let rescoring = report.rescoring {
            let figures = try heldOut()
            record(rescoring: rescoring, test: figures.test, testNoisy: figures.testNoisy)
        }
        driftEvents.append(contentsOf: report.drift)
        for flag in report.flags {
            flagCounts[flag.kind, default: 0] += 1
            if let target = flag.exampleID, let i = index[target] {
                entries[i].flags.insert(flag.kind)
                if entries[i].firstFlagged[flag.kind] == nil { entries[i].firstFlagged[flag.kind] = flag.step }
            }
        }
    }

    mutating func record(rescoring: Rescoring, test: (nll: Double, error: Double)?, testNoisy: (nll: Double, error: Double)?) {
        forecastSeries.append(ForecastPoint(generalization: rescoring.generalization, test: test, testNoisy: testNoisy))
        for example in rescoring.examples {
            if let i = index[example.id] { entries[i].scores = example.scores }
        }
    }

    func topSuspects(_ n: Int) -> [Entry] {
        Array(entries.sorted { $0.scores.labelQuality < $1.scores.labelQuality }.prefix(n))
    }

    /// Each score oriented so that higher means more suspicious.
    static let scoreNames: [(String, @Sendable (Entry) -> Double)] = [
        ("label_quality", { 1 - $0.scores.labelQuality }),
        ("memorization", { $0.scores.memorization }),
        ("sensitivity", { $0.scores.sensitivity }),
        ("deviation", { $0.scores.deviation }),
        ("curvature", { $0.scores.curvature }),
        ("prequential", { 1 - $0.prequentialLabelProbability }),
    ]

    func detection(truth: Set<String>) -> [(String, DetectionMetrics)] {
        ScoreBook.scoreNames.map { name, score in
            (name, DetectionMetrics.compute(entries.map { (score($0), truth.contains($0.id)) }))
        }
    }

    func writeScores(to path: String) throws {
        var text = ""
        text.reserveCapacity(entries.count * 200)
        for e in entries {
            let s = e.scores
            text += JSONText.object([
                ("id", JSONText.string(e.id)), ("label", JSONText.number(e.label)),
                ("label_quality", JSONText.number(s.labelQuality)), ("memorization", JSONText.number(s.memorization)),
                ("sensitivity", JSONText.number(s.sensitivity)), ("deviation", JSONText.number(s.deviation)),
                ("curvature", JSONText.number(s.curvature)), ("loo_nll", JSONText.number(s.looNLL)),
                ("loo_predicted", JSONText.number(s.looPredicted)), ("prequential_label_probability", JSONText.number(e.prequentialLabelProbability)),
                ("flags", "[" + e.flags.map(\.rawValue).sorted().map(JSONText.string).joined(separator: ",") + "]"),
                ("arrival", String(e.arrival)),
                ("first_mislabeled_flag", e.firstFlagged[.mislabeled].map { String($0) } ?? "null"),
                ("first_memorized_flag", e.firstFlagged[.memorized].map { String($0) } ?? "null"),
            ])
            text += "\n"
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}

/// The periodic status line of replay.
enum StatusLine {
    static func header(withTest: Bool) -> String {
        "  examples  preq-NLL  preq-err  recent-NLL  LOO-NLL  LOO-err" + (withTest ? "  test-NLL  test-err" : "") + "  mislabeled  memorized  drift"
    }

    static func format(model: OnlineLearner, book: ScoreBook, test: (nll: Double, error: Double)?) -> String {
        guard let g = model.latestGeneralization else { return "  \(Fmt.pad(String(model.step), 8))  (no re-scoring yet)" }
        var line = "  \(Fmt.pad(String(model.step), 8))  \(Fmt.pad(Fmt.fixed(g.prequentialNLL, 4), 8))  \(Fmt.pad(Fmt.fixed(g.prequentialError, 4), 8))  \(Fmt.pad(Fmt.fixed(g.recentPrequentialNLL, 4), 10))  \(Fmt.pad(Fmt.fixed(g.looNLL, 4), 7))  \(Fmt.pad(Fmt.fixed(g.looError, 4), 7))"
        if let test { line += "  \(Fmt.pad(Fmt.fixed(test.nll, 4), 8))  \(Fmt.pad(Fmt.fixed(test.error, 4), 8))" }
        line += "  \(Fmt.pad(String(book.flagCounts[.mislabeled, default: 0]), 10))  \(Fmt.pad(String(book.flagCounts[.memorized, default: 0]), 9))  \(book.flagCounts[.generalizationDrift, default: 0])"
        return line
    }
}

/// Fixed-width number formatting for terminal tables.
enum Fmt {
    static func fixed(_ x: Double, _ digits: Int) -> String {
        guard x.isFinite else { return "\(x)" }
        return String(format: "%.\(digits)f", x)
    }
    static func signed(_ x: Double, _ digits: Int) -> String { String(format: "%+.\(digits)f", x) }
    static func pad(_ s: String, _ width: Int) -> String { s.count >= width ? s : s + String(repeating: " ", count: width - s.count) }
    static func label(_ y: Double) -> String { y == y.rounded() && abs(y) < 1e15 ? String(Int64(y)) : fixed(y, 3) }
}
