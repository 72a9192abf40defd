import Foundation
import GRDB

/// What `AuditLog.backup(to:)` wrote: a consistent copy of the log as of one committed batch.
public struct AuditBackup: Sendable, Equatable {
    /// The new file.
    public var path: String
    /// Its size.
    public var bytes: Int64
    /// SQLite pages copied.
    public var pages: Int
}

extension AuditLog {
    /// Copies the log into a new file at `destination`, as of the last batch committed when the
    /// copy began, while a monitor may go on writing: SQLite's online backup reads one snapshot
    /// (a WAL read transaction) and never blocks the writer. A plain `cp` of a live log can catch
    /// the database file between two checkpoints of its WAL and copy a log that fails to open or
    /// holds half a batch; this cannot.
    ///
    /// The copy is written beside `destination` under a temporary name, checked with SQLite's
    /// `quick_check`, and only then linked to `destination`, so a failed or interrupted backup
    /// leaves no file there that looks like a good one. An existing `destination` is never
    /// replaced, not even by a file created while the copy was being made.
    public func backup(to destination: String) throws -> AuditBackup {
        let files = FileManager.default
        guard !files.fileExists(atPath: destination) else {
            throw AuditLogError(.invalidArgument, "\(destination) exists: a backup never replaces a file; name a new one")
        }
        let partial = "\(destination).partial-\(getpid())"
        guard !files.fileExists(atPath: partial) else {
            throw AuditLogError(.invalidArgument, "\(partial) exists (left by an interrupted backup?): remove it and try again")
        }
        // Whatever happened, the temporary name (and any journal SQLite left beside it) goes;
        // after the link the copy lives on under `destination`.
        defer {
            for leftover in [partial, partial + "-journal", partial + "-wal", partial + "-shm"] { unlink(leftover) }
        }
        var pages = 0
        try mapErrors {
            // A rollback-journal database with SQLite's default synchronous=FULL: the copy is on
            // disk when the backup's transaction commits.
            let copy = try DatabaseQueue(path: partial)
            try pool.backup(to: copy) { progress in pages = progress.totalPageCount }
            let problems = try copy.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check") }
            try copy.close()
            guard problems == ["ok"] else {
                throw AuditLogError(.corrupt, "the copy failed SQLite's quick_check: \(problems.prefix(5).joined(separator: "; "))")
            }
        }
        // link(2) fails when the name exists, where rename(2) would replace it.
        guard link(partial, destination) == 0 else {
            let reason = String(cString: strerror(errno))
            throw AuditLogError(.database, "cannot create \(destination): \(reason)")
        }
        Self.syncDirectory(of: destination)
        let size = (try? files.attributesOfItem(atPath: destination)[.size] as? NSNumber)?.int64Value ?? 0
        return AuditBackup(path: destination, bytes: size, pages: pages)
    }

    /// Makes the new directory entry durable (the file's data already is).
    private static func syncDirectory(of path: String) {
        let directory = (path as NSString).deletingLastPathComponent
        guard let handle = FileHandle(forReadingAtPath: directory.isEmpty ? "." : directory) else { return }
        try? handle.synchronize()
        try? handle.close()
    }
}
