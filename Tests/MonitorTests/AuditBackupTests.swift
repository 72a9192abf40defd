@testable import AuditLog
import Dispatch
import Foundation
import Testing

@Suite("AuditLog backup")
struct AuditBackupTests {
    /// Every file in the test's directory, for checking what a backup left behind.
    private func files(_ dir: TemporaryLog) throws -> Set<String> {
        Set(try FileManager.default.contentsOfDirectory(atPath: dir.directory.path))
    }

    @Test("backups taken while another connection writes are each one committed state: rows, offsets and checkpoint agree")
    func consistentWhileWriting() throws {
        let dir = try TemporaryLog()
        let perBatch = 25
        let writer = try AuditLog(path: dir.path)
        @Sendable func batch(_ b: Int) -> AuditBatch {
            let offsets = Int64(b * perBatch)..<Int64((b + 1) * perBatch)
            return AuditBatch(examples: offsets.map { example("e\($0)", offset: $0) }, nextOffsets: [labels0: offsets.upperBound],
                              checkpoint: b % 10 == 9 ? NewCheckpoint(snapshot: [UInt8(b % 256)], examplesSeen: Int(offsets.upperBound)) : nil)
        }
        for b in 0..<20 { try writer.write(batch(b)) }

        // The monitor's part: batches keep coming on another thread while the copies are made.
        let batches = 600
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            for b in 20..<batches { _ = try? writer.write(batch(b)) }
            done.signal()
        }
        let reader = try AuditLog(path: dir.path, options: .init(readOnly: true))
        var copied: [Int] = []
        for i in 0..<6 {
            let destination = dir.directory.appendingPathComponent("copy-\(i).sqlite").path
            let backup = try reader.backup(to: destination)
            #expect(backup.pages > 0)
            let copy = try AuditLog(path: destination, options: .init(readOnly: true))
            let rows = try copy.count(.examples)
            // Whole batches only, with the offsets written in the same transaction as their rows.
            #expect(rows % perBatch == 0)
            #expect(try copy.nextOffsets() == [labels0: Int64(rows)])
            let checkpoint = try #require(try copy.latestCheckpoint())
            #expect(checkpoint.offsets[labels0] == Int64(checkpoint.examplesSeen))
            #expect(rows - checkpoint.examplesSeen < 10 * perBatch)
            #expect(try copy.suspects(since: nil, limit: 3).count == 3)
            try copy.close()
            copied.append(rows)
        }
        done.wait()
        #expect(copied == copied.sorted())
        #expect(try writer.count(.examples) == batches * perBatch)

        // Once the writer has stopped, a copy holds exactly what the log holds.
        let last = dir.directory.appendingPathComponent("final.sqlite").path
        _ = try reader.backup(to: last)
        let copy = try AuditLog(path: last, options: .init(readOnly: true))
        for table in AuditTable.allCases { #expect(try copy.count(table) == writer.count(table), "\(table)") }
        #expect(try copy.nextOffsets() == writer.nextOffsets())
        #expect(try copy.latestCheckpoint() == writer.latestCheckpoint())
        #expect(try files(dir).filter { $0.contains(".partial") }.isEmpty)
    }

    @Test("a backup never replaces an existing file, and a failed one leaves nothing under either name")
    func refusesAndCleansUp() throws {
        let dir = try TemporaryLog()
        let log = try AuditLog(path: dir.path)
        try log.write(AuditBatch(examples: (0..<5).map { example("e\($0)", offset: $0) }, nextOffsets: [labels0: 5]))

        let existing = dir.directory.appendingPathComponent("taken.sqlite").path
        let bytes = Data("someone else's file".utf8)
        #expect(FileManager.default.createFile(atPath: existing, contents: bytes))
        let refused = #expect(throws: AuditLogError.self) { try log.backup(to: existing) }
        #expect(refused?.kind == .invalidArgument)
        #expect(refused?.message.contains("exists") == true)
        #expect(FileManager.default.contents(atPath: existing) == bytes)

        let before = try files(dir)
        let nowhere = dir.directory.appendingPathComponent("missing/copy.sqlite").path
        let failed = #expect(throws: AuditLogError.self) { try log.backup(to: nowhere) }
        #expect(failed?.kind == .database)
        #expect(try files(dir) == before)
    }
}
