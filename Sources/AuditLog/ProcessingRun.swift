/// A run of consecutive messages of one partition that the monitor processed one after the
/// other: offsets `firstOffset ..< firstOffset + count` of `topicPartition` in log epoch
/// `epoch`. A batch's runs, in order, record how the partitions' messages were interleaved.
///
/// Why it is stored: the learner's state depends on the order it sees examples in, and the
/// order across partitions is whatever the fetches delivered. After a crash the monitor
/// re-learns the messages between the newest checkpoint and the stored next offsets; it
/// re-learns them in the recorded order, so that the learner it rebuilds is the one the
/// crashed process had, bit for bit, whatever the partition count.
public struct ProcessingRun: Hashable, Sendable {
    /// The partition.
    public var topicPartition: TopicPartition
    /// The log epoch (see `MessagePosition.epoch`).
    public var epoch: Int64
    /// The run's first offset.
    public var firstOffset: Int64
    /// How many consecutive offsets the run has (at least 1).
    public var count: Int64

    /// A run of `count` offsets from `firstOffset`.
    public init(topicPartition: TopicPartition, epoch: Int64, firstOffset: Int64, count: Int64) {
        self.topicPartition = topicPartition
        self.epoch = epoch
        self.firstOffset = firstOffset
        self.count = count
    }

    /// One past the run's last offset.
    public var endOffset: Int64 { firstOffset + count }
}

extension Array where Element == ProcessingRun {
    /// Appends message `offset` of `topicPartition` to the order: it extends the last run when
    /// it directly follows it in the same partition and epoch, else it starts a new run.
    public mutating func append(_ topicPartition: TopicPartition, epoch: Int64, offset: Int64) {
        if let last = self.last, last.topicPartition == topicPartition, last.epoch == epoch, last.endOffset == offset {
            self[count - 1].count += 1
        } else {
            append(ProcessingRun(topicPartition: topicPartition, epoch: epoch, firstOffset: offset, count: 1))
        }
    }
}
