/// A consumed message as `ReplayOrder` sees it: its place in its partition's log. (The Kafka
/// message type conforms in the executable; this module knows no transport.)
public protocol ReplayableMessage {
    /// The message's partition.
    var replayPartition: TopicPartition { get }
    /// The message's offset in that partition's log.
    var offset: Int64 { get }
}

/// After a restart, hands the messages between the checkpoint and the stored next offsets to
/// the learner in the order the crashed run learned them (the `processing_order` rows), so
/// that the learner it rebuilds is the crashed run's, bit for bit, on a topic of any number of
/// partitions. Fetches deliver the partitions interleaved as they happen to arrive; each
/// partition's messages come in offset order, so holding each partition's messages in a queue
/// and releasing them run by run reproduces the recorded interleaving.
///
/// Messages past the recorded runs wait until the runs are done (the crashed run had learned
/// all of those first), then go out in arrival order. Where the recorded order cannot be
/// followed (a partition's log now ends before the messages the order needs: the broker lost
/// it; a partition delivers an offset other than the one expected: its log was trimmed by
/// retention or compacted; a partition ends before its runs do; too many messages wait), the
/// order is given up: everything held goes out in arrival order, the reason is
/// reported once, and the processor's own checks (gaps, log epochs) take it from there.
///
/// It lives beside the audit log because it follows the log's `processing_order` record; it is
/// generic over the message type so that it is tested without a broker.
public struct ReplayOrder<Message: ReplayableMessage> {
    /// At most this many messages wait for the recorded order. Each holds its fetched batch in
    /// memory; a partition that is merely slow to deliver releases them soon, one that never
    /// delivers must not grow the process without bound.
    public static var heldLimit: Int { 200_000 }

    private var runs: [ProcessingRun]
    /// Per partition, one past the last offset the runs need.
    private var needed: [TopicPartition: Int64] = [:]
    private var runIndex = 0
    private var nextOffset: Int64 = 0
    /// Per partition, in arrival order: (arrival number, message), consumed from `heads`.
    private var held: [TopicPartition: [(arrival: Int, message: Message)]] = [:]
    private var heads: [TopicPartition: Int] = [:]
    private var heldCount = 0
    private var arrivals = 0
    /// Why the recorded order was given up, once (the caller logs it).
    public private(set) var abandoned: String?
    private let limit: Int

    /// The recorded `runs` (from `AuditLog.processingOrder`) must tile each partition's span
    /// from its checkpoint offset (`starts`) up to its stored next offset (`ends`) exactly; an
    /// incomplete record (an audit log written before the order was recorded, say) is refused
    /// with the reason in `abandoned`, and the replay goes in arrival order.
    ///
    /// `heldLimit`: at most this many messages wait (the default is `ReplayOrder.heldLimit`).
    public init(runs: [ProcessingRun], starts: [TopicPartition: Int64], ends: [TopicPartition: Int64], heldLimit: Int = Self.heldLimit) {
        self.runs = runs
        limit = heldLimit
        var covered = starts
        for run in runs {
            let tp = run.topicPartition
            // Runs of a partition follow each other, with gaps where the log has no message
            // (compaction, transaction markers).
            guard let at = covered[tp], let end = ends[tp], run.firstOffset >= at, run.endOffset <= end else {
                self.runs = []
                abandoned = "the recorded processing order does not cover \(tp) from its checkpoint offset"
                return
            }
            covered[tp] = run.endOffset
        }
        for (tp, end) in ends where (covered[tp] ?? end) != end {
            self.runs = []
            abandoned = "the recorded processing order of \(tp) stops at offset \(covered[tp] ?? 0), before \(end)"
            return
        }
        nextOffset = runs.first?.firstOffset ?? 0
        for run in runs { needed[run.topicPartition] = max(needed[run.topicPartition] ?? 0, run.endOffset) }
    }

    /// Whether messages still go through `admit`.
    public var isActive: Bool { runIndex < runs.count }

    /// Messages of the recorded runs still to come.
    public var remaining: Int64 {
        guard isActive else { return 0 }
        return runs[runIndex...].reduce(0) { $0 + $1.count } - (nextOffset - runs[runIndex].firstOffset)
    }

    /// Takes a consumed batch; returns the messages to process now, in order. `logEnds`: the
    /// partitions' log ends as the fetches reported them. A log that ends before what the order
    /// still needs of it lost its data (a broker restarted without storage): those messages
    /// will never come, and waiting for them would hold the other partitions for ever.
    public mutating func admit(_ batch: some Sequence<Message>, logEnds: [TopicPartition: Int64]) -> [Message] {
        for message in batch {
            held[message.replayPartition, default: []].append((arrivals, message))
            arrivals += 1
            heldCount += 1
        }
        for (tp, end) in logEnds {
            if let need = needed[tp], end < need, runs[runIndex...].contains(where: { $0.topicPartition == tp }) {
                return giveUp("the log of \(tp) now ends at offset \(end), before offset \(need) that the recorded order needs (its data was lost)")
            }
        }
        return release()
    }

    /// A partition reached the end of its log: if the recorded order still expects messages
    /// of it that have not arrived, they never will, and the order is given up.
    public mutating func partitionEnded(_ tp: TopicPartition) -> [Message] {
        guard isActive, runs[runIndex...].contains(where: { $0.topicPartition == tp }), queued(tp) == 0 else { return [] }
        return giveUp("\(tp) ended before offset \(expectedOffset(of: tp)), which the recorded order still expects")
    }

    private mutating func release() -> [Message] {
        var out: [Message] = []
        while runIndex < runs.count {
            let run = runs[runIndex]
            let tp = run.topicPartition
            guard queued(tp) > 0, let queue = held[tp] else { break }
            let head = heads[tp, default: 0]
            let message = queue[head].message
            guard message.offset == nextOffset else {
                return out + giveUp("\(tp) delivered offset \(message.offset) where the recorded order expects \(nextOffset)")
            }
            out.append(message)
            heldCount -= 1
            // A drained queue starts over, so that released messages (and their batches) go.
            if head + 1 == queue.count {
                held[tp] = nil
                heads[tp] = nil
            } else {
                heads[tp] = head + 1
            }
            nextOffset += 1
            if nextOffset == run.endOffset {
                runIndex += 1
                if runIndex < runs.count { nextOffset = runs[runIndex].firstOffset }
            }
        }
        if !isActive { return out + drainHeld() }
        if heldCount > limit {
            return out + giveUp("\(heldCount) messages waited for the recorded order (\(remaining) of its messages still to come)")
        }
        return out
    }

    private mutating func giveUp(_ reason: String) -> [Message] {
        abandoned = reason
        runs = []
        runIndex = 0
        return drainHeld()
    }

    /// Everything still held, in arrival order.
    private mutating func drainHeld() -> [Message] {
        var rest: [(arrival: Int, message: Message)] = []
        rest.reserveCapacity(heldCount)
        for (tp, queue) in held { rest.append(contentsOf: queue[heads[tp, default: 0]...]) }
        held = [:]
        heads = [:]
        heldCount = 0
        return rest.sorted { $0.arrival < $1.arrival }.map(\.message)
    }

    private func queued(_ tp: TopicPartition) -> Int { (held[tp]?.count ?? 0) - heads[tp, default: 0] }

    private func expectedOffset(of tp: TopicPartition) -> Int64 {
        runs[runIndex].topicPartition == tp ? nextOffset : runs[runIndex...].first { $0.topicPartition == tp }?.firstOffset ?? 0
    }
}

extension ReplayOrder: Sendable where Message: Sendable {}
