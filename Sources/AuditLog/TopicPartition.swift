/// A Kafka partition of a topic: the key of the per-partition next offsets.
public struct TopicPartition: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    /// The topic name.
    public var topic: String
    /// The partition number (librdkafka's `int32_t`).
    public var partition: Int32

    /// A partition of `topic`.
    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    /// Topic, then partition: the order offsets are listed in (JSON of checkpoints, queries),
    /// so that the same offsets always render to the same text.
    public static func < (a: TopicPartition, b: TopicPartition) -> Bool {
        a.topic != b.topic ? a.topic < b.topic : a.partition < b.partition
    }

    public var description: String { "\(topic)[\(partition)]" }
}

/// Where a message sits in Kafka: its partition, the partition log's epoch, and its offset.
public struct MessagePosition: Hashable, Sendable, Codable {
    /// The topic name.
    public var topic: String
    /// The partition number.
    public var partition: Int32
    /// The message's offset in its partition.
    public var offset: Int64
    /// Which generation of the partition's log the offset belongs to: 0, then one more each
    /// time the monitor saw the log start over (a broker that lost its data hands out offsets
    /// from 0 again). Offsets are unique only within an epoch.
    public var epoch: Int64

    /// The message at `offset` of `topic`/`partition` in log epoch `epoch`.
    public init(topic: String, partition: Int32, offset: Int64, epoch: Int64 = 0) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.epoch = epoch
    }

    /// The partition the message belongs to.
    public var topicPartition: TopicPartition { TopicPartition(topic: topic, partition: partition) }
}
