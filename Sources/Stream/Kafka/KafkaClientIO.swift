import CRdkafka
import Dispatch

/// Runs librdkafka's blocking calls (commit, metadata, flush, close) on a dedicated thread,
/// never on Swift's cooperative pool, which has as few threads as the machine has cores.
struct KafkaClientIO: Sendable {
    let queue: DispatchQueue

    init(label: String) {
        queue = DispatchQueue(label: label)
    }

    func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: body()) }
        }
    }
}

/// Metadata look-ups shared by consumer and producer.
enum KafkaMetadata {
    /// The number of partitions of `topic`, or a clear error if no broker answers within
    /// `timeoutMilliseconds` or the topic does not exist.
    static func partitionCount(handle: KafkaHandle, topic: String, brokers: [String],
                               timeoutMilliseconds: Int32) -> Result<Int, KafkaError> {
        guard let rkt = rd_kafka_topic_new(handle.pointer, topic, nil) else {
            return .failure(KafkaError(code: rd_kafka_last_error(), operation: "look up topic '\(topic)'"))
        }
        defer { rd_kafka_topic_destroy(rkt) }
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(handle.pointer, 0, rkt, &metadata, timeoutMilliseconds)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            let seconds = Double(timeoutMilliseconds) / 1000
            return .failure(KafkaError(code: err, operation: "connect",
                                       message: "no broker at \(brokers.joined(separator: ",")) answered within "
                                        + "\(seconds) s (\(String(cString: rd_kafka_err2str(err)))); "
                                        + "check the address and that the broker is running",
                                       kind: .unreachable))
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        guard metadata.pointee.topic_cnt > 0, let topics = metadata.pointee.topics else {
            return .failure(KafkaError(kind: .unknownTopic, operation: "look up topic '\(topic)'",
                                       message: "the broker returned no metadata for topic '\(topic)'"))
        }
        let entry = topics[0]
        if entry.err != RD_KAFKA_RESP_ERR_NO_ERROR {
            return .failure(KafkaError(code: entry.err, operation: "look up topic '\(topic)'",
                                       message: "topic '\(topic)': \(String(cString: rd_kafka_err2str(entry.err)))"))
        }
        if entry.partition_cnt == 0 {
            return .failure(KafkaError(kind: .unknownTopic, operation: "look up topic '\(topic)'",
                                       message: "topic '\(topic)' does not exist (it has no partitions)"))
        }
        return .success(Int(entry.partition_cnt))
    }
}
