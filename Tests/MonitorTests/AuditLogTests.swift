@testable import AuditLog
import Foundation
import GRDB
import Testing

/// A fresh directory per test, removed at the end, holding a real SQLite file.
final class TemporaryLog {
    let directory: URL
    var path: String { directory.appendingPathComponent("audit.sqlite").path }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("audit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }
}

let t0 = Date(timeIntervalSince1970: 1_750_000_000)  // 2025-06-15 15:06:40 UTC

func example(_ id: String, topic: String = "labels", partition: Int32 = 0, offset: Int64, quality: Double = 0.5,
             flagged: Bool = false, time: Date = t0) -> ExampleRecord {
    ExampleRecord(
        exampleID: id, position: MessagePosition(topic: topic, partition: partition, offset: offset), givenLabel: 3,
        predictedLabel: 5, prequentialProbability: 0.25, prequentialNLL: -log(0.25), labelQuality: quality,
        memorization: 0.1, sensitivity: 0.2, curvature: 0.3, flagged: flagged, time: time)
}

func alert(_ kind: AlertKind = .mislabeled, offset: Int64, time: Date = t0) -> AlertRecord {
    let position = MessagePosition(topic: "labels", partition: 0, offset: offset)
    return AlertRecord(
        alertID: AlertRecord.exampleAlertID(kind: kind, position: position), kind: kind, exampleID: "e\(offset)",
        position: position, givenLabel: 3, predictedLabel: 5, labelQuality: 0.01, memorization: 0.4, sensitivity: 0.5,
        curvature: 0.6, examplesSeen: Int(offset) + 1, reason: "test \"reason\"\n", time: time)
}

func generalization(_ seen: Int, time: Date = t0) -> GeneralizationRecord {
    GeneralizationRecord(examplesSeen: seen, memoryCount: 100, prequentialNLL: 0.7, prequentialError: 0.2,
                         recentPrequentialNLL: 0.6, recentPrequentialError: 0.15, looNLL: 0.65 + Double(seen) / 1e6,
                         looError: 0.18, looCalibration: seen % 2000 == 0 ? 0.25 + Double(seen) / 1e7 : nil, time: time)
}

/// The suspects of `rows` (in write order) by brute force: each id's latest row among those at
/// or after `since`, NULL quality left out, lowest quality first, then oldest; their offsets.
func expectedSuspects(_ rows: [ExampleRecord], since: Date? = nil) -> [Int64] {
    var latest: [String: Int] = [:]
    for (i, row) in rows.enumerated() where since.map({ row.time >= $0 }) ?? true { latest[row.exampleID] = i }
    return latest.values.filter { rows[$0].labelQuality.isFinite }
        .sorted { (rows[$0].labelQuality, $0) < (rows[$1].labelQuality, $1) }
        .map { rows[$0].position.offset }
}

let labels0 = TopicPartition(topic: "labels", partition: 0)
let labels1 = TopicPartition(topic: "labels", partition: 1)

/// A log as an older build left it: migrated up to `version` only, with the rows `body` writes
/// there (one transaction), then closed; the test opens it with the current schema.
func olderLog(_ version: String, _ body: (Database) throws -> Void) throws -> TemporaryLog {
    let log = try TemporaryLog()
    let queue = try DatabaseQueue(path: log.path)
    try AuditSchema.migrator.migrate(queue, upTo: version)
    try queue.write(body)
    try queue.close()
    return log
}

/// Raw SQL on a second connection, as a `sqlite3` session would do it.
@discardableResult
func raw<T>(_ log: TemporaryLog, _ body: (Database) throws -> T) throws -> T {
    let queue = try DatabaseQueue(path: log.path)
    return try queue.inDatabase(body)
}

@Suite("AuditLog")
struct AuditLogTests {
    @Test("migrations apply once; reopening changes nothing and keeps the data")
    func migrationsIdempotent() throws {
        let dir = try TemporaryLog()
        do {
            let log = try AuditLog(path: dir.path)
            try log.write(AuditBatch(examples: [example("a", offset: 0)], nextOffsets: [labels0: 1]))
            try log.close()
        }
        let schema1 = try raw(dir) { db throws in try String.fetchAll(db, sql: "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name") }
        for _ in 0..<2 {
            let log = try AuditLog(path: dir.path)
            #expect(try log.count(.examples) == 1)
            #expect(try log.nextOffsets() == [labels0: 1])
            try log.close()
        }
        let (schema2, migrations, journal) = try raw(dir) { db throws in
            (try String.fetchAll(db, sql: "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name"),
             try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations"),
             try String.fetchOne(db, sql: "PRAGMA journal_mode"))
        }
        #expect(schema1 == schema2)
        #expect(migrations == ["v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11"])
        #expect(journal == "wal")
    }

    @Test("a batch is atomic: a duplicate position late in the batch leaves nothing of it and the offsets unmoved")
    func batchAtomic() throws {
        let dir = try TemporaryLog()
        let log = try AuditLog(path: dir.path)
        try log.write(AuditBatch(examples: (0..<10).map { example("e\($0)", offset: $0) }, nextOffsets: [labels0: 10]))
        let before = try AuditTable.allCases.map { try log.count($0) }

        var examples = (10..<20).map { example("e\($0)", offset: $0) }
        examples.append(example("again", offset: 5))  // already recorded by the first batch
        let bad = AuditBatch(
            examples: examples, alerts: [alert(offset: 12)], generalization: [generalization(20)],
            driftEvents: [DriftRecord(detector: "adwin", series: "loo_nll", statistic: 1, threshold: 0.002, value: 0.9, examplesSeen: 20)],
            deadLetters: [DeadLetterRecord(position: MessagePosition(topic: "labels", partition: 1, offset: 0), payload: [1, 2], reason: "not JSON")],
            streamEvents: [StreamEventRecord(kind: StreamEventRecord.offsetGap, topicPartition: labels1, expectedOffset: 7, foundOffset: 0, message: "gap")],
            nextOffsets: [labels0: 20, labels1: 1], checkpoint: NewCheckpoint(snapshot: [9, 9], examplesSeen: 20))
        // The second variant fails on the last statement before the checkpoint (offsets are
        // written after every row), so all its rows were inserted and must be rolled back.
        var good = bad
        good.examples.removeLast()
        var negativeOffset = good
        negativeOffset.nextOffsets[labels1] = -1
        for batch in [bad, negativeOffset] {
            let error = #expect(throws: AuditLogError.self) { try log.write(batch) }
            #expect(error?.kind == .constraintViolation)

            #expect(try AuditTable.allCases.map { try log.count($0) } == before)
            #expect(try log.nextOffsets() == [labels0: 10])
            #expect(try log.latestCheckpoint() == nil)
            #expect(try log.undeliveredAlerts().isEmpty)
        }

        // The same batch without the duplicate goes through whole.
        let result = try log.write(good)
        #expect(result.examplesWritten == 10)
        #expect(try log.count(.examples) == 20)
        #expect(try log.nextOffsets() == [labels0: 20, labels1: 1])
        #expect(try log.latestCheckpoint()?.offsets == [labels0: 20, labels1: 1])
    }

    @Test("a log written before log epochs (v1) upgrades in place: its rows and offsets are epoch 0")
    func upgradeFromV1() throws {
        let dir = try olderLog("v1") { db in
            try db.execute(sql: "INSERT INTO examples (example_id, topic, partition, offset, flagged, time) VALUES ('old', 'labels', 0, 0, 0, 0)")
            try db.execute(sql: "INSERT INTO partition_offsets (topic, partition, next_offset, updated_at) VALUES ('labels', 0, 1, 0)")
            try db.execute(sql: """
                INSERT INTO checkpoints (created_at, examples_seen, offsets, snapshot)
                VALUES (0, 1, '[{"topic":"labels","partition":0,"next_offset":1}]', x'00')
                """)
        }
        let log = try AuditLog(path: dir.path)
        let labels = TopicPartition(topic: "labels", partition: 0)
        #expect(try log.epochs() == [labels: 0])
        #expect(try log.nextOffsets() == [labels: 1])
        #expect(try log.latestCheckpoint()?.epochs == [labels: 0])
        // The old row holds offset 0 of epoch 0: the same position again is refused, the same
        // offset in epoch 1 is another message.
        let again = #expect(throws: AuditLogError.self) { try log.write(AuditBatch(examples: [example("dup", offset: 0)])) }
        #expect(again?.kind == .constraintViolation)
        var reused = example("new", offset: 0)
        reused.position.epoch = 1
        try log.write(AuditBatch(examples: [reused]))
        #expect(try log.count(.examples) == 2)
    }

    @Test("positions are unique in examples and dead letters within a log epoch; a repeated alert id is kept once")
    func uniqueness() throws {
        let dir = try TemporaryLog()
        let log = try AuditLog(path: dir.path)
        let letter = DeadLetterRecord(position: MessagePosition(topic: "labels", partition: 0, offset: 3), payload: [0x7B], reason: "truncated")
        try log.write(AuditBatch(examples: [example("a", offset: 0)], alerts: [alert(offset: 0)], deadLetters: [letter]))
        for batch in [
            AuditBatch(examples: [example("b", offset: 0)]),
            AuditBatch(deadLetters: [letter]),
        ] {
            let error = #expect(throws: AuditLogError.self) { try log.write(batch) }
            #expect(error?.kind == .constraintViolation)
        }
        // The same alert raised again: the batch goes through, the alert is stored once and
        // reported as a repeat (not to be published again); the outbox holds it once.
        var repeated = alert(offset: 0)
        repeated.reason = "raised again"
        let result = try log.write(AuditBatch(examples: [example("r", offset: 9)], alerts: [repeated, alert(offset: 9)]))
        #expect(result.repeatedAlerts == [0])
        #expect(result.newAlerts(of: [repeated, alert(offset: 9)]).map(\.alertID) == [alert(offset: 9).alertID])
        #expect(try log.count(.alerts) == 2)
        #expect(try log.count(.alertOutbox) == 2)
        #expect(try log.alerts().first?.reason != "raised again")
        // Raised twice within one batch (a detector firing twice at one message): the first is
        // new, stored and to be published; only the second is a repeat. Dropping repeats by id
        // dropped both, and the first waited in the outbox, undelivered, until a restart.
        let twice = alert(offset: 11)
        var again = twice
        again.reason = "second firing"
        let both = try log.write(AuditBatch(alerts: [twice, again]))
        #expect(both.repeatedAlerts == [1])
        #expect(both.newAlerts(of: [twice, again]).map(\.reason) == [twice.reason])
        #expect(try log.count(.alertOutbox) == 3)
        // Same offset on another partition or topic is another message; so is the same offset
        // in a later log epoch (a partition whose log started over), whose alert id differs.
        let later = MessagePosition(topic: "labels", partition: 0, offset: 0, epoch: 1)
        var reused = example("e", offset: 0)
        reused.position = later
        let laterAlert = AlertRecord(alertID: AlertRecord.exampleAlertID(kind: .mislabeled, position: later), kind: .mislabeled,
                                     exampleID: "e", position: later, examplesSeen: 12, reason: "later epoch")
        try log.write(AuditBatch(examples: [example("c", partition: 1, offset: 0), example("d", topic: "other", offset: 0), reused],
                                 alerts: [laterAlert], deadLetters: [DeadLetterRecord(position: MessagePosition(topic: "labels", partition: 0, offset: 3, epoch: 1),
                                                                                       payload: [0x7B], reason: "truncated")],
                                 nextOffsets: [TopicPartition(topic: "labels", partition: 0): 4], epochs: [TopicPartition(topic: "labels", partition: 0): 1],
                                 checkpoint: NewCheckpoint(snapshot: [1], examplesSeen: 5)))
        #expect(try log.count(.examples) == 5)
        #expect(try log.count(.deadLetters) == 2)
        #expect(laterAlert.alertID == "mislabeled/labels/0/0@1")
        #expect(try log.alerts().last?.position == later)
        #expect(try log.epochs() == [TopicPartition(topic: "labels", partition: 0): 1])
        #expect(try log.latestCheckpoint()?.epochs == [TopicPartition(topic: "labels", partition: 0): 1])
        // A later batch that names no epoch keeps the stored one.
        try log.write(AuditBatch(nextOffsets: [TopicPartition(topic: "labels", partition: 0): 5]))
        #expect(try log.epochs() == [TopicPartition(topic: "labels", partition: 0): 1])
    }

    @Test("history tables refuse UPDATE and DELETE; runs allow setting stopped_at once")
    func appendOnly() throws {
        let dir = try TemporaryLog()
        let log = try AuditLog(path: dir.path)
        try log.write(AuditBatch(
            examples: [example("a", offset: 0)], alerts: [alert(offset: 0)], generalization: [generalization(1)],
            driftEvents: [DriftRecord(detector: "page-hinkley", series: "prequential_nll", statistic: 60, threshold: 50, value: 2, examplesSeen: 1)],
            deadLetters: [DeadLetterRecord(position: MessagePosition(topic: "labels", partition: 0, offset: 1), payload: [1], reason: "x")],
            streamEvents: [StreamEventRecord(kind: "offset-gap", message: "gap")],
            order: [ProcessingRun(topicPartition: labels0, epoch: 0, firstOffset: 0, count: 2)]))
        let run = try log.startRun(configuration: "{\"model\":\"softmax\"}", version: "0.1.0")

        for table in ["examples", "alerts", "generalization", "drift_events", "dead_letters", "stream_events", "processing_order", "runs"] {
            try raw(dir) { db throws in
                let update = #expect(throws: DatabaseError.self) { try db.execute(sql: "UPDATE \(table) SET id = id + 100") }
                #expect(update?.resultCode == .SQLITE_CONSTRAINT)
                #expect(update?.message?.contains("append-only") == true, "\(table): \(update?.message ?? "")")
                let delete = #expect(throws: DatabaseError.self) { try db.execute(sql: "DELETE FROM \(table)") }
                #expect(delete?.message?.contains("append-only") == true, "\(table): \(delete?.message ?? "")")
                #expect(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table) WHERE id < 100") == 1)
            }
        }

        try log.stopRun(run, at: t0)
        let again = #expect(throws: AuditLogError.self) { try log.stopRun(run) }
        #expect(again?.kind == .constraintViolation)
        #expect(try log.runs().map(\.stopped) == [t0])
        let bad = #expect(throws: AuditLogError.self) { _ = try log.startRun(configuration: "not json", version: "0.1.0") }
        #expect(bad?.kind == .constraintViolation)
    }

    @Test("pruning deletes only old example rows before the newest checkpoint, each step with its retention record; nothing else can delete")
    func pruneExamples() throws {
        let dir = try TemporaryLog()
        let log = try AuditLog(path: dir.path)
        // Nothing is pruned before a checkpoint exists: a restart may need every row after it.
        try log.write(AuditBatch(examples: (0..<3).map { example("old\($0)", offset: Int64($0), time: t0) }))
        #expect(try log.pruneExamples(olderThan: t0 + 3600) == PruneResult())
        // The checkpoint's own batch: its rows share its time, and go with what it covers.
        try log.write(AuditBatch(examples: (3..<5).map { example("mid\($0)", offset: Int64($0), time: t0 + 20) },
                                 checkpoint: NewCheckpoint(snapshot: [1], examplesSeen: 5), time: t0 + 20))
        try log.write(AuditBatch(examples: (5..<7).map { example("new\($0)", offset: Int64($0), time: t0 + 30) }))
        // A cut-off past everything stops at the newest checkpoint (t0 + 20): rows 5 and 6 stay.
        let pruned = try log.pruneExamples(olderThan: t0 + 3600, step: 2, at: t0 + 40)
        #expect(pruned.rowsDeleted == 5)
        #expect(pruned.steps == 3)
        #expect(try log.count(.examples) == 2)
        #expect(try log.count(.retention) == 3)
        // Positions stay unique where rows remain; the pruned ones are gone for good.
        #expect(try log.suspects().map(\.exampleID).sorted() == ["new5", "new6"])
        try raw(dir) { db throws in
            let rows = try Row.fetchAll(db, sql: "SELECT up_to_id, rows_deleted, older_than, time FROM retention ORDER BY id")
            #expect(rows.map { $0[0] as Int64 } == [2, 4, 5])
            #expect(rows.map { $0[1] as Int } == [2, 2, 1])
            #expect(rows.allSatisfy { ($0[2] as Double) == (t0 + 3600).timeIntervalSince1970 && ($0[3] as Double) == (t0 + 40).timeIntervalSince1970 })
            // Deleting newer rows by hand is refused; so is rewriting the retention record.
            let delete = #expect(throws: DatabaseError.self) { try db.execute(sql: "DELETE FROM examples") }
            #expect(delete?.message?.contains("append-only") == true, "\(delete?.message ?? "")")
            for statement in ["UPDATE retention SET up_to_id = 100", "DELETE FROM retention"] {
                let error = #expect(throws: DatabaseError.self) { try db.execute(sql: statement) }
                #expect(error?.message?.contains("append-only") == true, "\(statement): \(error?.message ?? "")")
            }
        }
        #expect(try log.count(.examples) == 2)
        // A cut-off before every remaining row deletes nothing and records nothing.
        try log.write(AuditBatch(checkpoint: NewCheckpoint(snapshot: [2], examplesSeen: 7), time: t0 + 50))
        #expect(try log.pruneExamples(olderThan: t0 + 30) == PruneResult())
        #expect(try log.count(.retention) == 3)
        // maxRows bounds one call (the running monitor prunes a little after each checkpoint).
        #expect(try log.pruneExamples(olderThan: t0 + 3600, maxRows: 1).rowsDeleted == 1)
        #expect(try log.count(.examples) == 1)
        // The delete trigger reads its bound once per deleted row, so it must come from an
        // index: a scan of every retention record (one more per step) made pruning quadratic
        // over a long run.
        try raw(dir) { db throws in
            let bound = "SELECT MAX(up_to_id) FROM retention WHERE table_name = 'examples'"
            let trigger = try #require(try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'examples_no_delete'"))
            #expect(trigger.contains(bound), "\(trigger)")
            let plan = try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN \(bound)").map { $0["detail"] as String }
            #expect(plan.contains { $0.contains("USING COVERING INDEX retention_table_up_to") }, "\(plan)")
        }
    }

    @Test("ids keep growing after the retention empties a table: new rows come after the pruned ones, stay append-only, and batches keep their bounds")
    func idsAfterEmptyingPrune() throws {
        let dir = try TemporaryLog()
        let log = try AuditLog(path: dir.path)
        func deadLetters(_ offsets: Range<Int64>, time: Date) -> [DeadLetterRecord] {
            offsets.map { DeadLetterRecord(position: MessagePosition(topic: "labels", partition: 1, offset: $0), payload: [1], reason: "not JSON", time: time) }
        }
        let first = (0..<3).map { alert(offset: Int64($0), time: t0) }
        try log.write(AuditBatch(examples: (0..<4).map { example("old\($0)", offset: Int64($0), time: t0) }, alerts: first,
                                 deadLetters: deadLetters(0..<2, time: t0), checkpoint: NewCheckpoint(snapshot: [1], examplesSeen: 4), time: t0))
        #expect(try log.markDelivered(alertIDs: first.map(\.alertID), at: t0 + 1) == 3)
        // Everything is older than the cut-off and before the checkpoint: every table empties.
        let pruned = try log.prune(olderThan: t0 + 10, deadLettersOlderThan: t0 + 10, alertsOlderThan: t0 + 10, at: t0 + 20)
        #expect(pruned.rowsDeleted == 4 && pruned.deadLettersDeleted == 2 && pruned.alertsDeleted == 3)
        #expect(try log.count(.examples) == 0 && log.count(.deadLetters) == 0 && log.count(.alerts) == 0)
        // A repeat of nothing (the first alert of the next batch is new) and two batches more.
        let later = (10..<12).map { alert(offset: Int64($0), time: t0 + 30) }
        try log.write(AuditBatch(examples: (4..<6).map { example("new\($0)", offset: Int64($0), time: t0 + 30) }, alerts: later,
                                 deadLetters: deadLetters(2..<4, time: t0 + 30), time: t0 + 30))
        try log.write(AuditBatch(examples: (6..<7).map { example("new\($0)", offset: Int64($0), time: t0 + 40) }, time: t0 + 40))
        try raw(dir) { db throws in
            // SQLite alone would have begun again at 1 (and the second batch's row would then
            // have collided with example_batches' surviving first_id).
            #expect(try Int64.fetchAll(db, sql: "SELECT id FROM examples ORDER BY id") == [5, 6, 7])
            #expect(try Int64.fetchAll(db, sql: "SELECT id FROM alerts ORDER BY id") == [4, 5])
            #expect(try Int64.fetchAll(db, sql: "SELECT id FROM dead_letters ORDER BY id") == [3, 4])
            #expect(try Int64.fetchAll(db, sql: "SELECT first_id FROM example_batches ORDER BY first_id").suffix(2) == [5, 7])
            // The retention records (up to ids 4, 3 and 2) do not reach the new rows.
            for table in ["examples", "alerts", "dead_letters"] {
                let error = #expect(throws: DatabaseError.self) { try db.execute(sql: "DELETE FROM \(table)") }
                #expect(error?.message?.contains("\(table) is append-only") == true, "\(table): \(error?.message ?? "")")
            }
        }
        // Reads since a time see exactly the rows after it.
        #expect(try log.suspects(since: t0 + 35).map(\.exampleID) == ["new6"])
    }

    @Test("dead letters are pruned like example rows, behind their own retention records; neither table's record lets the other's rows go")
    func pruneDeadLetters() throws {
        let dir = try TemporaryLog()
        let log = try AuditLog(path: dir.path)
        func deadLetters(_ offsets: Range<Int64>, time: Date) -> [DeadLetterRecord] {
            offsets.map { DeadLetterRecord(position: MessagePosition(topic: "labels", partition: 1, offset: $0), payload: [1, 2, 3], reason: "not JSON", time: time) }
        }
        try log.write(AuditBatch(examples: (0..<3).map { example("old\($0)", offset: Int64($0), time: t0) }, deadLetters: deadLetters(0..<4, time: t0)))
        // No checkpoint yet: nothing goes.
        #expect(try log.pruneDeadLetters(olderThan: t0 + 3600) == PruneResult())
        try log.write(AuditBatch(deadLetters: deadLetters(4..<5, time: t0 + 20), checkpoint: NewCheckpoint(snapshot: [1], examplesSeen: 3), time: t0 + 20))
        try log.write(AuditBatch(deadLetters: deadLetters(5..<7, time: t0 + 30)))
        // Dead letters only: the example rows stay, and have no record.
        let pruned = try log.prune(olderThan: nil, deadLettersOlderThan: t0 + 3600, at: t0 + 40)
        #expect(pruned == PruneResult(rowsDeleted: 0, steps: 0, deliveredAlertsDeleted: 0, deadLettersDeleted: 5, deadLetterSteps: 1))
        #expect(try log.count(.deadLetters) == 2)
        #expect(try log.count(.examples) == 3)
        try raw(dir) { db throws in
            let rows = try Row.fetchAll(db, sql: "SELECT table_name, up_to_id, rows_deleted, older_than, time FROM retention ORDER BY id")
            #expect(rows.map { $0[0] as String } == ["dead_letters"])
            #expect(rows.map { $0[1] as Int64 } == [5])
            #expect(rows.map { $0[2] as Int } == [5])
            #expect(rows.allSatisfy { ($0[3] as Double) == (t0 + 3600).timeIntervalSince1970 && ($0[4] as Double) == (t0 + 40).timeIntervalSince1970 })
            // The dead letters' record (up to id 5) lets no example row go (ids 1 to 3), and
            // newer dead letters stay refused.
            for table in ["examples", "dead_letters"] {
                let error = #expect(throws: DatabaseError.self) { try db.execute(sql: "DELETE FROM \(table)") }
                #expect(error?.message?.contains("\(table) is append-only") == true, "\(table): \(error?.message ?? "")")
            }
            // A record for the examples does not open the dead letters either.
            try db.execute(sql: "INSERT INTO retention (table_name, up_to_id, rows_deleted, older_than, time) VALUES ('examples', 100, 0, 0, 0)")
            #expect(throws: DatabaseError.self) { try db.execute(sql: "DELETE FROM dead_letters") }
            #expect(throws: DatabaseError.self) {
                try db.execute(sql: "INSERT INTO retention (table_name, up_to_id, rows_deleted, older_than, time) VALUES ('drift_events', 100, 0, 0, 0)")
            }
            let bound = "SELECT MAX(up_to_id) FROM retention WHERE table_name = 'dead_letters'"
            let trigger = try #require(try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'dead_letters_no_delete'"))
            #expect(trigger.contains(bound), "\(trigger)")
            let plan = try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN \(bound)").map { $0["detail"] as String }
            #expect(plan.contains { $0.contains("USING COVERING INDEX retention_table_up_to") }, "\(plan)")
        }
        #expect(try log.count(.deadLetters) == 2)
        #expect(try log.count(.examples) == 3)
        // Both tables in one call, each with its own cut-off, as the monitor makes it after a
        // newer checkpoint.
        try log.write(AuditBatch(checkpoint: NewCheckpoint(snapshot: [2], examplesSeen: 3), time: t0 + 35))
        let both = try log.prune(olderThan: t0 + 3600, deadLettersOlderThan: t0 + 31, at: t0 + 50)
        #expect(both.rowsDeleted == 3)
        #expect(both.deadLettersDeleted == 2)
        #expect(try log.count(.examples) == 0)
        #expect(try log.count(.deadLetters) == 0)
    }

    @Test("a v6 log migrates to v7 keeping its retention records: its pruned example rows stay pruned, its newer rows protected")
    func upgradeFromV6() throws {
        let dir = try olderLog("v6") { db in
            for offset in 0..<4 {
                try db.execute(sql: "INSERT INTO examples (example_id, topic, partition, epoch, offset, flagged, time) VALUES (?, 'labels', 0, 0, ?, 0, 0)",
                               arguments: ["e\(offset)", offset])
            }
            try db.execute(sql: "INSERT INTO retention (table_name, up_to_id, rows_deleted, older_than, time) VALUES ('examples', 2, 2, 10, 11)")
            try db.execute(sql: "DELETE FROM examples WHERE id <= 2")
            // v6 knows no retention for dead letters.
            #expect(throws: DatabaseError.self) {
                try db.execute(sql: "INSERT INTO retention (table_name, up_to_id, rows_deleted, older_than, time) VALUES ('dead_letters', 1, 0, 0, 0)")
            }
        }
        let log = try AuditLog(path: dir.path)
        #expect(try log.count(.examples) == 2)
        #expect(try log.count(.retention) == 1)
        try log.close()
        try raw(dir) { db throws in
            let row = try #require(try Row.fetchOne(db, sql: "SELECT id, table_name, up_to_id, rows_deleted, older_than, time FROM retention"))
            #expect(row[0] as Int64 == 1 && row[1] as String == "examples" && row[2] as Int64 == 2 && row[3] as Int == 2)
            #expect(row[4] as Double == 10 && row[5] as Double == 11)
            // The rebuilt table is append-only again; rows past the record are protected again.
            for statement in ["UPDATE retention SET up_to_id = 100", "DELETE FROM retention", "DELETE FROM examples"] {
                let error = #expect(throws: DatabaseError.self) { try db.execute(sql: statement) }
                #expect(error?.message?.contains("append-only") == true, "\(statement): \(error?.message ?? "")")
            }
            #expect(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM examples") == 2)
            #expect(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('examples_no_delete', 'dead_letters_no_delete', 'retention_no_update', 'retention_no_delete', 'retention_table_up_to')") == 5)
            #expect(try String.fetchAll(db, sql: "PRAGMA integrity_check") == ["ok"])
        }
    }

    @Test("the processing order before every kept checkpoint goes with the old checkpoints; what a restart reads from any kept one is unchanged")
    func processingOrderPruned() throws {
        // Two logs given the same batches: one keeps 3 checkpoints (pruning), the reference
        // keeps them all (nothing pruned). Two partitions, interleaved in batches of 3 messages,
        // a checkpoint every other batch.
        let dir = try TemporaryLog(), reference = try TemporaryLog()
        let log = try AuditLog(path: dir.path)
        let all = try AuditLog(path: reference.path, options: .init(keepCheckpoints: 1000))
        var next: [TopicPartition: Int64] = [labels0: 0, labels1: 0]
        for batch in 0..<20 {
            var order: [ProcessingRun] = []
            for i in 0..<3 {
                let tp = (batch + i) % 2 == 0 ? labels0 : labels1
                order.append(tp, epoch: 0, offset: next[tp, default: 0])
                next[tp, default: 0] += 1
            }
            let checkpoint = batch % 2 == 1 ? NewCheckpoint(snapshot: [UInt8(batch)], examplesSeen: 3 * (batch + 1)) : nil
            for target in [log, all] {
                try target.write(AuditBatch(order: order, nextOffsets: next, epochs: [labels0: 0, labels1: 0], checkpoint: checkpoint))
            }
        }
        // Three runs a batch (the partitions alternate); even the reference lets go of those up to
        // its oldest checkpoint (batches 0 and 1), which no restart reads.
        #expect(try all.count(.processingOrder) == 60 - 3 * 2)
        let kept = try log.checkpoints()
        #expect(kept.count == 3)
        // Pruned: exactly the runs written up to the oldest kept checkpoint (batches 0 to 15).
        #expect(try log.count(.processingOrder) == 60 - 3 * 16)
        for checkpoint in kept {
            let starts = checkpoint.offsets.mapValues { (offset: $0, epoch: Int64(0)) }
            let runs = try log.processingOrder(from: starts)
            let unpruned = try all.processingOrder(from: starts)
            #expect(runs == unpruned)
            #expect(runs.reduce(0) { $0 + $1.count } == 60 - checkpoint.examplesSeen)
        }
        try raw(dir) { db throws in
            let error = #expect(throws: DatabaseError.self) { try db.execute(sql: "DELETE FROM processing_order") }
            #expect(error?.message?.contains("append-only") == true, "\(error?.message ?? "")")
            #expect(throws: DatabaseError.self) { try db.execute(sql: "UPDATE processing_order SET count = 1") }
            // The trigger reads its bound per deleted row: from the index, never from the
            // checkpoint rows, whose order_id lies past the snapshot's overflow pages.
            let plan = try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN \(AuditSchema.processingOrderBound)").map { $0["detail"] as String }
            #expect(!plan.isEmpty && plan.allSatisfy { !$0.hasPrefix("SCAN") && !$0.contains("SEARCH checkpoints USING INTEGER") }, "\(plan)")
            #expect(plan.contains { $0.contains("USING COVERING INDEX checkpoints_order_id") }, "\(plan)")
        }
    }

    @Test("the processing order goes a bounded step per checkpoint, oldest first, and catches up")
    func processingOrderStep() throws {
        // Ten batches of one run, each with a checkpoint, kept: then the last checkpoint alone
        // is kept and its bound (run 10) lets all ten go, four a step.
        let dir = try TemporaryLog()
        let log = try AuditLog(path: dir.path, options: .init(keepCheckpoints: 1000))
        for i in 0..<10 {
            try log.write(AuditBatch(order: [ProcessingRun(topicPartition: labels0, epoch: 0, firstOffset: Int64(i), count: 1)],
                                     nextOffsets: [labels0: Int64(i + 1)], checkpoint: NewCheckpoint(snapshot: [1], examplesSeen: i + 1)))
        }
        let left = try raw(dir) { db throws -> [[Int64]] in
            // Keeping every checkpoint, the writes let go of run 1 alone (up to the first one).
            var left = [try Int64.fetchAll(db, sql: "SELECT id FROM processing_order ORDER BY id")]
            for _ in 0..<4 {
                _ = try BatchWriter.prune(keep: 1, orderStep: 4, db: db)
                left.append(try Int64.fetchAll(db, sql: "SELECT id FROM processing_order ORDER BY id"))
            }
            return left
        }
        // The newest run stays: ids must keep growing past every checkpoint's order_id.
        #expect(left == [Array(2...10), Array(6...10), [10], [10], [10]])
        #expect(try log.checkpoints().count == 1)
        try log.write(AuditBatch(order: [ProcessingRun(topicPartition: labels0, epoch: 0, firstOffset: 10, count: 1)], nextOffsets: [labels0: 11]))
        try raw(dir) { db throws in
            #expect(try Int64.fetchAll(db, sql: "SELECT id FROM processing_order ORDER BY id") == [10, 11])
            let error = #expect(throws: DatabaseError.self) { try db.execute(sql: "DELETE FROM processing_order WHERE id = 11") }
            #expect(error?.message?.contains("append-only") == true, "\(error?.message ?? "")")
            try db.execute(sql: "DELETE FROM processing_order WHERE id = 10")   // below the bound, and not the newest
        }
    }

    @Test("a v7 log's checkpoints, without order_id, keep its whole processing order until they are pruned")
    func upgradeFromV7() throws {
        let dir = try olderLog("v7") { db in
            for offset in 0..<3 {
                try db.execute(sql: "INSERT INTO processing_order (topic, partition, epoch, first_offset, count) VALUES ('labels', 0, 0, ?, 1)",
                               arguments: [offset])
            }
            try db.execute(sql: """
                INSERT INTO checkpoints (created_at, examples_seen, offsets, snapshot)
                VALUES (0, 3, '[{"topic":"labels","partition":0,"next_offset":3,"epoch":0}]', x'00')
                """)
        }
        let log = try AuditLog(path: dir.path)
        try raw(dir) { db throws in
            #expect(throws: DatabaseError.self) { try db.execute(sql: "DELETE FROM processing_order WHERE id = 1") }
        }
        // Three newer checkpoints push the old one out; then its runs may go.
        for i in 0..<3 {
            try log.write(AuditBatch(order: [ProcessingRun(topicPartition: labels0, epoch: 0, firstOffset: Int64(3 + i), count: 1)],
                                     nextOffsets: [labels0: Int64(4 + i)], checkpoint: NewCheckpoint(snapshot: [1], examplesSeen: 4 + i)))
        }
        #expect(try log.checkpoints().count == 3)
        // The oldest kept checkpoint's bound is run 4 (its own batch's run): runs 1 to 4 went.
        #expect(try log.count(.processingOrder) == 2)
        #expect(try log.processingOrder(from: [labels0: (offset: 4, epoch: 0)]) == [
            ProcessingRun(topicPartition: labels0, epoch: 0, firstOffset: 4, count: 1),
            ProcessingRun(topicPartition: labels0, epoch: 0, firstOffset: 5, count: 1),
        ])
    }

    @Test("the processing order: runs merge only when contiguous; read back from a start, clipped, in the order written")
    func processingOrder() throws {
        var order: [ProcessingRun] = []
        for (tp, offset) in [(labels0, 10), (labels0, 11), (labels1, 0), (labels1, 1), (labels1, 3), (labels0, 12)] as [(TopicPartition, Int64)] {
            order.append(tp, epoch: 0, offset: offset)
        }
        #expect(order == [
            ProcessingRun(topicPartition: labels0, epoch: 0, firstOffset: 10, count: 2),
            ProcessingRun(topicPartition: labels1, epoch: 0, firstOffset: 0, count: 2),
            ProcessingRun(topicPartition: labels1, epoch: 0, firstOffset: 3, count: 1),   // offset 2 was never seen
            ProcessingRun(topicPartition: labels0, epoch: 0, firstOffset: 12, count: 1),
        ])

        let dir = try TemporaryLog()
        let log = try AuditLog(path: dir.path)
        try log.write(AuditBatch(order: Array(order[0..<2])))
        try log.write(AuditBatch(order: Array(order[2...])))
        // An earlier log epoch of partition 0 reused the same offsets: never read for epoch 1.
        try log.write(AuditBatch(order: [ProcessingRun(topicPartition: labels0, epoch: 1, firstOffset: 11, count: 5)]))
        #expect(try log.count(.processingOrder) == 5)

        // From offset 11 of partition 0 and offset 1 of partition 1: the run holding each start
        // is clipped to begin there, earlier runs are left out, the written order is kept.
        let read = try log.processingOrder(from: [labels0: (offset: 11, epoch: 0), labels1: (offset: 1, epoch: 0)])
        #expect(read == [
            ProcessingRun(topicPartition: labels0, epoch: 0, firstOffset: 11, count: 1),
            ProcessingRun(topicPartition: labels1, epoch: 0, firstOffset: 1, count: 1),
            ProcessingRun(topicPartition: labels1, epoch: 0, firstOffset: 3, count: 1),
            ProcessingRun(topicPartition: labels0, epoch: 0, firstOffset: 12, count: 1),
        ])
        #expect(try log.processingOrder(from: [labels0: (offset: 13, epoch: 0)]).isEmpty)
        #expect(try log.processingOrder(from: [labels0: (offset: 14, epoch: 1)])
                == [ProcessingRun(topicPartition: labels0, epoch: 1, firstOffset: 14, count: 2)])
        #expect(try log.processingOrder(from: [:]).isEmpty)
    }

    @Test("checkpoints round-trip with every partition's offsets; old ones are pruned")
    func checkpoints() throws {
        let dir = try TemporaryLog()
        let log = try AuditLog(path: dir.path, options: .init(keepCheckpoints: 2))
        #expect(try log.latestCheckpoint() == nil)
        let snapshot = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try log.write(AuditBatch(nextOffsets: [labels1: 7], time: t0))
        var ids: [Int64] = []
        for i in 0..<3 {
            var bytes = snapshot
            bytes[0] = UInt8(i)
            let result = try log.write(AuditBatch(
                nextOffsets: [labels0: Int64(100 * (i + 1))], checkpoint: NewCheckpoint(snapshot: bytes, examplesSeen: 100 * (i + 1)),
                time: t0.addingTimeInterval(Double(i))))
            ids.append(try #require(result.checkpointID))
            #expect(result.checkpointsPruned == (i < 2 ? 0 : 1))
        }
        let latest = try #require(try log.latestCheckpoint())
        var expected = snapshot
        expected[0] = 2
        #expect(latest.snapshot == expected)
        #expect(latest.id == ids[2])
        #expect(latest.examplesSeen == 300)
        #expect(latest.created == t0.addingTimeInterval(2))
        #expect(latest.offsets == [labels0: 300, labels1: 7])
        #expect(try log.checkpoints().map(\.id) == [ids[2], ids[1]])
        #expect(try log.pruneCheckpoints(keepNewest: 1) == 1)
        #expect(try log.checkpoints().map(\.id) == [ids[2]])
        try raw(dir) { db throws in
            #expect(throws: DatabaseError.self) { try db.execute(sql: "UPDATE checkpoints SET examples_seen = 0") }
        }
    }

    @Test("outbox: alerts wait undelivered in order, then are marked delivered once")
    func outbox() throws {
        let dir = try TemporaryLog()
        let log = try AuditLog(path: dir.path)
        let alerts = [alert(offset: 4), alert(.memorized, offset: 2), alert(offset: 9)]
        try log.write(AuditBatch(alerts: alerts))
        let waiting = try log.undeliveredAlerts()
        #expect(waiting.map(\.alertID) == alerts.map(\.alertID))
        #expect(try log.undeliveredAlerts(limit: 2).count == 2)

        let payload = try #require(try JSONSerialization.jsonObject(with: Data(waiting[0].payload.utf8)) as? [String: Any])
        #expect(payload["alert_id"] as? String == "mislabeled/labels/0/4")
        #expect(payload["kind"] as? String == "mislabeled")
        #expect(payload["offset"] as? Int == 4)
        #expect(payload["label_quality"] as? Double == 0.01)
        #expect(payload["reason"] as? String == "test \"reason\"\n")
        #expect(payload["time"] as? Double == t0.timeIntervalSince1970)
        #expect(waiting[0].payload == alerts[0].jsonPayload)

        #expect(try log.markDelivered(alertIDs: [alerts[0].alertID, alerts[2].alertID]) == 2)
        #expect(try log.undeliveredAlerts().map(\.alertID) == [alerts[1].alertID])
        #expect(try log.markDelivered(alertIDs: [alerts[0].alertID, "unknown"]) == 0)
        #expect(try log.count(.alerts) == 3)

        try raw(dir) { db throws in
            #expect(throws: DatabaseError.self) { try db.execute(sql: "UPDATE alert_outbox SET payload = '{}'") }
            #expect(throws: DatabaseError.self) { try db.execute(sql: "UPDATE alert_outbox SET delivered_at = NULL") }
            #expect(throws: DatabaseError.self) { try db.execute(sql: "DELETE FROM alert_outbox WHERE delivered_at IS NULL") }
            try db.execute(sql: "DELETE FROM alert_outbox WHERE delivered_at IS NOT NULL")
            #expect(db.changesCount == 2)
        }
    }

    @Test("outbox pruning deletes entries delivered before the cut-off, oldest first; undelivered ones and the alerts stay")
    func pruneDeliveredAlerts() throws {
        let dir = try TemporaryLog()
        let log = try AuditLog(path: dir.path)
        let alerts = (0..<5).map { alert(offset: Int64($0)) }
        try log.write(AuditBatch(alerts: alerts))
        // Delivered out of insertion order (a re-send after a restart can do that); alerts[1]
        // never delivered.
        for (index, seconds) in [(0, 10.0), (2, 20), (3, 100), (4, 15)] {
            #expect(try log.markDelivered(alertIDs: [alerts[index].alertID], at: t0 + seconds) == 1)
        }
        let outbox: () throws -> Set<String> = { Set(try raw(dir) { db in try String.fetchAll(db, sql: "SELECT alert_id FROM alert_outbox") }) }

        #expect(try log.pruneDeliveredAlerts(deliveredBefore: t0 + 5) == 0)
        #expect(try log.pruneDeliveredAlerts(deliveredBefore: t0 + 30, maxRows: 1) == 1)
        #expect(try outbox() == Set(alerts[1...].map(\.alertID)))
        // An undelivered entry is passed over but counts toward the scan's bound.
        #expect(try log.pruneDeliveredAlerts(deliveredBefore: t0 + 30, step: 1) == 0)
        // The scan stops at the first entry delivered after the cut-off (alerts[3]), so
        // alerts[4], delivered before it, waits for a later cut-off: late, never wrong.
        #expect(try log.pruneDeliveredAlerts(deliveredBefore: t0 + 30) == 1)
        #expect(try outbox() == Set([1, 3, 4].map { alerts[$0].alertID }))
        // `prune`, the retention's one entry point, does both tables (no checkpoint: no rows).
        #expect(try log.prune(olderThan: t0 + 200) == PruneResult(rowsDeleted: 0, steps: 0, deliveredAlertsDeleted: 2))
        #expect(try log.undeliveredAlerts().map(\.alertID) == [alerts[1].alertID])
        #expect(try log.count(.alertOutbox) == 1)
        #expect(try log.count(.alerts) == 5)

        // A pruned alert raised again is still recognised as a repeat (by `alerts`), so it is
        // neither stored twice nor queued to be published again.
        let again = try log.write(AuditBatch(alerts: [alerts[0]]))
        #expect(again.repeatedAlerts == [0])
        #expect(try log.count(.alertOutbox) == 1)
        #expect(throws: AuditLogError.self) { try log.pruneDeliveredAlerts(deliveredBefore: t0, step: 0) }
    }

    @Test("alerts under a retention: only after their outbox entry, never past the newest checkpoint, each step recorded; raised again, sent again")
    func pruneAlerts() throws {
        let dir = try TemporaryLog()
        let log = try AuditLog(path: dir.path)
        let alerts = (0..<6).map { alert(offset: Int64($0), time: t0 + Double($0)) }
        try log.write(AuditBatch(alerts: Array(alerts[0..<5]), checkpoint: NewCheckpoint(snapshot: [1], examplesSeen: 5), time: t0 + 4))
        try log.write(AuditBatch(alerts: [alerts[5]], time: t0 + 5))   // after the newest checkpoint
        // Delivered: 0 and 1 early, 2 late (after the cut-off below), 3 never; 4 and 5 early.
        for (index, seconds) in [(0, 10.0), (1, 10), (2, 500), (4, 10), (5, 10)] {
            #expect(try log.markDelivered(alertIDs: [alerts[index].alertID], at: t0 + seconds) == 1)
        }
        // Examples kept, alerts older than t0 + 100: the outbox entries delivered before it go
        // first (0 and 1; that scan stops at 2, delivered after the cut-off), then alerts 0
        // and 1; alert 2's entry is still there and ends the step.
        let pruned = try log.prune(olderThan: nil, alertsOlderThan: t0 + 100, at: t0 + 200)
        #expect(pruned == PruneResult(deliveredAlertsDeleted: 2, alertsDeleted: 2, alertSteps: 1))
        #expect(try log.count(.alerts) == 4)
        #expect(try log.count(.alertOutbox) == 4)
        try raw(dir) { db throws in
            let rows = try Row.fetchAll(db, sql: "SELECT table_name, up_to_id, rows_deleted FROM retention")
            #expect(rows.map { "\($0[0] as String) \($0[1] as Int64) \($0[2] as Int)" } == ["alerts 2 2"])
            let error = #expect(throws: DatabaseError.self) { try db.execute(sql: "DELETE FROM alerts WHERE id = 3") }
            #expect(error?.message?.contains("alerts is append-only") == true, "\(error?.message ?? "")")
            #expect(throws: DatabaseError.self) { try db.execute(sql: "UPDATE alerts SET reason = 'x'") }
        }
        // Alert 2's entry delivered long ago by now, 3 still undelivered: 2 goes, 3 stops the step.
        #expect(try log.prune(olderThan: nil, alertsOlderThan: t0 + 600, at: t0 + 700).alertsDeleted == 1)
        #expect(try log.count(.alerts) == 3)
        // Delivered at last: 3 and 4 go; 5 came after the newest checkpoint and stays.
        #expect(try log.markDelivered(alertIDs: [alerts[3].alertID], at: t0 + 601) == 1)
        #expect(try log.prune(olderThan: nil, alertsOlderThan: t0 + 700, at: t0 + 800).alertsDeleted == 2)
        #expect(try log.alerts().map(\.alertID) == [alerts[5].alertID])
        // An alert raised again after its row went is new to the log: recorded and queued again.
        let again = try log.write(AuditBatch(alerts: [alerts[0]]))
        #expect(again.repeatedAlerts.isEmpty)
        #expect(try log.undeliveredAlerts().map(\.alertID) == [alerts[0].alertID])
        // Without an alerts cut-off nothing of the table goes.
        try log.write(AuditBatch(checkpoint: NewCheckpoint(snapshot: [2], examplesSeen: 6), time: t0 + 900))
        #expect(try log.prune(olderThan: t0 + 1000, at: t0 + 1000).alertsDeleted == 0)
        #expect(try log.count(.alerts) == 2)
    }

    @Test("a v8 log migrates to v9 keeping its retention records, its alerts still append-only until a record covers them")
    func upgradeFromV8() throws {
        let dir = try olderLog("v8") { db in
            try db.execute(sql: """
                INSERT INTO retention (table_name, up_to_id, rows_deleted, older_than, time) VALUES ('examples', 7, 7, 1, 2);
                INSERT INTO retention (table_name, up_to_id, rows_deleted, older_than, time) VALUES ('dead_letters', 3, 3, 1, 2);
                INSERT INTO alerts (alert_id, kind, reason, examples_seen, time) VALUES ('a1', 'mislabeled', 'r', 1, 0);
                INSERT INTO examples (example_id, topic, partition, offset, flagged, time) VALUES ('e8', 'labels', 0, 8, 0, 0);
                """)
            #expect(throws: DatabaseError.self) {
                try db.execute(sql: "INSERT INTO retention (table_name, up_to_id, rows_deleted, older_than, time) VALUES ('alerts', 1, 1, 0, 0)")
            }
        }
        _ = try AuditLog(path: dir.path)
        try raw(dir) { db throws in
            let rows = try Row.fetchAll(db, sql: "SELECT table_name, up_to_id, rows_deleted, older_than, time FROM retention ORDER BY id")
            #expect(rows.map { "\($0[0] as String) \($0[1] as Int64) \($0[2] as Int) \($0[3] as Double) \($0[4] as Double)" }
                    == ["examples 7 7 1.0 2.0", "dead_letters 3 3 1.0 2.0"])
            // The example row (id 1, under the examples' bound of 7) may go; the alert may not
            // until a record for alerts covers it; records themselves stay append-only.
            #expect(throws: DatabaseError.self) { try db.execute(sql: "DELETE FROM alerts") }
            #expect(throws: DatabaseError.self) { try db.execute(sql: "DELETE FROM retention") }
            try db.execute(sql: "INSERT INTO retention (table_name, up_to_id, rows_deleted, older_than, time) VALUES ('alerts', 1, 1, 0, 0)")
            try db.execute(sql: "DELETE FROM alerts")
            try db.execute(sql: "DELETE FROM examples")
            #expect(try Int.fetchOne(db, sql: "SELECT (SELECT count(*) FROM alerts) + (SELECT count(*) FROM examples)") == 0)
        }
    }

    @Test("a WAL that a reader held from being checkpointed is cut back to its limit once the reader ends; fileSizes reads both files")
    func walCutBack() throws {
        let dir = try TemporaryLog()
        let limit = 1 << 20
        let log = try AuditLog(path: dir.path, options: .init(walSizeLimit: limit))
        var next: Int64 = 0
        func write(_ rows: Int) throws {
            let batch = (0..<rows).map { i in example("w\(next + Int64(i))", offset: next + Int64(i)) }
            next += Int64(rows)
            try log.write(AuditBatch(examples: batch, nextOffsets: [labels0: next]))
        }
        try write(100)
        // Another connection holds a read transaction open, as a sqlite3 shell inside BEGIN
        // would: no frame written after its snapshot can be checkpointed, so the WAL grows.
        var shell = Configuration()
        shell.allowsUnsafeTransactions = true  // a transaction left open across accesses, as the shell's
        let reader = try DatabaseQueue(path: dir.path, configuration: shell)
        try reader.inDatabase { db in
            try db.execute(sql: "BEGIN")
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM examples") == 100)
        }
        for _ in 0..<20 { try write(2000) }
        let held = log.fileSizes()
        #expect(held.wal > 4 * Int64(limit), "WAL \(held.wal) bytes while the reader held it")
        try reader.inDatabase { db in try db.execute(sql: "COMMIT") }
        try reader.close()
        try write(100)  // its commit checkpoints every frame, the reader being gone
        try write(100)  // and the next starts the WAL over, cutting the file back
        let after = log.fileSizes()
        #expect(after.wal > 0 && after.wal <= Int64(limit), "WAL \(after.wal) bytes after the reader ended (limit \(limit))")
        var info = stat()
        #expect(stat(dir.path, &info) == 0 && after.database == Int64(info.st_size) && after.database > held.database)
        #expect(try log.count(.examples) == 40_300)
    }

    @Test("a reader on another pool sees committed data while a write transaction is open (WAL)")
    func readerDuringWrite() throws {
        let dir = try TemporaryLog()
        let log = try AuditLog(path: dir.path)
        try log.write(AuditBatch(examples: (0..<5).map { example("e\($0)", offset: $0) }, nextOffsets: [labels0: 5]))
        let reader = try AuditLog(path: dir.path, options: .init(readOnly: true))

        // A second writer (as the monitor would be) holds an open transaction with new rows.
        let writer = try DatabasePool(path: dir.path)
        try writer.write { db in
            try db.execute(sql: """
                INSERT INTO examples (example_id, topic, partition, offset, flagged, time) VALUES ('w', 'labels', 0, 5, 0, 0);
                INSERT INTO partition_offsets (topic, partition, next_offset, updated_at) VALUES ('labels', 0, 6, 0)
                ON CONFLICT DO UPDATE SET next_offset = excluded.next_offset;
                """)
            #expect(try reader.count(.examples) == 5)
            #expect(try reader.nextOffsets() == [labels0: 5])
        }
        #expect(try reader.count(.examples) == 6)
        #expect(try reader.nextOffsets() == [labels0: 6])
        let refused = #expect(throws: AuditLogError.self) { try reader.write(AuditBatch(examples: [example("x", offset: 99)])) }
        #expect(refused != nil)
    }

    @Test("views: top_suspects, latest_generalization and alerts_per_hour match the rows")
    func views() throws {
        let dir = try TemporaryLog()
        let log = try AuditLog(path: dir.path)
        // Ids repeat (the same example sent again): only the latest row of an id counts.
        var rng = SystemRandomNumberGenerator()
        var rows: [ExampleRecord] = []
        for offset in 0..<300 {
            let id = "e\(Int.random(in: 0..<120, using: &rng))"
            let quality = offset % 17 == 0 ? Double.nan : Double.random(in: 0..<1, using: &rng)
            rows.append(example(id, offset: Int64(offset), quality: quality, time: t0.addingTimeInterval(Double(offset))))
        }
        for chunk in stride(from: 0, to: rows.count, by: 64) {
            try log.write(AuditBatch(examples: Array(rows[chunk..<min(chunk + 64, rows.count)])))
        }
        let expected = expectedSuspects(rows)
        #expect(try log.suspects().map(\.position.offset) == expected)
        #expect(try log.suspects(limit: 10).map(\.position.offset) == Array(expected.prefix(10)))
        let since = t0.addingTimeInterval(200)
        #expect(try log.suspects(since: since).map(\.position.offset) == expected.filter { $0 >= 200 })

        let series = (1...5).map { generalization($0 * 1000, time: t0.addingTimeInterval(Double($0))) }
        try log.write(AuditBatch(generalization: Array(series[0..<3])))
        try log.write(AuditBatch(generalization: Array(series[3...])))
        #expect(try log.latestGeneralization() == series[4])
        #expect(try log.generalization() == series)
        #expect(try log.generalization(limit: 2) == Array(series[3...]))
        #expect(try log.generalization(since: t0.addingTimeInterval(2), limit: 2) == Array(series[3...]))

        // Alerts spread over hours; the expected counts come from calendar arithmetic.
        var alerts: [AlertRecord] = []
        for i in 0..<40 {
            let kind = AlertKind.allCases[i % 3]
            let time = t0.addingTimeInterval(Double(i) * 1100)
            var a = alert(kind, offset: Int64(i), time: time)
            if kind == .generalizationDrift {
                a = AlertRecord(alertID: "drift-\(i)", kind: kind, examplesSeen: i, reason: "drift", time: time)
            }
            alerts.append(a)
        }
        try log.write(AuditBatch(alerts: alerts))
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = try #require(TimeZone(identifier: "UTC"))
        var counts: [String: Int] = [:]
        for a in alerts {
            let c = calendar.dateComponents([.year, .month, .day, .hour], from: a.time)
            let hour = String(format: "%04d-%02d-%02d %02d:00", c.year ?? 0, c.month ?? 0, c.day ?? 0, c.hour ?? 0)
            counts["\(hour)|\(a.kind.rawValue)", default: 0] += 1
        }
        let perHour = try log.alertsPerHour()
        #expect(Dictionary(uniqueKeysWithValues: perHour.map { ("\($0.hour)|\($0.kind.rawValue)", $0.count) }) == counts)
        #expect(perHour.map(\.hour) == perHour.map(\.hour).sorted())
        #expect(try log.alerts(limit: 5).map(\.alertID) == alerts.suffix(5).map(\.alertID))
        #expect(try log.alerts(kind: .memorized).count == alerts.filter { $0.kind == .memorized }.count)
        #expect(try log.alerts().last == alerts.last)
    }

    @Test("suspects since a time read a rowid range from example_batches and equal a filter over every row, across a clock that stepped back and after pruning")
    func suspectsSince() throws {
        let dir = try TemporaryLog()
        let log = try AuditLog(path: dir.path)
        var rng = SystemRandomNumberGenerator()
        var rows: [ExampleRecord] = []
        // Twelve batches of 40 rows, batch b at t0 + 100 b + (0..<40); the clock of batch 7
        // stepped back to t0 + 250, among batch 2's times. Ids repeat across batches, except
        // in batch 7.
        for b in 0..<12 {
            let base = b == 7 ? 250.0 : Double(100 * b)
            let batch = (0..<40).map { i in
                let offset = Int64(rows.count + i)
                return example(b == 7 ? "late\(i)" : "e\(Int.random(in: 0..<150, using: &rng))", offset: offset,
                               quality: offset % 13 == 0 ? .nan : Double.random(in: 0..<1, using: &rng),
                               time: t0 + base + Double(i))
            }
            rows += batch
            try log.write(AuditBatch(examples: batch, checkpoint: b == 9 ? NewCheckpoint(snapshot: [1], examplesSeen: rows.count) : nil,
                                     time: t0 + base + 39))
        }
        let cuts: [Double] = [-10, 0, 150, 250, 260, 289.5, 290, 300, 705, 1139, 1139.5, 5000]
        func check(_ kept: [ExampleRecord]) throws {
            for cut in cuts {
                let expected = expectedSuspects(kept, since: t0 + cut)
                #expect(try log.suspects(since: t0 + cut).map(\.position.offset) == expected, "since t0 + \(cut)")
                #expect(try log.suspects(since: t0 + cut, limit: 5).map(\.position.offset) == Array(expected.prefix(5)), "since t0 + \(cut)")
            }
        }
        try check(rows)
        #expect(try log.suspects(since: t0 + 5000).isEmpty)
        // Batch 7, written after batch 6 but timed before batch 3: its rows from t0 + 260 on
        // (offsets 290…319, those with a quality) count from that cut-off, and batch 2's do not.
        let from260 = try log.suspects(since: t0 + 260).map(\.position.offset)
        #expect(Set(from260.filter { (280..<320).contains($0) }) == Set((290..<320).filter { $0 % 13 != 0 }))
        #expect(!from260.contains { (80..<120).contains($0) })
        try raw(dir) { db throws in
            let batches = try Row.fetchAll(db, sql: "SELECT first_id, time FROM example_batches ORDER BY first_id")
            let firstIDs: [Int64] = (0..<12).map { b in Int64(40 * b + 1) }
            #expect(batches.map { $0[0] as Int64 } == firstIDs)
            let latest: [Double] = (0..<12).map { b in
                let base: Double = b == 7 ? 250 : Double(100 * b)
                return t0.timeIntervalSince1970 + base + 39
            }
            #expect(batches.map { $0[1] as Double } == latest)
            // The rows come by rowid from the first batch of the window, its bound from the time index.
            let plan = try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN \(AuditLog.suspectsSince)",
                                        arguments: [(t0 + 700).timeIntervalSince1970, 5]).map { $0["detail"] as String }
            #expect(plan.contains { $0.contains("SEARCH examples USING INTEGER PRIMARY KEY (rowid>?)") }, "\(plan)")
            #expect(plan.contains { $0.contains("USING COVERING INDEX example_batches_time (time>?)") }, "\(plan)")
            #expect(!plan.contains { $0.hasPrefix("SCAN examples") }, "\(plan)")
        }
        // Pruning up to t0 + 420 takes batches 0 to 3 and half of batch 4 (the step ends at the
        // first row not old enough): their batch rows go, batch 4's stays for its other half.
        let pruned = try log.pruneExamples(olderThan: t0 + 420, at: t0 + 2000)
        #expect(pruned.rowsDeleted == 180)
        let kept = Array(rows[180...])
        try raw(dir) { db throws in
            let firstIDs: [Int64] = (4..<12).map { b in Int64(40 * b + 1) }
            #expect(try Int64.fetchAll(db, sql: "SELECT first_id FROM example_batches ORDER BY first_id") == firstIDs)
        }
        try check(kept)
    }

    @Test("a v9 log migrates to v10 with one batch row covering its example rows, timed by their latest")
    func upgradeFromV9() throws {
        for withRows in [true, false] {
            let dir = try olderLog("v9") { db in
                for (offset, time) in withRows ? [(0, 50.0), (1, 10.0), (2, 30.0)] : [] {
                    try db.execute(sql: """
                        INSERT INTO examples (example_id, topic, partition, offset, label_quality, flagged, time)
                        VALUES (?, 'labels', 0, ?, ?, 0, ?)
                        """, arguments: ["old\(offset)", offset, Double(offset) / 10, time])
                }
            }
            // A reader does not migrate: it says what is missing and what applies it.
            let refused = #expect(throws: AuditLogError.self) { try AuditLog(path: dir.path, options: .init(readOnly: true)) }
            // Later migrations follow v10 in the list; the test names only the one it is about.
            let said = refused.map { "\($0)" } ?? ""
            #expect(said.contains("schema migrations v10") && said.contains("not yet applied"), "\(said)")
            let log = try AuditLog(path: dir.path)
            #expect(try AuditLog(path: dir.path, options: .init(readOnly: true)).count(.examples) == (withRows ? 3 : 0))
            let batches = try raw(dir) { db throws in
                try Row.fetchAll(db, sql: "SELECT first_id, time FROM example_batches").map { "\($0[0] as Int64) \($0[1] as Double)" }
            }
            #expect(batches == (withRows ? ["1 50.0"] : []))
            try log.write(AuditBatch(examples: [example("new", offset: 3, quality: 0.9, time: t0)]))
            #expect(try log.suspects(since: Date(timeIntervalSince1970: 20)).map(\.exampleID) == (withRows ? ["old0", "old2", "new"] : ["new"]))
            #expect(try log.suspects(since: Date(timeIntervalSince1970: 60)).map(\.exampleID) == ["new"])
        }
    }

    @Test("message times: stored beside the processing time, NULL without one, read back by suspects, dead letters and alerts, published with the alert; a v10 log gains the columns")
    func messageTimes() throws {
        let dir = try olderLog("v10") { db in
            try db.execute(sql: """
                INSERT INTO examples (example_id, topic, partition, offset, label_quality, flagged, time) VALUES ('old', 'labels', 0, 0, 0.05, 0, 10);
                INSERT INTO dead_letters (topic, partition, offset, payload_prefix, payload_length, reason, time) VALUES ('labels', 0, 1, x'00', 1, 'bad', 10);
                INSERT INTO alerts (alert_id, kind, reason, examples_seen, time) VALUES ('old', 'mislabeled', 'r', 1, 10);
                """)
        }
        let log = try AuditLog(path: dir.path)
        let produced = Date(timeIntervalSince1970: 1_749_999_000.125)  // millisecond precision, as Kafka gives
        var stamped = example("stamped", offset: 2, quality: 0.1)
        stamped.messageTime = produced
        var unstamped = example("unstamped", offset: 3, quality: 0.2)
        unstamped.messageTime = nil
        var farFuture = example("far", offset: 4, quality: 0.3)
        farFuture.messageTime = Date(timeIntervalSince1970: .infinity)  // built by hand: stored as NULL, never as a non-finite figure
        let letters = [
            DeadLetterRecord(position: MessagePosition(topic: "labels", partition: 0, offset: 5), payload: [UInt8]("x".utf8), reason: "r",
                             time: t0, messageTime: produced),
            DeadLetterRecord(position: MessagePosition(topic: "labels", partition: 0, offset: 6), payload: [UInt8]("y".utf8), reason: "r", time: t0),
        ]
        var stampedAlert = alert(offset: 2)
        stampedAlert.messageTime = produced
        try log.write(AuditBatch(examples: [stamped, unstamped, farFuture], alerts: [stampedAlert, alert(offset: 3)], deadLetters: letters,
                                 nextOffsets: [labels0: 7]))
        let stored = try raw(dir) { db throws in
            try Row.fetchAll(db, sql: "SELECT example_id, message_time, time FROM examples ORDER BY id").map { row in
                "\(row[0] as String) \((row[1] as Double?).map { "\($0)" } ?? "NULL") \(row[2] as Double)"
            }
        }
        #expect(stored == ["old NULL 10.0", "stamped 1749999000.125 \(t0.timeIntervalSince1970)", "unstamped NULL \(t0.timeIntervalSince1970)",
                           "far NULL \(t0.timeIntervalSince1970)"])
        // The view is `e.*`: it picks the new column up, and the reader takes it from there.
        let suspects = try log.suspects()
        #expect(suspects.map(\.exampleID) == ["old", "stamped", "unstamped", "far"])
        #expect(suspects.map(\.messageTime) == [nil, produced, nil, nil])
        #expect(try log.suspects(since: t0).map(\.messageTime) == [produced, nil, nil])
        #expect(try log.deadLetters().map(\.messageTime) == [nil, produced, nil])
        #expect(try log.deadLetters().map(\.position.offset) == [1, 5, 6])
        #expect(try log.alerts().map(\.messageTime) == [nil, produced, nil])
        let published = try log.undeliveredAlerts().map { try JSONSerialization.jsonObject(with: Data($0.payload.utf8)) as? [String: Any] }
        #expect(published.map { $0?["message_time"] as? Double } == [produced.timeIntervalSince1970, nil])
        #expect(published.map { $0?.keys.contains("message_time") } == [true, true])  // null, not left out
    }

    @Test("non-finite numbers are stored as NULL and read back as NaN or nil")
    func nonFinite() throws {
        let dir = try TemporaryLog()
        let log = try AuditLog(path: dir.path)
        var row = example("inf", offset: 0)
        row.curvature = .infinity
        row.memorization = -.infinity
        row.labelQuality = .nan
        var a = alert(offset: 0)
        a.sensitivity = .nan
        try log.write(AuditBatch(examples: [row], alerts: [a], generalization: [
            GeneralizationRecord(examplesSeen: 1, memoryCount: 1, prequentialNLL: .infinity, prequentialError: 0,
                                 recentPrequentialNLL: 0, recentPrequentialError: 0, looNLL: .nan, looError: 0),
        ]))
        try raw(dir) { db throws in
            let stored = try #require(try Row.fetchOne(db, sql: "SELECT curvature, memorization, label_quality, sensitivity FROM examples"))
            #expect(stored[0] as DatabaseValue == .null)
            #expect(stored[1] as DatabaseValue == .null)
            #expect(stored[2] as DatabaseValue == .null)
            #expect(stored[3] as Double? == 0.2)
            #expect(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM generalization WHERE prequential_nll IS NULL AND loo_nll IS NULL") == 1)
        }
        #expect(try log.alerts().first?.sensitivity == nil)
        #expect(try log.undeliveredAlerts().first?.payload.contains("\"sensitivity\":null") == true)
        #expect(try log.latestGeneralization()?.looNLL.isNaN == true)
    }

    @Test("flagged-only mode keeps flagged rows and still advances every offset")
    func flaggedOnly() throws {
        let dir = try TemporaryLog()
        let log = try AuditLog(path: dir.path, options: .init(examples: .flaggedOnly))
        let rows = (0..<10).map { example("e\($0)", offset: Int64($0), flagged: $0 % 4 == 0) }
        let result = try log.write(AuditBatch(examples: rows, nextOffsets: [labels0: 10]))
        #expect(result.examplesWritten == 3)
        #expect(try log.count(.examples) == 3)
        #expect(try log.nextOffsets() == [labels0: 10])
        // A batch with no row written records no batch; one with rows records where they begin.
        try log.write(AuditBatch(examples: [example("e10", offset: 10)], nextOffsets: [labels0: 11]))
        try raw(dir) { db throws in #expect(try Int64.fetchAll(db, sql: "SELECT first_id FROM example_batches") == [1]) }
        #expect(try log.suspects(since: t0).map(\.exampleID) == ["e0", "e4", "e8"])
    }

    @Test("dead letters keep a 4 KiB prefix and the full length; stream events round-trip")
    func deadLettersAndStreamEvents() throws {
        let dir = try TemporaryLog()
        let log = try AuditLog(path: dir.path)
        let huge = [UInt8](repeating: 0x41, count: 2_000_000)
        let event = StreamEventRecord(kind: StreamEventRecord.offsetGap, topicPartition: labels1, expectedOffset: 5000, foundOffset: 0,
                                      message: "stored offset past the end", time: t0)
        try log.write(AuditBatch(
            deadLetters: [DeadLetterRecord(position: MessagePosition(topic: "labels", partition: 0, offset: 7), payload: huge, reason: "over 1 MiB", time: t0)],
            streamEvents: [event]))
        let letter = try #require(try log.deadLetters().first)
        #expect(letter.payloadPrefix.count == 4096)
        #expect(letter.payloadLength == 2_000_000)
        #expect(letter.reason == "over 1 MiB")
        #expect(try log.streamEvents() == [event])
    }

    @Test("example ids and topics are stored byte for byte: empty, small and large strings, unicode, NUL, bridged")
    func exampleTextRoundTrips() throws {
        // The writer binds both strings without a copy, valid only while the row is stepped:
        // every row of one batch must keep its own text (a stale or reused buffer would show).
        let bridged = NSString(string: "bridged NSString id, long enough not to be a small string") as String
        let ids = ["", "e1", "fifteen bytes..", "sixteen bytes...", "unicode é ✓ 🧪", "nul \u{0} inside", bridged,
                   String(repeating: "long id ", count: 40)]
        let topics = ["labels", "t", "a-topic.name_with-99-characters-" + String(repeating: "x", count: 60), "ünï"]
        let file = try TemporaryLog()
        let log = try AuditLog(path: file.path)
        var rows: [ExampleRecord] = []
        for (i, id) in ids.enumerated() {
            for (p, topic) in topics.enumerated() { rows.append(example(id, topic: topic, partition: Int32(p), offset: Int64(i))) }
        }
        try log.write(AuditBatch(examples: rows))
        let stored = try raw(file) { db in
            try Row.fetchAll(db, sql: "SELECT CAST(example_id AS BLOB), CAST(topic AS BLOB) FROM examples ORDER BY id").map {
                (Array(($0[0] as Data?) ?? Data()), Array(($0[1] as Data?) ?? Data()))
            }
        }
        #expect(stored.count == rows.count)
        for (row, (id, topic)) in zip(rows, stored) {
            #expect(id == Array(row.exampleID.utf8), "\(row.exampleID)")
            #expect(topic == Array(row.position.topic.utf8), "\(row.position.topic)")
        }
    }

    @Test("an alert's example id is stored and read back byte for byte, as the example row's (NUL included)")
    func alertExampleIDRoundTrips() throws {
        let file = try TemporaryLog()
        let log = try AuditLog(path: file.path)
        let ids = ["nul \u{0} inside", "", "unicode é ✓ 🧪", String(repeating: "long id ", count: 40)]
        var alerts: [AlertRecord] = []
        var rows: [ExampleRecord] = []
        for (i, id) in ids.enumerated() {
            var a = alert(offset: Int64(i))
            a.exampleID = id
            alerts.append(a)
            rows.append(example(id, offset: Int64(i)))
        }
        alerts.append(AlertRecord(alertID: "drift-1", kind: .generalizationDrift, examplesSeen: 1, reason: "drift", time: t0))
        try log.write(AuditBatch(examples: rows, alerts: alerts))
        let stored = try raw(file) { db in
            try Row.fetchAll(db, sql: "SELECT CAST(example_id AS BLOB), typeof(example_id) FROM alerts ORDER BY id").map {
                (($0[0] as Data?).map(Array.init), $0[1] as String)
            }
        }
        #expect(stored.count == alerts.count)
        for (a, (id, type)) in zip(alerts, stored) {
            #expect(id == a.exampleID.map { Array($0.utf8) }, "\(String(describing: a.exampleID))")
            #expect(type == (a.exampleID == nil ? "null" : "text"))
        }
        // Each alert finds its example row by id.
        let joined = try raw(file) { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM alerts a JOIN examples e ON e.example_id = a.example_id") ?? -1
        }
        #expect(joined == ids.count)
        // Read back through the log (what `query` prints) whole as well.
        #expect(try log.alerts().map(\.exampleID) == alerts.map(\.exampleID))
        for since in [nil, t0] {
            #expect(try Set(log.suspects(since: since).map(\.exampleID)) == Set(ids), "since \(String(describing: since))")
        }
    }

    @Test(arguments: ["plain id e17", "quote \" and backslash \\ inside", "controls \n\r\t\u{01}\u{1F} end", "unicode é ✓ 🧪", "", "\u{7F} DEL"])
    func jsonStringLiteralsRoundTrip(text: String) throws {
        // Either path of the escaper (whole string, or scalar by scalar) must give a literal that
        // a JSON parser reads back as the same text.
        let literal = JSONEscaping.literal(text)
        let parsed = try JSONSerialization.jsonObject(with: Data("[\(literal)]".utf8)) as? [String]
        let printable = literal.utf8.allSatisfy { $0 >= 0x20 }
        #expect(parsed == [text])
        #expect(printable)
    }
}
