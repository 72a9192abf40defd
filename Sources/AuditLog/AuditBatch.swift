import Foundation

/// Everything one batch of messages produced, written by `AuditLog.write` in one SQLite
/// transaction together with the partitions' new next offsets.
///
/// This is the crash-safety contract: an offset counts as done only once the rows its
/// messages produced are durable, and both become durable in the same commit, so after a
/// crash the log holds either all of a batch and its offsets, or none of it.
///
/// After restoring a checkpoint the pipeline re-reads messages below the stored next offsets
/// to rebuild the learner state; it must not submit rows for them again (positions are
/// unique, and a duplicate fails the whole batch).
public struct AuditBatch: Sendable {
    /// One row per processed message (only the flagged ones are kept in flagged-only mode).
    public var examples: [ExampleRecord]
    /// Alerts raised; each also enters the outbox, to be published and marked delivered.
    public var alerts: [AlertRecord]
    /// Generalization snapshots taken.
    public var generalization: [GeneralizationRecord]
    /// Change-detector firings.
    public var driftEvents: [DriftRecord]
    /// Messages refused.
    public var deadLetters: [DeadLetterRecord]
    /// Stream events (offset gaps and the like).
    public var streamEvents: [StreamEventRecord]
    /// The order the batch's messages were processed in, across partitions (messages
    /// re-learned after a restart are not recorded again).
    public var order: [ProcessingRun]
    /// The next offset to read of every partition the batch advanced. Partitions not named
    /// keep their stored offset.
    public var nextOffsets: [TopicPartition: Int64]
    /// The log epoch of partitions in `nextOffsets` (see `MessagePosition.epoch`); a
    /// partition not named keeps its stored epoch (0 when new).
    public var epochs: [TopicPartition: Int64]
    /// A learner checkpoint taken after the batch; it is stored with the next offsets of all
    /// partitions as they stand after this batch.
    public var checkpoint: NewCheckpoint?
    /// When the batch was written: the time of the offsets and of the checkpoint.
    public var time: Date

    /// A batch; every part may be empty.
    public init(
        examples: [ExampleRecord] = [], alerts: [AlertRecord] = [], generalization: [GeneralizationRecord] = [],
        driftEvents: [DriftRecord] = [], deadLetters: [DeadLetterRecord] = [], streamEvents: [StreamEventRecord] = [],
        order: [ProcessingRun] = [], nextOffsets: [TopicPartition: Int64] = [:], epochs: [TopicPartition: Int64] = [:], checkpoint: NewCheckpoint? = nil,
        time: Date = Date()
    ) {
        self.examples = examples
        self.alerts = alerts
        self.generalization = generalization
        self.driftEvents = driftEvents
        self.deadLetters = deadLetters
        self.streamEvents = streamEvents
        self.order = order
        self.nextOffsets = nextOffsets
        self.epochs = epochs
        self.checkpoint = checkpoint
        self.time = time
    }
}

/// What `AuditLog.write` stored.
public struct AuditWriteResult: Sendable, Equatable {
    /// Example rows inserted (fewer than submitted in flagged-only mode).
    public var examplesWritten: Int
    /// The id of the checkpoint stored, if the batch carried one.
    public var checkpointID: Int64?
    /// Old checkpoints removed by pruning.
    public var checkpointsPruned: Int
    /// Positions in the batch's `alerts` (ascending) of alerts whose id was already recorded,
    /// by an earlier batch or earlier in this one: the same alert raised again, not stored
    /// twice (see `AuditLog.write`). Positions, not ids: when one batch raises an alert twice
    /// (two firings of a detector at one message), the first is new and must still go out.
    public var repeatedAlerts: [Int] = []

    /// The batch's alerts less the repeats: what is new in the outbox, to publish.
    public func newAlerts(of alerts: [AlertRecord]) -> [AlertRecord] {
        guard !repeatedAlerts.isEmpty else { return alerts }
        let repeated = Set(repeatedAlerts)
        return alerts.indices.filter { !repeated.contains($0) }.map { alerts[$0] }
    }
}
