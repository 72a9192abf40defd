/// What a consumer hands out, in the order it happened.
///
/// Events seen while a batch was being fetched (a rebalance, an error, a partition's end)
/// follow that batch's messages. Messages of newly assigned partitions start at the offsets
/// the start-offset provider returned, so a caller that restores its own offsets never sees
/// a message from before them.
public enum KafkaConsumerEvent: Sendable {
    /// Messages, in offset order within each partition.
    case messages(KafkaMessageBatch)
    /// The group gave this consumer these partitions.
    case assigned([KafkaTopicPartition])
    /// The group took these partitions away; their offsets can no longer be committed here.
    case revoked([KafkaTopicPartition])
    /// The consumer reached the current end of a partition (only with `reportEndOfPartition`).
    case endOfPartition(KafkaTopicPartition, nextOffset: Int64)
    /// librdkafka reported a problem (e.g. brokers down). Non-fatal errors are retried by
    /// librdkafka itself; a fatal one means the consumer must be recreated.
    case error(KafkaError)
}

/// Decides where each newly assigned partition starts. Return `.committed` (or leave a
/// partition out) to use the group's committed offset. Called on the consuming task, inside
/// the rebalance, before any message of those partitions is fetched.
public typealias KafkaStartOffsetProvider = @Sendable ([KafkaTopicPartition]) -> [KafkaTopicPartition: KafkaOffset]

/// The consumer's events as an `AsyncSequence`; ends when the consumer is closed or the
/// iterating task is cancelled.
public struct KafkaConsumerEvents: AsyncSequence, Sendable {
    public typealias Element = KafkaConsumerEvent
    let consumer: KafkaConsumer

    /// Pulls the next event from the consumer; `nil` once it is closed and its queued events are
    /// taken, or the task is cancelled.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let consumer: KafkaConsumer

        public mutating func next() async -> KafkaConsumerEvent? {
            await consumer.nextEvent()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(consumer: consumer)
    }
}
