import ArgumentParser
import AuditLog
import Foundation

/// `mpe-monitor backup DEST`: copies the audit log into a new file, consistent as of one
/// committed batch, while a monitor goes on writing it (see `AuditLog.backup(to:)`), then
/// opens the copy as an audit log and says what it holds.
struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy the audit log into a new file, consistent as of one committed batch, also while a monitor writes it; the copy is checked before it appears under its name."
    )

    @Argument(help: "The new file (never replaced if it exists).")
    var destination: String
    @Option(help: "The audit log.")
    var db = "mpe-audit.sqlite"

    func run() throws {
        guard FileManager.default.fileExists(atPath: db) else { throw CommandFailure("no audit log at \(db)") }
        let started = ContinuousClock.now
        let backup: AuditBackup
        do {
            let log = try AuditLog(path: db, options: .init(readOnly: true))
            backup = try log.backup(to: destination)
            try log.close()
        } catch let error as AuditLogError {
            throw CommandFailure("cannot back up \(db) to \(destination): \(error)")
        }
        let elapsed = ContinuousClock.now - started
        // Read back through the audit log's own checks (current schema), as a restore would.
        do {
            let copy = try AuditLog(path: backup.path, options: .init(readOnly: true))
            let offsets = try copy.nextOffsets()
            let checkpoint = try copy.latestCheckpoint()
            print("backed up \(db) to \(backup.path): \(backup.bytes) bytes (\(backup.pages) pages) in "
                  + "\(Fmt.fixed(elapsed.seconds, 2)) s; quick_check ok")
            print("the copy holds \(try copy.count(.examples)) example row(s), \(try copy.count(.alerts)) alert(s), "
                  + "\(try copy.count(.deadLetters)) dead letter(s), next offsets of \(offsets.count) partition(s), "
                  + (checkpoint.map { "newest checkpoint after \($0.examplesSeen) examples" } ?? "no checkpoint"))
            try copy.close()
        } catch let error as AuditLogError {
            throw CommandFailure("the backup at \(backup.path) was written but does not open as an audit log: \(error)")
        }
    }
}
