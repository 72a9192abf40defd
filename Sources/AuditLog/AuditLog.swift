import Foundation
import GRDB

/// The monitor's SQLite audit log: everything the monitor concluded, with the Kafka offsets
/// and learner checkpoints that make a restart exact. See `AuditSchema` for the tables.
///
/// One `AuditLog` owns a GRDB `DatabasePool` in WAL mode: one writer, and readers (this
/// process's query functions, or `mpe-monitor query` in another process) that see the last
/// committed state without blocking the writer.
///
/// Numbers: every Double is written as itself when finite and as NULL when NaN or ±∞. NULL
/// rather than refusing, because a score the learner could not compute is still a fact about
/// the example, and refusing would fail the whole batch and stall the stream on one number;
/// NULL rather than a sentinel, because SQL aggregates skip NULL and would average a sentinel.
public final class AuditLog: Sendable {
    /// Which examples get a row.
    public enum ExampleMode: String, Sendable, CaseIterable {
        /// One row per processed message (the default).
        case all
        /// Only examples that raised a flag at arrival: for throughput when the per-message
        /// history is not needed. Offsets still advance for every message.
        case flaggedOnly = "flagged-only"
    }

    /// How hard a commit waits for the disk (SQLite `synchronous`).
    public enum Durability: String, Sendable, CaseIterable {
        /// `synchronous=FULL`: a committed batch survives power loss. The default, because
        /// Kafka's committed offsets follow the log and must never lead it.
        case full
        /// `synchronous=NORMAL`: survives a process crash (SIGKILL), may lose the last
        /// commits on power loss (never half of one).
        case normal
    }

    /// How the log is opened.
    public struct Options: Sendable {
        /// Which examples get a row.
        public var examples: ExampleMode
        /// How hard a commit waits for the disk.
        public var durability: Durability
        /// Checkpoints kept when a new one is written (at least 1).
        public var keepCheckpoints: Int
        /// Runs of the processing order deleted at most with each checkpoint (see
        /// `BatchWriter.processingOrderStep`); to keep up it must exceed the runs written
        /// between two checkpoints, at most one a message.
        public var processingOrderStep: Int
        /// See `BatchWriter.processingOrderStep`.
        public static let defaultProcessingOrderStep = 200_000
        /// Open for reading only (no migration; fails unless the log exists and is current).
        public var readOnly: Bool
        /// Bytes the write-ahead log (`-wal` file) is cut back to once it has been checkpointed
        /// (SQLite `journal_size_limit`). The WAL grows past SQLite's 1000-page checkpoint
        /// point while another connection holds a read transaction open (a `sqlite3` shell
        /// inside BEGIN, a long query), since no frame after that reader's snapshot may be
        /// checkpointed; without a limit the file then kept that size for as long as the
        /// monitor ran (117 and 133 MB after a reader held for 3 s, README).
        public var walSizeLimit: Int
        /// The default `walSizeLimit`, 64 MiB: well above what a batch and SQLite's own
        /// checkpoints leave there (about 4 MB plus one transaction), so the file is not cut
        /// and grown again in normal running.
        public static let defaultWALSizeLimit = 64 << 20

        /// Options; the defaults suit the running monitor.
        public init(examples: ExampleMode = .all, durability: Durability = .full, keepCheckpoints: Int = 3, readOnly: Bool = false,
                    processingOrderStep: Int = Options.defaultProcessingOrderStep, walSizeLimit: Int = Options.defaultWALSizeLimit) {
            self.examples = examples
            self.durability = durability
            self.keepCheckpoints = keepCheckpoints
            self.processingOrderStep = processingOrderStep
            self.readOnly = readOnly
            self.walSizeLimit = walSizeLimit
        }
    }

    /// The database file.
    public let path: String
    /// The options it was opened with.
    public let options: Options
    // Internal rather than private: `AuditLog.backup(to:)` (AuditBackup.swift) copies from it.
    let pool: DatabasePool

    /// Opens (creating if needed) the log at `path` and applies pending migrations; reopening
    /// a current log changes nothing.
    public init(path: String, options: Options = Options()) throws {
        guard options.keepCheckpoints >= 1 else {
            throw AuditLogError(.invalidArgument, "keepCheckpoints must be at least 1, got \(options.keepCheckpoints)")
        }
        guard options.walSizeLimit >= 0 else {
            throw AuditLogError(.invalidArgument, "walSizeLimit must be at least 0, got \(options.walSizeLimit)")
        }
        guard options.processingOrderStep >= 1 else {
            throw AuditLogError(.invalidArgument, "processingOrderStep must be at least 1, got \(options.processingOrderStep)")
        }
        self.path = path
        self.options = options
        var configuration = Configuration()
        configuration.readonly = options.readOnly
        // Another process (the query command, a second monitor by mistake) may hold the write
        // lock briefly; wait for it rather than failing at once.
        configuration.busyMode = .timeout(10)
        let synchronous = options.durability == .full ? "FULL" : "NORMAL"
        let walSizeLimit = options.walSizeLimit
        configuration.prepareDatabase { db in
            // journal_size_limit is per connection and acts on the writer's: SQLite cuts the
            // WAL back at the first commit after a checkpoint that took every frame.
            try db.execute(sql: "PRAGMA synchronous = \(synchronous); PRAGMA journal_size_limit = \(walSizeLimit)")
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            let migrator = AuditSchema.migrator
            if options.readOnly {
                let (current, applied) = try pool.read { db in
                    (try migrator.hasCompletedMigrations(db), try migrator.appliedIdentifiers(db))
                }
                guard current else {
                    // A reader never migrates (it may run beside the monitor, which owns the
                    // writes), so a log from an older build is refused with what upgrades it.
                    let missing = migrator.migrations.filter { !applied.contains($0) }
                    throw AuditLogError(.notAnAuditLog, applied.isEmpty
                        ? "\(path) is not an audit log (no schema migrations applied)"
                        : "\(path) is an audit log of an older mpe-monitor (schema migrations \(missing.joined(separator: ", ")) not yet applied): "
                            + "the monitor applies them when it next starts on it")
                }
            } else {
                try migrator.migrate(pool)
            }
        } catch let error as DatabaseError {
            throw AuditLogError(error)
        }
    }

    /// Closes the database; later calls fail.
    public func close() throws {
        try mapErrors { try pool.close() }
    }

    /// The sizes of the log's files on disk, in bytes.
    public struct FileSizes: Sendable, Equatable {
        /// The database file.
        public var database: Int64
        /// The write-ahead log (`-wal`); 0 when there is none.
        public var wal: Int64
    }

    /// The sizes of the log's files now (a file that is not there counts 0): for the gauges
    /// an operator watches the disk and a stuck WAL by.
    public func fileSizes() -> FileSizes {
        func size(_ path: String) -> Int64 {
            var info = stat()
            return stat(path, &info) == 0 ? Int64(info.st_size) : 0
        }
        return FileSizes(database: size(path), wal: size(path + "-wal"))
    }

    // MARK: Writing

    /// Writes everything `batch` produced and the new next offsets in one transaction: all of
    /// it becomes durable, or (on any error, e.g. a position already recorded) none of it
    /// does and the stored offsets do not move.
    @discardableResult
    public func write(_ batch: AuditBatch) throws -> AuditWriteResult {
        let mode = options.examples
        let keep = options.keepCheckpoints, step = options.processingOrderStep
        return try mapErrors {
            try pool.write { db in try BatchWriter.write(batch, mode: mode, keepCheckpoints: keep, orderStep: step, db: db) }
        }
    }

    /// Records the start of a run; returns its id. `configuration` must be a JSON text.
    public func startRun(configuration: String, version: String, at time: Date = Date()) throws -> Int64 {
        try mapErrors {
            try pool.write { db in
                try db.execute(
                    sql: "INSERT INTO runs (configuration, version, started_at) VALUES (?, ?, ?)",
                    arguments: [configuration, version, time.timeIntervalSince1970])
                return db.lastInsertedRowID
            }
        }
    }

    /// Records the clean stop of run `id` (once; a second stop is refused by the schema).
    public func stopRun(_ id: Int64, at time: Date = Date()) throws {
        try mapErrors {
            try pool.write { db in
                try db.execute(sql: "UPDATE runs SET stopped_at = ? WHERE id = ?", arguments: [time.timeIntervalSince1970, id])
                guard db.changesCount == 1 else { throw AuditLogError(.invalidArgument, "no run with id \(id)") }
            }
        }
    }

    /// Marks outbox entries delivered (on the producer's delivery report). Ids already
    /// delivered or unknown are skipped, so a repeated report is harmless; returns how many
    /// entries changed.
    @discardableResult
    public func markDelivered(alertIDs: [String], at time: Date = Date()) throws -> Int {
        try mapErrors {
            try pool.write { db in
                let statement = try db.cachedStatement(sql: "UPDATE alert_outbox SET delivered_at = ? WHERE alert_id = ? AND delivered_at IS NULL")
                var changed = 0
                for id in alertIDs {
                    try statement.execute(arguments: [time.timeIntervalSince1970, id])
                    changed += db.changesCount
                }
                return changed
            }
        }
    }

    /// Removes all but the newest `keepNewest` checkpoints; returns how many went.
    @discardableResult
    public func pruneCheckpoints(keepNewest: Int) throws -> Int {
        guard keepNewest >= 1 else { throw AuditLogError(.invalidArgument, "keepNewest must be at least 1, got \(keepNewest)") }
        let step = options.processingOrderStep
        return try mapErrors { try pool.write { db in try BatchWriter.prune(keep: keepNewest, orderStep: step, db: db) } }
    }

    /// The retention: deletes `examples` rows written before `cutoff` (`pruneExamples`), dead
    /// letters written before `deadLetterCutoff` (`pruneDeadLetters`) and alerts raised before
    /// `alertCutoff` (`pruneAlerts`); nil keeps that table. Outbox entries delivered before
    /// the later of `cutoff` and `alertCutoff` go first (`pruneDeliveredAlerts`): an alert
    /// goes only once its entry has. At most `maxRows` of each (nil: no limit). What the
    /// running monitor does after each checkpoint, and `mpe-monitor prune` by hand. Drift
    /// events and the generalization series are kept: small, and the history people query.
    @discardableResult
    public func prune(olderThan cutoff: Date?, deadLettersOlderThan deadLetterCutoff: Date? = nil,
                      alertsOlderThan alertCutoff: Date? = nil, maxRows: Int? = nil, at time: Date = Date()) throws -> PruneResult {
        var result = PruneResult()
        if let cutoff {
            result = try pruneExamples(olderThan: cutoff, maxRows: maxRows, at: time)
        }
        if let outboxCutoff = [cutoff, alertCutoff].compactMap({ $0 }).max() {
            result.deliveredAlertsDeleted = try pruneDeliveredAlerts(deliveredBefore: outboxCutoff, maxRows: maxRows)
        }
        if let alertCutoff {
            let alerts = try pruneAlerts(olderThan: alertCutoff, maxRows: maxRows, at: time)
            result.alertsDeleted = alerts.rowsDeleted
            result.alertSteps = alerts.steps
        }
        if let deadLetterCutoff {
            let deadLetters = try pruneDeadLetters(olderThan: deadLetterCutoff, maxRows: maxRows, at: time)
            result.deadLettersDeleted = deadLetters.rowsDeleted
            result.deadLetterSteps = deadLetters.steps
        }
        return result
    }

    /// Deletes `examples` rows written before `cutoff`, oldest first, in transactions of at
    /// most `step` rows, each with its `retention` record (the schema refuses the deletion
    /// without one); stops after `maxRows` (nil: no limit). Never deletes a row newer than the
    /// newest checkpoint: what a restart would re-learn stays in the log as it was written.
    /// Returns what went.
    @discardableResult
    public func pruneExamples(olderThan cutoff: Date, step: Int = 20_000, maxRows: Int? = nil, at time: Date = Date()) throws -> PruneResult {
        try inSteps(of: step, maxRows: maxRows) { db, take in
            try BatchWriter.prune(.examples, olderThan: cutoff.timeIntervalSince1970, take: take, at: time.timeIntervalSince1970, db: db)
        }
    }

    /// Deletes `dead_letters` rows written before `cutoff` as `pruneExamples` deletes example
    /// rows: oldest first, in transactions of at most `step` rows, each with its `retention`
    /// record, never past the newest checkpoint; stops after `maxRows` (nil: no limit). Each
    /// row holds up to 4 KiB of the refused payload, so a flood of bad input (an upstream
    /// schema change) would otherwise grow the log by kilobytes a message for as long as it
    /// lasts. Returns what went, in `rowsDeleted` and `steps`.
    @discardableResult
    public func pruneDeadLetters(olderThan cutoff: Date, step: Int = 20_000, maxRows: Int? = nil, at time: Date = Date()) throws -> PruneResult {
        try inSteps(of: step, maxRows: maxRows) { db, take in
            try BatchWriter.prune(.deadLetters, olderThan: cutoff.timeIntervalSince1970, take: take, at: time.timeIntervalSince1970, db: db)
        }
    }

    /// Deletes `alerts` rows raised before `cutoff` as `pruneExamples` deletes example rows,
    /// and stops at the first alert whose outbox entry is still there (see
    /// `pruneDeliveredAlerts`). Off unless asked for: alerts are what the monitor concluded.
    /// An alert raised again after its row went (a re-scored example of the memory, flagged
    /// anew) is recorded and sent again, under the same id. Returns what went.
    @discardableResult
    public func pruneAlerts(olderThan cutoff: Date, step: Int = 20_000, maxRows: Int? = nil, at time: Date = Date()) throws -> PruneResult {
        try inSteps(of: step, maxRows: maxRows) { db, take in
            try BatchWriter.prune(.alerts, olderThan: cutoff.timeIntervalSince1970, take: take, at: time.timeIntervalSince1970, db: db)
        }
    }

    /// Deletes outbox entries delivered before `cutoff`, oldest first, in transactions of at
    /// most `step` entries; stops after `maxRows` (nil: no limit). A delivered entry has done
    /// its work: the alert stays in `alerts`, and a repeat is recognised there, not here. Kept,
    /// the entries grow the log by a copy of every alert's payload for ever, the largest part
    /// of what still grew once `examples` had a retention. Undelivered entries always stay (they
    /// are re-sent at the next start). Returns the entries deleted; no `retention` record is
    /// written, as the outbox is a queue, not history.
    @discardableResult
    public func pruneDeliveredAlerts(deliveredBefore cutoff: Date, step: Int = 20_000, maxRows: Int? = nil) throws -> Int {
        try inSteps(of: step, maxRows: maxRows) { db, take in
            try BatchWriter.pruneDeliveredAlerts(deliveredBefore: cutoff.timeIntervalSince1970, take: take, db: db)
        }.rowsDeleted
    }

    /// Runs `deleteStep` (which deletes at most `take` rows and returns how many, nil for
    /// none) in one transaction each, until a step deletes fewer than it was allowed or
    /// `maxRows` have gone: short transactions, so a monitor writing the log waits little.
    private func inSteps(of step: Int, maxRows: Int?, _ deleteStep: (Database, Int) throws -> Int?) throws -> PruneResult {
        guard step >= 1 else { throw AuditLogError(.invalidArgument, "step must be at least 1, got \(step)") }
        var result = PruneResult()
        while maxRows.map({ result.rowsDeleted < $0 }) ?? true {
            let take = min(step, maxRows.map { $0 - result.rowsDeleted } ?? step)
            guard let deleted = try mapErrors({ try pool.write { db in try deleteStep(db, take) } }) else { break }
            result.rowsDeleted += deleted
            result.steps += 1
            if deleted < take { break }
        }
        return result
    }

    // MARK: Reading (each call sees one committed state)

    /// The stored next offset of every partition.
    public func nextOffsets() throws -> [TopicPartition: Int64] { try perPartition("next_offset") }

    /// The stored log epoch of every partition (see `MessagePosition.epoch`).
    public func epochs() throws -> [TopicPartition: Int64] { try perPartition("epoch") }

    /// One integer column of `partition_offsets`, by partition.
    private func perPartition(_ column: String) throws -> [TopicPartition: Int64] {
        try read { db in
            var values: [TopicPartition: Int64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT topic, partition, \(column) FROM partition_offsets") {
                values[TopicPartition(topic: row[0], partition: row[1])] = row[2]
            }
            return values
        }
    }

    /// The recorded processing order from `starts` on: every run of a partition named in
    /// `starts` (with its log epoch) that reaches past its start offset, clipped to begin
    /// there, in the order the runs were processed. After a restart these are the messages
    /// between the checkpoint and the stored next offsets.
    public func processingOrder(from starts: [TopicPartition: (offset: Int64, epoch: Int64)]) throws -> [ProcessingRun] {
        try read { db in
            var found: [(id: Int64, run: ProcessingRun)] = []
            for (place, start) in starts {
                let rows = try Row.fetchAll(db, sql: """
                    SELECT id, first_offset, count FROM processing_order
                    WHERE topic = ?1 AND partition = ?2 AND epoch = ?3 AND first_offset + count > ?4
                      AND first_offset >= COALESCE((SELECT MAX(first_offset) FROM processing_order
                                                    WHERE topic = ?1 AND partition = ?2 AND epoch = ?3 AND first_offset <= ?4), ?4)
                    """, arguments: [place.topic, place.partition, start.epoch, start.offset])
                for row in rows {
                    let first: Int64 = row[1]
                    let count: Int64 = row[2]
                    let from = max(first, start.offset)
                    found.append((row[0], ProcessingRun(topicPartition: place, epoch: start.epoch, firstOffset: from, count: first + count - from)))
                }
            }
            return found.sorted { $0.id < $1.id }.map(\.run)
        }
    }

    /// The newest checkpoint, or nil when none was written.
    public func latestCheckpoint() throws -> Checkpoint? {
        try checkpoints(limit: 1).first
    }

    /// The newest `limit` checkpoints (all when nil), newest first.
    public func checkpoints(limit: Int? = nil) throws -> [Checkpoint] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT id, created_at, examples_seen, offsets, snapshot FROM checkpoints ORDER BY id DESC LIMIT ?",
                             arguments: [limit ?? -1]).map { row in
                let snapshot: Data = row[4]
                let offsetsText: String = row[3]
                let positions: (offsets: [TopicPartition: Int64], epochs: [TopicPartition: Int64])
                do { positions = try OffsetsJSON.decode(offsetsText) } catch {
                    throw AuditLogError(.corrupt, "checkpoint \(row[0] as Int64) has unreadable offsets: \(error)")
                }
                return Checkpoint(id: row[0], created: Self.date(row[1]), examplesSeen: row[2], offsets: positions.offsets,
                                  epochs: positions.epochs, snapshot: [UInt8](snapshot))
            }
        }
    }

    /// Outbox entries not yet delivered, oldest first (the order to publish them in).
    public func undeliveredAlerts(limit: Int? = nil) throws -> [OutboxEntry] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT alert_id, payload FROM alert_outbox WHERE delivered_at IS NULL ORDER BY rowid LIMIT ?",
                             arguments: [limit ?? -1]).map { OutboxEntry(alertID: $0[0], payload: $0[1]) }
        }
    }

    /// Every run, oldest first.
    public func runs() throws -> [RunRecord] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT id, configuration, version, started_at, stopped_at FROM runs ORDER BY id").map { row in
                RunRecord(id: row[0], configuration: row[1], version: row[2], started: Self.date(row[3]),
                          stopped: (row[4] as Double?).map(Date.init(timeIntervalSince1970:)))
            }
        }
    }

    /// The newest `limit` alerts (all when nil) raised at or after `since`, oldest first;
    /// only those of `kind` when given.
    public func alerts(since: Date? = nil, kind: AlertKind? = nil, limit: Int? = nil) throws -> [AlertRecord] {
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM (
                    SELECT id, alert_id, kind, CAST(example_id AS BLOB), topic, partition, offset, given_label, predicted_label,
                           label_quality, memorization, sensitivity, curvature, examples_seen, reason, time, epoch, message_time
                    FROM alerts WHERE time >= ? AND (? IS NULL OR kind = ?) ORDER BY id DESC LIMIT ?
                ) ORDER BY id
                """, arguments: [Self.seconds(since), kind?.rawValue, kind?.rawValue, limit ?? -1]).map(Self.alert)
        }
    }

    /// The examples with the lowest label quality (`top_suspects`: each example id's latest
    /// row), lowest first; with `since`, each id's latest row among those written at or after
    /// it (the same rows, unless the clock stepped back).
    public func suspects(since: Date? = nil, limit: Int? = nil) throws -> [ExampleRecord] {
        try read { db in
            guard let since else {
                return try Row.fetchAll(db, sql: "SELECT \(Self.exampleColumns) FROM top_suspects LIMIT ?",
                                        arguments: [limit ?? -1]).map(Self.example)
            }
            return try Row.fetchAll(db, sql: Self.suspectsSince, arguments: [since.timeIntervalSince1970, limit ?? -1]).map(Self.example)
        }
    }

    /// The newest `limit` generalization snapshots since `since`, oldest first.
    public func generalization(since: Date? = nil, limit: Int? = nil) throws -> [GeneralizationRecord] {
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM (
                    SELECT id, examples_seen, memory_count, prequential_nll, prequential_error, recent_prequential_nll,
                           recent_prequential_error, loo_nll, loo_error, time, loo_calibration
                    FROM generalization WHERE time >= ? ORDER BY id DESC LIMIT ?
                ) ORDER BY id
                """, arguments: [Self.seconds(since), limit ?? -1]).map(Self.generalization)
        }
    }

    /// The newest generalization snapshot (`latest_generalization`).
    public func latestGeneralization() throws -> GeneralizationRecord? {
        try read { db in
            try Row.fetchOne(db, sql: """
                SELECT id, examples_seen, memory_count, prequential_nll, prequential_error, recent_prequential_nll,
                       recent_prequential_error, loo_nll, loo_error, time, loo_calibration FROM latest_generalization
                """).map(Self.generalization)
        }
    }

    /// The newest `limit` detector firings since `since`, oldest first.
    public func driftEvents(since: Date? = nil, limit: Int? = nil) throws -> [DriftRecord] {
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM (
                    SELECT id, detector, series, statistic, threshold, value, examples_seen, time
                    FROM drift_events WHERE time >= ? ORDER BY id DESC LIMIT ?
                ) ORDER BY id
                """, arguments: [Self.seconds(since), limit ?? -1]).map { row in
                DriftRecord(detector: row[1], series: row[2], statistic: Self.real(row[3]), threshold: Self.real(row[4]),
                            value: Self.real(row[5]), examplesSeen: row[6], time: Self.date(row[7]))
            }
        }
    }

    /// The newest `limit` dead letters since `since`, oldest first.
    public func deadLetters(since: Date? = nil, limit: Int? = nil) throws -> [DeadLetterRecord] {
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM (
                    SELECT id, topic, partition, offset, payload_prefix, payload_length, reason, time, epoch, message_time
                    FROM dead_letters WHERE time >= ? ORDER BY id DESC LIMIT ?
                ) ORDER BY id
                """, arguments: [Self.seconds(since), limit ?? -1]).map { row in
                let prefix: Data = row[4]
                return DeadLetterRecord(position: MessagePosition(topic: row[1], partition: row[2], offset: row[3], epoch: row[8]),
                                        payloadPrefix: [UInt8](prefix), payloadLength: row[5], reason: row[6], time: Self.date(row[7]),
                                        messageTime: (row[9] as Double?).map(Self.date))
            }
        }
    }

    /// The newest `limit` stream events since `since`, oldest first.
    public func streamEvents(since: Date? = nil, limit: Int? = nil) throws -> [StreamEventRecord] {
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM (
                    SELECT id, kind, topic, partition, expected_offset, found_offset, message, time, epoch
                    FROM stream_events WHERE time >= ? ORDER BY id DESC LIMIT ?
                ) ORDER BY id
                """, arguments: [Self.seconds(since), limit ?? -1]).map { row in
                let topic: String? = row[2]
                let partition: Int32? = row[3]
                let place = topic.flatMap { t in partition.map { TopicPartition(topic: t, partition: $0) } }
                return StreamEventRecord(kind: row[1], topicPartition: place, expectedOffset: row[4], foundOffset: row[5],
                                         epoch: row[8], message: row[6], time: Self.date(row[7]))
            }
        }
    }

    /// Alert counts per UTC hour and kind (`alerts_per_hour`), oldest hour first.
    public func alertsPerHour() throws -> [AlertHour] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT hour, kind, alerts FROM alerts_per_hour").map { row in
                let kind: String = row[1]
                guard let known = AlertKind(rawValue: kind) else { throw AuditLogError(.corrupt, "unknown alert kind \(kind)") }
                return AlertHour(hour: row[0], kind: known, count: row[2])
            }
        }
    }

    /// How many rows `table` holds (for status lines and tests).
    public func count(_ table: AuditTable) throws -> Int {
        try read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table.rawValue)") ?? 0 }
    }

    // MARK: Helpers

    private func read<T>(_ body: @Sendable (Database) throws -> T) throws -> T {
        try mapErrors { try pool.read(body) }
    }

    func mapErrors<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as DatabaseError { throw AuditLogError(error) }
    }

    /// The columns `example(_:)` reads, in its order. The id comes as its bytes (see `text(_:)`).
    static let exampleColumns = """
        CAST(example_id AS BLOB), topic, partition, offset, given_label, predicted_label, prequential_probability,
        prequential_nll, label_quality, memorization, sensitivity, curvature, flagged, time, epoch, message_time
        """

    /// `top_suspects` over the rows written at or after `?1`, at most `?2` of them. The rows
    /// come as a rowid range that starts at the first batch that may hold one (see the table
    /// `example_batches`; past every row when none may): a filter on the view would group the
    /// whole table by example id first. The index is named: by the primary key SQLite would
    /// walk every batch before the window (one a message at a trickle) to find the first in it.
    static let suspectsSince = """
        SELECT \(exampleColumns) FROM examples e
        JOIN (SELECT MAX(id) AS id FROM examples
              WHERE id >= COALESCE((SELECT MIN(first_id) FROM example_batches INDEXED BY example_batches_time WHERE time >= ?1), 9223372036854775807)
                AND time >= ?1
              GROUP BY example_id) latest ON latest.id = e.id
        WHERE e.label_quality IS NOT NULL
        ORDER BY e.label_quality ASC, e.id ASC LIMIT ?2
        """

    /// `since` as the lower bound of `time` (everything when nil).
    private static func seconds(_ since: Date?) -> Double { since?.timeIntervalSince1970 ?? -Double.greatestFiniteMagnitude }

    static func date(_ seconds: Double) -> Date { Date(timeIntervalSince1970: seconds) }

    /// A text column read as its bytes (`CAST(… AS BLOB)`): GRDB reads a text column as a C
    /// string, which would end an example id at an embedded U+0000 that the writer kept.
    static func text(_ bytes: Data) -> String { String(decoding: bytes, as: UTF8.self) }

    /// NULL (a non-finite value when written) reads back as NaN.
    static func real(_ value: Double?) -> Double { value ?? .nan }

    private static func alert(_ row: Row) throws -> AlertRecord {
        let kind: String = row[2]
        guard let known = AlertKind(rawValue: kind) else { throw AuditLogError(.corrupt, "unknown alert kind \(kind)") }
        let topic: String? = row[4]
        let partition: Int32? = row[5]
        let offset: Int64? = row[6]
        var position: MessagePosition?
        if let topic, let partition, let offset {
            position = MessagePosition(topic: topic, partition: partition, offset: offset, epoch: (row[16] as Int64?) ?? 0)
        }
        return AlertRecord(
            alertID: row[1], kind: known, exampleID: (row[3] as Data?).map(text), position: position, givenLabel: row[7], predictedLabel: row[8],
            labelQuality: row[9], memorization: row[10], sensitivity: row[11], curvature: row[12], examplesSeen: row[13],
            reason: row[14], time: date(row[15]), messageTime: (row[17] as Double?).map(date))
    }

    private static func example(_ row: Row) -> ExampleRecord {
        ExampleRecord(
            exampleID: text(row[0]), position: MessagePosition(topic: row[1], partition: row[2], offset: row[3], epoch: row[14]),
            givenLabel: real(row[4]), predictedLabel: real(row[5]), prequentialProbability: real(row[6]),
            prequentialNLL: real(row[7]), labelQuality: real(row[8]), memorization: real(row[9]),
            sensitivity: real(row[10]), curvature: real(row[11]), flagged: row[12], time: date(row[13]),
            messageTime: (row[15] as Double?).map(date))
    }

    private static func generalization(_ row: Row) -> GeneralizationRecord {
        GeneralizationRecord(
            examplesSeen: row[1], memoryCount: row[2], prequentialNLL: real(row[3]), prequentialError: real(row[4]),
            recentPrequentialNLL: real(row[5]), recentPrequentialError: real(row[6]), looNLL: real(row[7]),
            looError: real(row[8]), looCalibration: row[10], time: date(row[9]))
    }
}

/// What `AuditLog.prune`, `AuditLog.pruneExamples`, `AuditLog.pruneDeadLetters` or
/// `AuditLog.pruneAlerts` deleted.
public struct PruneResult: Sendable, Equatable {
    /// Example rows deleted (dead letters, from `pruneDeadLetters`).
    public var rowsDeleted = 0
    /// Transactions that deleted those rows (each with its `retention` record).
    public var steps = 0
    /// Delivered outbox entries deleted (`AuditLog.prune` only).
    public var deliveredAlertsDeleted = 0
    /// Dead letters deleted (`AuditLog.prune` only).
    public var deadLettersDeleted = 0
    /// Transactions that deleted dead letters (`AuditLog.prune` only).
    public var deadLetterSteps = 0
    /// Alerts deleted (`AuditLog.prune` only).
    public var alertsDeleted = 0
    /// Transactions that deleted alerts (`AuditLog.prune` only).
    public var alertSteps = 0
}

/// The tables a retention may prune, each deletion behind a `retention` record naming it.
public enum RetainedTable: String, Sendable, CaseIterable {
    case examples
    case deadLetters = "dead_letters"
    case alerts
}

/// The log's tables, for `AuditLog.count`.
public enum AuditTable: String, Sendable, CaseIterable {
    case runs, examples, alerts, generalization, checkpoints, retention
    case alertOutbox = "alert_outbox"
    case driftEvents = "drift_events"
    case deadLetters = "dead_letters"
    case streamEvents = "stream_events"
    case partitionOffsets = "partition_offsets"
    case processingOrder = "processing_order"
}

/// Why an audit-log call failed. SQLite's own errors are carried as text, so that callers
/// need not import GRDB.
public struct AuditLogError: Error, Sendable, CustomStringConvertible {
    /// The broad cause.
    public enum Kind: Sendable, Equatable {
        /// A constraint refused the write: a position or alert id already recorded, an
        /// append-only table touched, a value out of range. The transaction was rolled back.
        case constraintViolation
        /// The file is not an audit log of this version.
        case notAnAuditLog
        /// A stored value could not be read back.
        case corrupt
        /// The caller passed something unusable.
        case invalidArgument
        /// Any other SQLite failure (I/O, busy, full disk…).
        case database
    }

    /// The broad cause.
    public var kind: Kind
    /// SQLite's or the log's message.
    public var message: String

    init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    init(_ error: DatabaseError) {
        kind = error.resultCode == .SQLITE_CONSTRAINT ? .constraintViolation : .database
        message = error.message ?? "\(error)"
    }

    public var description: String { message }
}
