import ArgumentParser
import AuditLog
import Foundation

/// `mpe-monitor query alerts|suspects|generalization|drift|dead-letters|events|runs`: reads the
/// audit log, also while a monitor is writing it (WAL: the query sees the last committed batch
/// and does not block the writer).
struct QueryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Read the audit log: alerts, top suspects, the generalization series, drift events, dead letters, stream events, runs."
    )

    enum Subject: String, ExpressibleByArgument, CaseIterable {
        case alerts, suspects, generalization, drift
        /// Refused messages: where, why, and the start of what they held.
        case deadLetters = "dead-letters"
        /// What the monitor noticed about the stream itself: a log that lost its data, an offset gap.
        case events
        /// Each start of the monitor: version, configuration, start and stop (none: it did not stop cleanly).
        case runs
    }

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case table, json, csv
    }

    @Argument(help: "What to list: \(Subject.allCases.map(\.rawValue).joined(separator: ", ")).")
    var subject: Subject
    @Option(help: "The audit log.")
    var db = "mpe-audit.sqlite"
    @Option(help: "Only rows written at or after this time: ISO 8601 (2025-06-15T15:00:00Z or 2025-06-15) or an age such as 90s, 30m, 6h, 2d.")
    var since: String?
    @Option(help: "At most this many rows (the newest; suspects: the lowest label quality).")
    var limit: Int?
    @Option(help: "Output format: \(Format.allCases.map(\.rawValue).joined(separator: ", ")).")
    var format: Format = .table

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1, got \(limit)") }
        if let since, QueryCommand.parseSince(since, now: Date()) == nil {
            throw ValidationError("--since \(since): expected an ISO 8601 time (2025-06-15T15:00:00Z, 2025-06-15) or an age (90s, 30m, 6h, 2d)")
        }
    }

    func run() throws {
        guard FileManager.default.fileExists(atPath: db) else { throw CommandFailure("no audit log at \(db)") }
        let log: AuditLog
        do {
            log = try AuditLog(path: db, options: .init(readOnly: true))
        } catch let error as AuditLogError {
            throw CommandFailure("cannot read \(db): \(error)")
        }
        let from = since.flatMap { QueryCommand.parseSince($0, now: Date()) }
        let table = try QueryTable(subject, log: log, since: from, limit: limit)
        print(table.render(format), terminator: "")
    }

    /// An ISO 8601 time or date, or an age before `now`.
    static func parseSince(_ text: String, now: Date) -> Date? {
        if let age = parseAge(text) { return now.addingTimeInterval(-age) }
        let full = ISO8601DateFormatter()
        if let date = full.date(from: text) { return date }
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        return day.date(from: text)
    }

    /// An age such as 90s, 30m, 6h or 2d, in seconds (finite, not negative).
    static func parseAge(_ text: String) -> TimeInterval? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        guard let unit = text.last.flatMap({ units[$0] }), let amount = Double(text.dropLast()), amount >= 0,
              (amount * unit).isFinite else { return nil }
        return amount * unit
    }
}

/// Query results as columns of cells, rendered as an aligned table, a JSON array of objects,
/// or CSV with a header line.
struct QueryTable {
    enum Cell {
        case text(String)
        /// Text shown whole in json and csv, and cut to its first `clipped` characters in a table
        /// (a dead letter's payload holds up to 4 KiB, a run's configuration a line of JSON).
        case long(String)
        case number(Double)
        case integer(Int64)
        case null
    }

    var columns: [String]
    var rows: [[Cell]]

    init(_ subject: QueryCommand.Subject, log: AuditLog, since: Date?, limit: Int?) throws {
        func num(_ x: Double?) -> Cell { x.map { $0.isFinite ? .number($0) : .null } ?? .null }
        func int<I: BinaryInteger>(_ x: I?) -> Cell { x.map { .integer(Int64($0)) } ?? .null }
        func time(_ d: Date) -> Cell { .text(QueryTable.timeText(d)) }
        switch subject {
        case .alerts:
            columns = ["time", "kind", "example_id", "topic", "partition", "offset", "epoch", "given_label", "predicted_label",
                       "label_quality", "memorization", "curvature", "reason", "alert_id", "message_time"]
            rows = try log.alerts(since: since, limit: limit).map { a in
                [time(a.time), .text(a.kind.rawValue), a.exampleID.map(Cell.text) ?? .null, a.position.map { .text($0.topic) } ?? .null,
                 int(a.position?.partition), int(a.position?.offset), int(a.position?.epoch), num(a.givenLabel), num(a.predictedLabel), num(a.labelQuality),
                 num(a.memorization), num(a.curvature), .text(a.reason), .text(a.alertID), a.messageTime.map(time) ?? .null]
            }
        case .suspects:
            columns = ["example_id", "label_quality", "given_label", "predicted_label", "memorization", "sensitivity", "curvature",
                       "topic", "partition", "offset", "epoch", "time", "message_time"]
            rows = try log.suspects(since: since, limit: limit ?? 20).map { e in
                [.text(e.exampleID), num(e.labelQuality), num(e.givenLabel), num(e.predictedLabel), num(e.memorization),
                 num(e.sensitivity), num(e.curvature), .text(e.position.topic), int(e.position.partition), int(e.position.offset),
                 int(e.position.epoch), time(e.time), e.messageTime.map(time) ?? .null]
            }
        case .generalization:
            columns = ["time", "examples_seen", "prequential_nll", "prequential_error", "recent_prequential_nll",
                       "recent_prequential_error", "loo_nll", "loo_error", "loo_calibration", "memory_count"]
            rows = try log.generalization(since: since, limit: limit).map { g in
                [time(g.time), int(g.examplesSeen), num(g.prequentialNLL), num(g.prequentialError), num(g.recentPrequentialNLL),
                 num(g.recentPrequentialError), num(g.looNLL), num(g.looError), num(g.looCalibration), int(g.memoryCount)]
            }
        case .drift:
            columns = ["time", "detector", "series", "statistic", "threshold", "value", "examples_seen"]
            rows = try log.driftEvents(since: since, limit: limit).map { d in
                [time(d.time), .text(d.detector), .text(d.series), num(d.statistic), num(d.threshold), num(d.value), int(d.examplesSeen)]
            }
        case .deadLetters:
            columns = ["time", "message_time", "topic", "partition", "offset", "epoch", "reason", "payload_length", "payload_prefix"]
            rows = try log.deadLetters(since: since, limit: limit).map { d in
                // The stored prefix as text; bytes that are not UTF-8 show as U+FFFD.
                [time(d.time), d.messageTime.map(time) ?? .null, .text(d.position.topic), int(d.position.partition), int(d.position.offset), int(d.position.epoch),
                 .text(d.reason), int(d.payloadLength), .long(String(decoding: d.payloadPrefix, as: UTF8.self))]
            }
        case .events:
            columns = ["time", "kind", "topic", "partition", "epoch", "expected_offset", "found_offset", "message"]
            rows = try log.streamEvents(since: since, limit: limit).map { e in
                [time(e.time), .text(e.kind), e.topicPartition.map { .text($0.topic) } ?? .null, int(e.topicPartition?.partition),
                 int(e.epoch), int(e.expectedOffset), int(e.foundOffset), .text(e.message)]
            }
        case .runs:
            columns = ["id", "started", "stopped", "version", "configuration"]
            // A few rows a restart: filtered here rather than in SQL.
            var runs = try log.runs().filter { run in since.map { run.started >= $0 } ?? true }
            if let limit, runs.count > limit { runs.removeFirst(runs.count - limit) }
            rows = runs.map { r in
                [int(r.id), time(r.started), r.stopped.map(time) ?? .null, .text(r.version), .long(r.configuration)]
            }
        }
    }

    /// Characters of a `.long` cell shown in a table.
    static let clipped = 60

    static func timeText(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    func render(_ format: QueryCommand.Format) -> String {
        switch format {
        case .table: return table()
        case .json: return json()
        case .csv: return csv()
        }
    }

    private func plain(_ cell: Cell) -> String {
        switch cell {
        case .text(let s), .long(let s): return s
        case .integer(let i): return "\(i)"
        case .number(let x): return "\(x)"
        case .null: return ""
        }
    }

    private func table() -> String {
        let shown: [[String]] = rows.map { row in
            row.map { cell in
                // Four significant decimals keep the table readable; json and csv keep every digit.
                if case .number(let x) = cell { return String(format: "%.4g", x) }
                if case .long(let s) = cell {
                    // Control characters (a payload's line breaks, say) would break the layout.
                    let shown = String(s.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? "\u{B7}" : Character($0) })
                    return shown.count > QueryTable.clipped ? shown.prefix(QueryTable.clipped - 1) + "\u{2026}" : shown
                }
                return plain(cell).replacingOccurrences(of: "\n", with: " ")
            }
        }
        var widths = columns.map(\.count)
        for row in shown { for (i, s) in row.enumerated() { widths[i] = max(widths[i], s.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, s in s.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces) + "\n"
        }
        return line(columns) + shown.map(line).joined() + (rows.isEmpty ? "(no rows)\n" : "")
    }

    private func json() -> String {
        let objects = rows.map { row in
            JSONText.object(zip(columns, row).map { name, cell in
                switch cell {
                case .text(let s), .long(let s): return (name, JSONText.string(s))
                case .integer(let i): return (name, "\(i)")
                case .number(let x): return (name, JSONText.number(x))
                case .null: return (name, "null")
                }
            })
        }
        return "[" + objects.joined(separator: ",\n") + "]\n"
    }

    private func csv() -> String {
        func field(_ s: String) -> String {
            s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
                ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        let lines = [columns.joined(separator: ",")] + rows.map { $0.map { field(plain($0)) }.joined(separator: ",") }
        return lines.joined(separator: "\r\n") + "\r\n"
    }
}
