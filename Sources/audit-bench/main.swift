// audit-bench: throughput of AuditLog.write for example rows, beside a baseline of the same
// rows inserted in the same process with one raw sqlite3 prepared statement (same schema,
// same batches, same transaction per batch with the offsets upsert, same synchronous mode).
// Release builds only:
//   swift build -c release --product audit-bench && .build/release/audit-bench [rows] [batch] [full|normal]
import AuditLog
import Foundation
import GRDBSQLite

let arguments = CommandLine.arguments
let rows = arguments.count > 1 ? Int(arguments[1]) ?? 1_000_000 : 1_000_000
let batchSize = arguments.count > 2 ? Int(arguments[2]) ?? 1000 : 1000
let durability = AuditLog.Durability(rawValue: arguments.count > 3 ? arguments[3] : "full") ?? .full
let directory = FileManager.default.temporaryDirectory.appendingPathComponent("audit-bench-\(getpid())")
try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: directory) }

/// Deterministic rows: the values vary so that SQLite stores full REALs, as real scores would.
func makeBatch(_ start: Int, _ count: Int) -> [ExampleRecord] {
    let now = Date()
    return (start..<(start + count)).map { i in
        let q = Double((i &* 2_654_435_761) % 1_000_003) / 1_000_003
        return ExampleRecord(
            exampleID: "ex\(i)", position: MessagePosition(topic: "labels", partition: Int32(i % 3), offset: Int64(i / 3)),
            givenLabel: Double(i % 10), predictedLabel: Double((i + 1) % 10), prequentialProbability: q,
            prequentialNLL: -log(q + 1e-9), labelQuality: q * 0.9, memorization: q * 0.1, sensitivity: q * 0.3,
            curvature: q * 2, flagged: i % 100 == 0, time: now,
            messageTime: now.addingTimeInterval(-Double(i % 1000) / 1000))  // stamped by a producer a moment before
    }
}

func nextOffsets(_ batch: [ExampleRecord]) -> [TopicPartition: Int64] {
    var offsets: [TopicPartition: Int64] = [:]
    for e in batch { offsets[e.position.topicPartition] = max(offsets[e.position.topicPartition] ?? 0, e.position.offset + 1) }
    return offsets
}

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }

// --- AuditLog.write -------------------------------------------------------------------------
func benchAuditLog() throws -> Double {
    let log = try AuditLog(path: directory.appendingPathComponent("auditlog.sqlite").path, options: .init(durability: durability))
    let clock = ContinuousClock()
    var spent = Duration.zero
    for start in stride(from: 0, to: rows, by: batchSize) {
        let examples = makeBatch(start, min(batchSize, rows - start))
        let batch = AuditBatch(examples: examples, nextOffsets: nextOffsets(examples))
        spent += try clock.measure { _ = try log.write(batch) }
    }
    let written = try log.count(.examples)
    precondition(written == rows, "\(written) rows written, expected \(rows)")
    try log.close()
    return Double(rows) / seconds(spent)
}

// --- raw sqlite3 baseline -------------------------------------------------------------------
struct SQLiteFailure: Error, CustomStringConvertible {
    var description: String
}

func benchRaw() throws -> Double {
    let path = directory.appendingPathComponent("raw.sqlite").path
    try AuditLog(path: path).close()  // the same schema, indexes and triggers
    var db: OpaquePointer?
    guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, nil) == SQLITE_OK, let db else { throw SQLiteFailure(description: "open") }
    defer { sqlite3_close_v2(db) }
    func exec(_ sql: String) throws {
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else { throw SQLiteFailure(description: String(cString: sqlite3_errmsg(db))) }
    }
    func prepare(_ sql: String) throws -> OpaquePointer {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil) == SQLITE_OK, let statement else {
            throw SQLiteFailure(description: String(cString: sqlite3_errmsg(db)))
        }
        return statement
    }
    try exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = \(durability == .full ? "FULL" : "NORMAL")")
    let insert = try prepare("""
        INSERT INTO examples (example_id, topic, partition, offset, given_label, predicted_label, prequential_probability,
                              prequential_nll, label_quality, memorization, sensitivity, curvature, flagged, time, message_time)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """)
    let upsert = try prepare("""
        INSERT INTO partition_offsets (topic, partition, next_offset, updated_at) VALUES (?, ?, ?, ?)
        ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset, updated_at = excluded.updated_at
        """)
    defer { sqlite3_finalize(insert); sqlite3_finalize(upsert) }
    let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
    func real(_ s: OpaquePointer, _ i: Int32, _ x: Double) {
        if x.isFinite { sqlite3_bind_double(s, i, x) } else { sqlite3_bind_null(s, i) }
    }
    func step(_ s: OpaquePointer) throws {
        guard sqlite3_step(s) == SQLITE_DONE else { throw SQLiteFailure(description: String(cString: sqlite3_errmsg(db))) }
        sqlite3_reset(s)
    }
    let clock = ContinuousClock()
    var spent = Duration.zero
    for start in stride(from: 0, to: rows, by: batchSize) {
        let examples = makeBatch(start, min(batchSize, rows - start))
        let offsets = nextOffsets(examples)
        spent += try clock.measure {
            try exec("BEGIN IMMEDIATE")
            for e in examples {
                sqlite3_bind_text(insert, 1, e.exampleID, -1, transient)
                sqlite3_bind_text(insert, 2, e.position.topic, -1, transient)
                sqlite3_bind_int64(insert, 3, Int64(e.position.partition))
                sqlite3_bind_int64(insert, 4, e.position.offset)
                real(insert, 5, e.givenLabel)
                real(insert, 6, e.predictedLabel)
                real(insert, 7, e.prequentialProbability)
                real(insert, 8, e.prequentialNLL)
                real(insert, 9, e.labelQuality)
                real(insert, 10, e.memorization)
                real(insert, 11, e.sensitivity)
                real(insert, 12, e.curvature)
                sqlite3_bind_int64(insert, 13, e.flagged ? 1 : 0)
                sqlite3_bind_double(insert, 14, e.time.timeIntervalSince1970)
                real(insert, 15, e.messageTime?.timeIntervalSince1970 ?? .nan)
                try step(insert)
            }
            for (place, offset) in offsets.sorted(by: { $0.key < $1.key }) {
                sqlite3_bind_text(upsert, 1, place.topic, -1, transient)
                sqlite3_bind_int64(upsert, 2, Int64(place.partition))
                sqlite3_bind_int64(upsert, 3, offset)
                sqlite3_bind_double(upsert, 4, Date().timeIntervalSince1970)
                try step(upsert)
            }
            try exec("COMMIT")
        }
    }
    return Double(rows) / seconds(spent)
}

print("audit-bench: \(rows) example rows in batches of \(batchSize), one transaction per batch with the offsets, synchronous=\(durability.rawValue)")
let raw = try benchRaw()
let audit = try benchAuditLog()
func format(_ x: Double) -> String { String(format: "%9.0f", x) }
print("raw sqlite3 prepared statement  \(format(raw)) rows/s")
print("AuditLog.write                  \(format(audit)) rows/s  (\(String(format: "%.2f", audit / raw))x raw)")
