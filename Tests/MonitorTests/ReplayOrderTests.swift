@testable import AuditLog
import Testing

/// A message for `ReplayOrder`: a position and nothing else (the order never reads a payload).
struct Positioned: ReplayableMessage, Equatable, CustomStringConvertible {
    let replayPartition: TopicPartition
    let offset: Int64
    var description: String { "\(replayPartition.partition)/\(offset)" }
}

func messages(_ tp: TopicPartition, _ offsets: ClosedRange<Int64>) -> [Positioned] {
    offsets.map { Positioned(replayPartition: tp, offset: $0) }
}

func run(_ tp: TopicPartition, _ first: Int64, _ count: Int64) -> ProcessingRun {
    ProcessingRun(topicPartition: tp, epoch: 0, firstOffset: first, count: count)
}

@Suite("ReplayOrder")
struct ReplayOrderTests {
    /// Recorded: p0 10–12, p1 0–1, p0 13, p1 2 (spans p0 10..<14 and p1 0..<3).
    let recorded = [run(labels0, 10, 3), run(labels1, 0, 2), run(labels0, 13, 1), run(labels1, 2, 1)]
    let starts = [labels0: Int64(10), labels1: Int64(0)]
    let ends = [labels0: Int64(14), labels1: Int64(3)]

    @Test("fetches in any interleaving come out in the recorded order; later messages after it, in arrival order")
    func followsTheRecord() {
        var order = ReplayOrder<Positioned>(runs: recorded, starts: starts, ends: ends)
        #expect(order.isActive)
        #expect(order.remaining == 7)
        var out: [Positioned] = []
        // Partition 1 arrives first, whole, with a message past its span; nothing can go yet.
        out += order.admit(messages(labels1, 0...3), logEnds: [:])
        #expect(out.isEmpty)
        #expect(order.remaining == 7)
        // Partition 0 in two fetches.
        out += order.admit(messages(labels0, 10...11), logEnds: [:])
        out += order.admit(messages(labels0, 12...15), logEnds: [labels0: 16, labels1: 4])
        #expect(!order.isActive)
        #expect(order.abandoned == nil)
        let expected = messages(labels0, 10...12) + messages(labels1, 0...1) + messages(labels0, 13...13)
            + messages(labels1, 2...2) + messages(labels1, 3...3) + messages(labels0, 14...15)
        #expect(out == expected)
    }

    @Test("gaps between runs of a partition (compaction) are followed")
    func gaps() {
        let runs = [run(labels0, 0, 2), run(labels1, 0, 1), run(labels0, 5, 1)]
        var order = ReplayOrder<Positioned>(runs: runs, starts: [labels0: 0, labels1: 0], ends: [labels0: 6, labels1: 1])
        #expect(order.isActive)
        let p0 = [Positioned(replayPartition: labels0, offset: 0), Positioned(replayPartition: labels0, offset: 1),
                  Positioned(replayPartition: labels0, offset: 5)]
        let out = order.admit(p0, logEnds: [:]) + order.admit(messages(labels1, 0...0), logEnds: [:])
        #expect(out.map(\.description) == ["0/0", "0/1", "1/0", "0/5"])
        #expect(order.abandoned == nil)
    }

    @Test("an incomplete record is refused up front: replay in arrival order, with the reason")
    func incompleteRecord() {
        let short = ReplayOrder<Positioned>(runs: Array(recorded.dropLast()), starts: starts, ends: ends)
        #expect(!short.isActive)
        #expect(short.abandoned?.contains("stops at offset 2, before 3") == true)
        let none = ReplayOrder<Positioned>(runs: [], starts: starts, ends: ends)
        #expect(!none.isActive)
        #expect(none.abandoned != nil)
        let foreign = ReplayOrder<Positioned>(runs: [run(labels0, 9, 5)], starts: [labels0: 10], ends: [labels0: 14])
        #expect(foreign.abandoned?.contains("does not cover") == true)
        let nothing = ReplayOrder<Positioned>(runs: [], starts: [:], ends: [:])
        #expect(!nothing.isActive)
        #expect(nothing.abandoned == nil)
    }

    @Test("a log that ends before what the record needs gives the order up at once, releasing all held in arrival order")
    func lostLog() {
        var order = ReplayOrder<Positioned>(runs: recorded, starts: starts, ends: ends)
        #expect(order.admit(messages(labels1, 0...1), logEnds: [:]).isEmpty)
        // Partition 0's log now ends at 12: offsets 12 and 13 will never come.
        let out = order.admit(messages(labels0, 10...11), logEnds: [labels0: 12, labels1: 3])
        #expect(!order.isActive)
        #expect(order.abandoned?.contains("ends at offset 12, before offset 14") == true)
        #expect(out == messages(labels1, 0...1) + messages(labels0, 10...11))
        // Afterwards nothing is held: what comes in goes straight out.
        #expect(order.admit(messages(labels0, 0...0), logEnds: [:]) == messages(labels0, 0...0))
        #expect(!order.isActive)
    }

    @Test("the idle tick: an empty admit waits while the log ends are unknown, and gives up once they show the data lost")
    func idleTickSeesALostLog() {
        var order = ReplayOrder<Positioned>(runs: recorded, starts: starts, ends: ends)
        // Partition 0 delivered its first two messages before its log end was known, then the
        // topic went idle: nothing more arrives, so only the monitor's tick calls admit again.
        #expect(order.admit(messages(labels1, 0...1), logEnds: [:]).isEmpty)
        #expect(order.admit(messages(labels0, 10...11), logEnds: [:]) == messages(labels0, 10...11))
        #expect(order.admit([Positioned](), logEnds: [:]).isEmpty)
        #expect(order.isActive)
        // A later tick carries the log ends a fetch reported meanwhile: p0 ends at 12, so 12 and
        // 13 never come, and the messages of p1 that waited for them go out.
        let out = order.admit([Positioned](), logEnds: [labels0: 12, labels1: 3])
        #expect(!order.isActive)
        #expect(order.abandoned?.contains("ends at offset 12, before offset 14") == true)
        #expect(out == messages(labels1, 0...1))
    }

    @Test("an unexpected offset (a trimmed log) gives the order up, keeping what was released in order")
    func unexpectedOffset() {
        var order = ReplayOrder<Positioned>(runs: recorded, starts: starts, ends: ends)
        let out = order.admit(messages(labels0, 10...12) + messages(labels1, 1...2), logEnds: [:])
        #expect(order.abandoned?.contains("delivered offset 1 where the recorded order expects 0") == true)
        #expect(out == messages(labels0, 10...12) + messages(labels1, 1...2))
    }

    @Test("a partition that ends before its runs, or too many held messages, give the order up")
    func endAndLimit() {
        var ended = ReplayOrder<Positioned>(runs: recorded, starts: starts, ends: ends)
        #expect(ended.admit(messages(labels1, 0...2), logEnds: [:]).isEmpty)
        #expect(ended.partitionEnded(labels1).isEmpty)   // its messages are held: not a reason
        let out = ended.partitionEnded(labels0)
        #expect(ended.abandoned?.contains("ended before offset 10") == true)
        #expect(out == messages(labels1, 0...2))

        var limited = ReplayOrder<Positioned>(runs: recorded, starts: starts, ends: ends, heldLimit: 3)
        #expect(limited.admit(messages(labels1, 0...2), logEnds: [:]).isEmpty)
        #expect(limited.isActive)
        let released = limited.admit(messages(labels1, 3...3), logEnds: [:])
        #expect(limited.abandoned?.contains("4 messages waited") == true)
        #expect(released == messages(labels1, 0...3))
    }
}
