import ArgumentParser
import AuditLog
import Foundation

/// `mpe-monitor prune --older-than 30d`: deletes `examples` rows and dead letters written
/// before a cut-off from the audit log, each step recorded in its `retention` table, and the
/// outbox entries delivered before it (the alerts themselves stay in `alerts` unless
/// `--alerts-older-than` is given). Safe while a monitor writes the log: it works in
/// transactions of 20,000 rows, and never past the newest checkpoint. For a running monitor
/// `--examples-retention` (and `--dead-letter-retention`, `--alert-retention`) does the same
/// by itself after each checkpoint.
struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Delete example rows and dead letters (and, when asked, alerts) older than an age from the audit log (each step recorded in its retention table), and outbox entries delivered before it."
    )

    @Option(help: "The audit log.")
    var db = "mpe-audit.sqlite"
    @Option(name: .customLong("older-than"), help: "Delete example rows written before this: an age (90s, 30m, 6h, 30d) or an ISO 8601 time (2025-06-15T15:00:00Z, 2025-06-15).")
    var olderThan: String
    @Option(name: .customLong("dead-letters-older-than"), help: "Delete dead letters written before this (an age or an ISO 8601 time), or keep them: keep (default: as --older-than).")
    var deadLettersOlderThan: String?
    @Option(name: .customLong("alerts-older-than"), help: "Delete alerts raised before this (an age or an ISO 8601 time) whose outbox entry is gone, or keep them: keep (default).")
    var alertsOlderThan: String?

    private static let expected = "expected an age (90s, 30m, 6h, 30d) or an ISO 8601 time (2025-06-15T15:00:00Z, 2025-06-15)"

    func validate() throws {
        if QueryCommand.parseSince(olderThan, now: Date()) == nil {
            throw ValidationError("--older-than \(olderThan): \(Self.expected)")
        }
        if let deadLettersOlderThan, deadLettersOlderThan != "keep", QueryCommand.parseSince(deadLettersOlderThan, now: Date()) == nil {
            throw ValidationError("--dead-letters-older-than \(deadLettersOlderThan): \(Self.expected), or keep")
        }
        if let alertsOlderThan, alertsOlderThan != "keep", QueryCommand.parseSince(alertsOlderThan, now: Date()) == nil {
            throw ValidationError("--alerts-older-than \(alertsOlderThan): \(Self.expected), or keep")
        }
    }

    func run() throws {
        guard FileManager.default.fileExists(atPath: db) else { throw CommandFailure("no audit log at \(db)") }
        let now = Date()
        guard let cutoff = QueryCommand.parseSince(olderThan, now: now) else { throw ValidationError("--older-than \(olderThan)") }
        let deadLetterCutoff: Date?
        switch deadLettersOlderThan {
        case nil: deadLetterCutoff = cutoff
        case "keep": deadLetterCutoff = nil
        case let text?:
            guard let date = QueryCommand.parseSince(text, now: now) else { throw ValidationError("--dead-letters-older-than \(text)") }
            deadLetterCutoff = date
        }
        var alertCutoff: Date?
        if let alertsOlderThan, alertsOlderThan != "keep" {
            guard let date = QueryCommand.parseSince(alertsOlderThan, now: now) else { throw ValidationError("--alerts-older-than \(alertsOlderThan)") }
            alertCutoff = date
        }
        do {
            let log = try AuditLog(path: db)
            let pruned = try log.prune(olderThan: cutoff, deadLettersOlderThan: deadLetterCutoff, alertsOlderThan: alertCutoff, at: now)
            let delivered = pruned.deliveredAlertsDeleted
            let remaining = try log.count(.examples)
            print("pruned \(pruned.rowsDeleted) example row(s) written before \(QueryTable.timeText(cutoff)) in \(pruned.steps) step(s) "
                  + "(table retention); \(remaining) remain; and \(delivered) outbox entr\(delivered == 1 ? "y" : "ies") delivered before it "
                  + (alertCutoff == nil ? "(their alerts stay in table alerts)" : "or before the alerts' cut-off"))
            if let deadLetterCutoff {
                print("pruned \(pruned.deadLettersDeleted) dead letter(s) written before \(QueryTable.timeText(deadLetterCutoff)) in "
                      + "\(pruned.deadLetterSteps) step(s) (table retention); \(try log.count(.deadLetters)) remain")
            } else {
                print("dead letters kept: \(try log.count(.deadLetters))")
            }
            if let alertCutoff {
                print("pruned \(pruned.alertsDeleted) alert(s) raised before \(QueryTable.timeText(alertCutoff)) in \(pruned.alertSteps) "
                      + "step(s) (table retention); \(try log.count(.alerts)) remain")
            }
            try log.close()
        } catch let error as AuditLogError {
            throw CommandFailure("cannot prune \(db): \(error)")
        }
    }
}
