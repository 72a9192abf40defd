import CRdkafka

/// One partition of one topic: the unit of ordering, assignment and offsets.
public struct KafkaTopicPartition: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)[\(partition)]" }

    public static func < (a: Self, b: Self) -> Bool {
        (a.topic, a.partition) < (b.topic, b.partition)
    }
}

/// A position in a partition: a concrete offset or one of librdkafka's logical ones.
public enum KafkaOffset: Hashable, Sendable, CustomStringConvertible {
    /// The offset of the next message to read (Kafka's convention for committed offsets).
    case exact(Int64)
    case beginning
    case end
    /// The group's committed offset (or `offsetReset` if none).
    case committed

    var raw: Int64 {
        switch self {
        case .exact(let value): return value
        case .beginning: return -2   // RD_KAFKA_OFFSET_BEGINNING
        case .end: return -1         // RD_KAFKA_OFFSET_END
        case .committed: return -1000 // RD_KAFKA_OFFSET_STORED
        }
    }

    /// A concrete offset, or nil for librdkafka's logical and invalid ones (all negative).
    static func concrete(_ raw: Int64) -> Int64? { raw >= 0 ? raw : nil }

    public var description: String {
        switch self {
        case .exact(let value): return String(value)
        case .beginning: return "beginning"
        case .end: return "end"
        case .committed: return "committed"
        }
    }
}

/// An owned `rd_kafka_topic_partition_list_t`.
struct NativePartitionList: ~Copyable {
    let pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>

    init(capacity: Int) {
        pointer = rd_kafka_topic_partition_list_new(Int32(max(capacity, 1)))
    }

    init(_ offsets: [(KafkaTopicPartition, Int64)]) {
        self.init(capacity: offsets.count)
        for (tp, offset) in offsets {
            let element = rd_kafka_topic_partition_list_add(pointer, tp.topic, tp.partition)
            element?.pointee.offset = offset
        }
    }

    /// Borrows a list librdkafka owns (e.g. inside a rebalance callback) without taking it.
    static func elements(of list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> [(KafkaTopicPartition, Int64, rd_kafka_resp_err_t)] {
        let count = Int(list.pointee.cnt)
        guard count > 0, let elems = list.pointee.elems else { return [] }
        var result: [(KafkaTopicPartition, Int64, rd_kafka_resp_err_t)] = []
        result.reserveCapacity(count)
        for i in 0..<count {
            let element = elems[i]
            let topic = element.topic.map { String(cString: $0) } ?? ""
            result.append((KafkaTopicPartition(topic: topic, partition: element.partition), element.offset, element.err))
        }
        return result
    }

    var elements: [(KafkaTopicPartition, Int64, rd_kafka_resp_err_t)] { Self.elements(of: pointer) }

    deinit { rd_kafka_topic_partition_list_destroy(pointer) }
}
