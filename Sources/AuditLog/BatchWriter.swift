import Foundation
import GRDB
import GRDBSQLite

/// The inserts of one batch, inside the writer's transaction.
///
/// Why prepared statements and not Codable records: the monitor aims at >= 250k messages/s
/// end to end, and the examples insert runs once per message. GRDB's record API encodes each
/// row through a container and rebuilds the INSERT per call (measured ~60k rows/s here); one
/// statement per table, prepared once per connection (`cachedStatement`) and re-bound per row,
/// avoids both (~200k rows/s for a raw statement; see `audit-bench` for this writer's figure).
///
/// The examples insert goes one step further and binds through the cached statement's
/// `sqliteStatement` with the C API: `execute(arguments:)` builds a `StatementArguments` of
/// existential values per row, which measured 0.67x of raw sqlite3 on 1M rows; binding
/// directly removes that. This bypasses GRDB only between its own `BEGIN` and `COMMIT`, for
/// an INSERT that cannot change the transaction state, so GRDB's bookkeeping stays right.
enum BatchWriter {
    static let insertExample = """
        INSERT INTO examples (example_id, topic, partition, offset, given_label, predicted_label, prequential_probability,
                              prequential_nll, label_quality, memorization, sensitivity, curvature, flagged, time, epoch, id, message_time)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    /// The id the next row of `table` must take, when the retention has emptied the table:
    /// one past the last id it deleted. SQLite gives a new row one more than the largest id
    /// in the table, and 1 in an empty one, so after a prune that took every row (a quiet
    /// topic past its retention, `prune --older-than` by hand) ids began again at 1: the next
    /// batch of examples failed on `example_batches`' key and stopped the monitor, and a
    /// reader following `id` (alerts since the last one it saw) would have missed new rows.
    /// nil: the table has rows, or never lost any, and SQLite's choice is right (an id bound
    /// as NULL). One lookup on the id's b-tree a batch.
    static func seedID(_ table: RetainedTable, db: Database) throws -> Int64? {
        guard try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM \(table.rawValue)") == nil else { return nil }
        return try Int64.fetchOne(db, sql: "SELECT MAX(up_to_id) FROM retention WHERE table_name = ?", arguments: [table.rawValue]).map { $0 + 1 }
    }

    static func write(_ batch: AuditBatch, mode: AuditLog.ExampleMode, keepCheckpoints: Int, orderStep: Int = processingOrderStep, db: Database) throws -> AuditWriteResult {
        var result = AuditWriteResult(examplesWritten: 0, checkpointID: nil, checkpointsPruned: 0)
        let batchTime = batch.time.timeIntervalSince1970

        if !batch.examples.isEmpty {
            let statement = try db.cachedStatement(sql: insertExample)
            let s = statement.sqliteStatement
            // SQLITE_TRANSIENT (SQLite copies the text), for the one case `withText` has no buffer.
            let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
            @inline(__always) func real(_ index: Int32, _ x: Double) {
                if x.isFinite { sqlite3_bind_double(s, index, x) } else { sqlite3_bind_null(s, index) }
            }
            defer { sqlite3_reset(s); sqlite3_clear_bindings(s) }
            var firstExampleID: Int64?
            var seed = try seedID(.examples, db: db)
            var latestExampleTime = -Double.greatestFiniteMagnitude
            /// Binds a text parameter without a copy (SQLITE_STATIC): the bytes stay valid, and
            /// unchanged, until `body` (which steps the statement) returns. SQLITE_TRANSIENT had
            /// SQLite allocate and copy both strings of every row (`audit-bench 300000 5000
            /// full`, builds alternated: 539,700 rows/s with the copies, 590,500 without).
            @inline(__always) func withText<R>(_ text: String, _ index: Int32, _ body: () throws -> R) rethrows -> R {
                var text = text
                return try text.withUTF8 { bytes in
                    if let base = bytes.baseAddress {
                        sqlite3_bind_text(s, index, UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self), Int32(bytes.count), nil)
                    } else {
                        sqlite3_bind_text(s, index, "", 0, transient)
                    }
                    return try body()
                }
            }
            for e in batch.examples where mode == .all || e.flagged {
                sqlite3_bind_int64(s, 3, Int64(e.position.partition))
                sqlite3_bind_int64(s, 4, e.position.offset)
                real(5, e.givenLabel)
                real(6, e.predictedLabel)
                real(7, e.prequentialProbability)
                real(8, e.prequentialNLL)
                real(9, e.labelQuality)
                real(10, e.memorization)
                real(11, e.sensitivity)
                real(12, e.curvature)
                sqlite3_bind_int64(s, 13, e.flagged ? 1 : 0)
                sqlite3_bind_double(s, 14, e.time.timeIntervalSince1970)
                sqlite3_bind_int64(s, 15, e.position.epoch)
                real(17, e.messageTime?.timeIntervalSince1970 ?? .nan)  // NULL: the message had no timestamp
                // The id stays NULL (SQLite's choice) but for a seeded first row, bound once and
                // unbound after it: bindings outlive `sqlite3_reset`, and every batch ends with
                // `sqlite3_clear_bindings` (the defer above), so a batch starts with NULL.
                if let id = seed { sqlite3_bind_int64(s, 16, id) }
                let code = withText(e.exampleID, 1) { withText(e.position.topic, 2) { sqlite3_step(s) } }
                guard code == SQLITE_DONE else {
                    let message = String(cString: sqlite3_errmsg(db.sqliteConnection))
                    throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: insertExample)
                }
                sqlite3_reset(s)
                if seed != nil { sqlite3_bind_null(s, 16); seed = nil }
                if result.examplesWritten == 0 { firstExampleID = sqlite3_last_insert_rowid(db.sqliteConnection) }
                latestExampleTime = max(latestExampleTime, e.time.timeIntervalSince1970)
                result.examplesWritten += 1
            }
            if let firstExampleID {
                // Where this batch's rows begin, for reads since a time (see `example_batches`).
                try db.cachedStatement(sql: "INSERT INTO example_batches (first_id, time) VALUES (?, ?)")
                    .execute(arguments: [firstExampleID, latestExampleTime])
            }
        }

        if !batch.alerts.isEmpty {
            let alert = try db.cachedStatement(sql: """
                INSERT INTO alerts (alert_id, kind, example_id, topic, partition, offset, given_label, predicted_label,
                                    label_quality, memorization, sensitivity, curvature, examples_seen, reason, time, epoch, id, message_time)
                VALUES (?, ?, CAST(? AS TEXT), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (alert_id) DO NOTHING
                """)
            let outbox = try db.cachedStatement(sql: "INSERT INTO alert_outbox (alert_id, payload) VALUES (?, ?)")
            // Kept until a row is inserted: a repeat inserts nothing.
            var seed = try seedID(.alerts, db: db)
            for (index, a) in batch.alerts.enumerated() {
                // The example id goes in as its UTF-8 bytes, cast to text in SQL: GRDB binds a
                // String as a C string, which cut an id holding U+0000 at the NUL (the examples
                // insert binds by length; the two must agree for a join on example_id).
                try alert.execute(arguments: [
                    a.alertID, a.kind.rawValue, a.exampleID.map { Data($0.utf8) }, a.position?.topic, a.position?.partition, a.position?.offset,
                    finite(a.givenLabel), finite(a.predictedLabel), finite(a.labelQuality), finite(a.memorization),
                    finite(a.sensitivity), finite(a.curvature), a.examplesSeen, a.reason, a.time.timeIntervalSince1970,
                    a.position?.epoch, seed, finite(a.messageTime?.timeIntervalSince1970),
                ])
                // An id already recorded is the same alert raised again (its id is kind and
                // message position): after a broker lost data a restarted learner cannot replay
                // what it had learned, and may flag an old example a second time. History keeps
                // the first; failing the batch would stop the monitor on a repeat.
                guard db.changesCount == 1 else {
                    result.repeatedAlerts.append(index)
                    continue
                }
                seed = nil
                try outbox.execute(arguments: [a.alertID, a.jsonPayload])
            }
        }

        if !batch.generalization.isEmpty {
            let statement = try db.cachedStatement(sql: """
                INSERT INTO generalization (examples_seen, memory_count, prequential_nll, prequential_error,
                                            recent_prequential_nll, recent_prequential_error, loo_nll, loo_error, time,
                                            loo_calibration)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for g in batch.generalization {
                try statement.execute(arguments: [
                    g.examplesSeen, g.memoryCount, finite(g.prequentialNLL), finite(g.prequentialError),
                    finite(g.recentPrequentialNLL), finite(g.recentPrequentialError), finite(g.looNLL), finite(g.looError),
                    g.time.timeIntervalSince1970, finite(g.looCalibration),
                ])
            }
        }

        if !batch.driftEvents.isEmpty {
            let statement = try db.cachedStatement(sql: """
                INSERT INTO drift_events (detector, series, statistic, threshold, value, examples_seen, time)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """)
            for d in batch.driftEvents {
                try statement.execute(arguments: [
                    d.detector, d.series, finite(d.statistic), finite(d.threshold), finite(d.value), d.examplesSeen,
                    d.time.timeIntervalSince1970,
                ])
            }
        }

        if !batch.deadLetters.isEmpty {
            let statement = try db.cachedStatement(sql: """
                INSERT INTO dead_letters (topic, partition, offset, payload_prefix, payload_length, reason, time, epoch, id, message_time)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            var seed = try seedID(.deadLetters, db: db)
            for d in batch.deadLetters {
                // The record's initializers cap the prefix; a record built field by field
                // might not, and the schema's CHECK would then fail the batch, so cap again.
                let prefix = Data(d.payloadPrefix.prefix(DeadLetterRecord.prefixCapacity))
                try statement.execute(arguments: [
                    d.position.topic, d.position.partition, d.position.offset, prefix, max(d.payloadLength, prefix.count),
                    d.reason, d.time.timeIntervalSince1970, d.position.epoch, seed, finite(d.messageTime?.timeIntervalSince1970),
                ])
                seed = nil
            }
        }

        if !batch.streamEvents.isEmpty {
            let statement = try db.cachedStatement(sql: """
                INSERT INTO stream_events (kind, topic, partition, expected_offset, found_offset, message, time, epoch)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for s in batch.streamEvents {
                try statement.execute(arguments: [
                    s.kind, s.topicPartition?.topic, s.topicPartition?.partition, s.expectedOffset, s.foundOffset,
                    s.message, s.time.timeIntervalSince1970, s.epoch,
                ])
            }
        }

        if !batch.order.isEmpty {
            let statement = try db.cachedStatement(sql: """
                INSERT INTO processing_order (topic, partition, epoch, first_offset, count) VALUES (?, ?, ?, ?, ?)
                """)
            for run in batch.order {
                try statement.execute(arguments: [run.topicPartition.topic, run.topicPartition.partition, run.epoch, run.firstOffset, run.count])
            }
        }

        if !batch.nextOffsets.isEmpty {
            // Any value is accepted, including one below the stored offset: after a broker
            // lost its data the pipeline moves on from a smaller offset in a new log epoch, and
            // records a stream event saying so. Offsets themselves are not history. A partition
            // without an epoch in the batch keeps its stored one (0 when new).
            let statement = try db.cachedStatement(sql: """
                INSERT INTO partition_offsets (topic, partition, next_offset, updated_at, epoch) VALUES (?1, ?2, ?3, ?4, COALESCE(?5, 0))
                ON CONFLICT (topic, partition) DO UPDATE SET next_offset = ?3, updated_at = ?4, epoch = COALESCE(?5, epoch)
                """)
            for (place, offset) in batch.nextOffsets.sorted(by: { $0.key < $1.key }) {
                try statement.execute(arguments: [place.topic, place.partition, offset, batchTime, batch.epochs[place]])
            }
        }

        if let checkpoint = batch.checkpoint {
            // The snapshot corresponds to every partition's next offset after this batch, so
            // the offsets come from the table, read inside the same transaction.
            var offsets: [TopicPartition: Int64] = [:]
            var epochs: [TopicPartition: Int64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT topic, partition, next_offset, epoch FROM partition_offsets") {
                let place = TopicPartition(topic: row[0], partition: row[1])
                offsets[place] = row[2]
                epochs[place] = row[3]
            }
            // The batch's own runs are already in: they precede the checkpoint's offsets.
            try db.execute(
                sql: """
                    INSERT INTO checkpoints (created_at, examples_seen, offsets, snapshot, order_id)
                    VALUES (?, ?, ?, ?, (SELECT COALESCE(MAX(id), 0) FROM processing_order))
                    """,
                arguments: [batchTime, checkpoint.examplesSeen, OffsetsJSON.encode(offsets, epochs: epochs), Data(checkpoint.snapshot)])
            result.checkpointID = db.lastInsertedRowID
            result.checkpointsPruned = try prune(keep: keepCheckpoints, orderStep: orderStep, db: db)
        }
        return result
    }

    /// One pruning step: up to `take` of the oldest rows of `table` written before `cutoff` and
    /// no later than the newest checkpoint (rows of the checkpoint's own batch share its
    /// time), deleted after their `retention` record is inserted (the delete trigger checks
    /// it). Rows are taken in id order and the step ends at the first row not old enough, so a
    /// clock that stepped back cannot carry a newer row along. An alert also ends the step
    /// while its outbox entry is there (undelivered, or delivered after the outbox's cut-off):
    /// the entry refers to it, and is what re-sends it. Returns nil when nothing was old
    /// enough, else the rows deleted.
    static func prune(_ table: RetainedTable, olderThan cutoff: Double, take: Int, at time: Double, db: Database) throws -> Int? {
        guard let newestCheckpoint = try Double.fetchOne(db, sql: "SELECT MAX(created_at) FROM checkpoints") else { return nil }
        var upTo: Int64?
        var rows = 0
        // The table name comes from the enum, never from input.
        let scan = table == .alerts
            ? "SELECT id, time, EXISTS (SELECT 1 FROM alert_outbox o WHERE o.alert_id = a.alert_id) FROM alerts a ORDER BY id LIMIT ?"
            : "SELECT id, time, 0 FROM \(table.rawValue) ORDER BY id LIMIT ?"
        for row in try Row.fetchAll(db, sql: scan, arguments: [take]) {
            let rowTime: Double = row[1]
            let inOutbox: Bool = row[2]
            guard rowTime < cutoff, rowTime <= newestCheckpoint, !inOutbox else { break }
            upTo = row[0]
            rows += 1
        }
        guard let upTo else { return nil }
        try db.execute(
            sql: "INSERT INTO retention (table_name, up_to_id, rows_deleted, older_than, time) VALUES (?, ?, ?, ?, ?)",
            arguments: [table.rawValue, upTo, rows, cutoff, time])
        try db.execute(sql: "DELETE FROM \(table.rawValue) WHERE id <= ?", arguments: [upTo])
        if table == .examples {
            // The batches wholly pruned; the one holding the next row stays, its first id
            // still the bound of what is left of it.
            try db.execute(
                sql: "DELETE FROM example_batches WHERE first_id < (SELECT MAX(first_id) FROM example_batches WHERE first_id <= ?)",
                arguments: [upTo])
        }
        return rows
    }

    /// Deletes, among the first `take` outbox entries in insertion order, the delivered ones
    /// up to the first delivered at or after `cutoff`; returns how many went (nil: none).
    /// Undelivered entries are passed over, never deleted (the schema refuses it too). The
    /// scan is bounded by `take` rather than filtered by `delivered_at`, which has no index:
    /// a filter would read every entry kept within the retention at each checkpoint.
    static func pruneDeliveredAlerts(deliveredBefore cutoff: Double, take: Int, db: Database) throws -> Int? {
        var upTo: Int64?
        for row in try Row.fetchAll(db, sql: "SELECT rowid, delivered_at FROM alert_outbox ORDER BY rowid LIMIT ?", arguments: [take]) {
            guard let delivered: Double = row[1] else { continue }
            guard delivered < cutoff else { break }
            upTo = row[0]
        }
        guard let upTo else { return nil }
        try db.execute(sql: "DELETE FROM alert_outbox WHERE rowid <= ? AND delivered_at < ?", arguments: [upTo, cutoff])
        return db.changesCount
    }

    /// Runs of the processing order deleted at most per checkpoint, by default. A batch adds at
    /// most one run a message, so a step of four default checkpoint intervals keeps up (the
    /// monitor passes at least twice its interval); the bound is for
    /// a log upgraded to v8 after months, whose whole history becomes deletable at once and
    /// would otherwise go in one transaction on the writer's path (tens of millions of rows at
    /// a trickle: a stall, and a WAL as large as what it deletes).
    static let processingOrderStep = AuditLog.Options.defaultProcessingOrderStep

    /// Deletes all but the newest `keep` checkpoints, then up to `orderStep` of the oldest runs
    /// of the processing order recorded before the oldest one kept: a restart restores a kept
    /// checkpoint and re-learns only what followed it (`AuditLog.processingOrder(from:)` reads
    /// no earlier run). Within a log epoch run ids grow with offsets, so those runs all end at
    /// or before every kept checkpoint's offsets. Runs left by the step go with the next
    /// checkpoint (the step runs whether or not a checkpoint went). The newest run stays, so
    /// that ids keep growing (see `AuditSchema.v8`). Returns the checkpoints deleted.
    static func prune(keep: Int, orderStep: Int = processingOrderStep, db: Database) throws -> Int {
        try db.execute(
            sql: "DELETE FROM checkpoints WHERE id NOT IN (SELECT id FROM checkpoints ORDER BY id DESC LIMIT ?)",
            arguments: [keep])
        let deleted = db.changesCount
        try db.execute(
            sql: """
                DELETE FROM processing_order
                WHERE id <= MIN((\(AuditSchema.processingOrderBound)), (SELECT COALESCE(MIN(id), 0) FROM processing_order) + ?,
                                (SELECT COALESCE(MAX(id), 0) FROM processing_order) - 1)
                """,
            arguments: [orderStep - 1])
        return deleted
    }

    /// The value to store for `x`: itself when finite, NULL otherwise (see `AuditLog`).
    @inline(__always)
    static func finite(_ x: Double) -> Double? { x.isFinite ? x : nil }

    @inline(__always)
    static func finite(_ x: Double?) -> Double? { x.flatMap(finite) }
}
