import CRdkafka

/// Messages fetched together, kept in librdkafka's own buffers: reading a value costs no
/// copy, and the buffers are released when the last reference to the batch goes away.
///
/// The batch is immutable once made and librdkafka's message buffers may be read and freed
/// from any thread, which is why it may cross tasks.
public final class KafkaMessageBatch: @unchecked Sendable, RandomAccessCollection {
    private let messages: UnsafeMutableBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>>
    /// Topic name per message, resolved once per distinct topic handle in the batch.
    private let topics: [String]
    /// The client must outlive its messages (see `KafkaClientOwner`).
    private let owner: KafkaClientOwner

    /// Takes ownership of `pointers` (all messages without error).
    init(taking pointers: [UnsafeMutablePointer<rd_kafka_message_t>], owner: KafkaClientOwner) {
        self.owner = owner
        let buffer = UnsafeMutableBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>>.allocate(capacity: pointers.count)
        _ = buffer.initialize(from: pointers)
        messages = buffer
        var names: [OpaquePointer: String] = [:]
        var topics: [String] = []
        topics.reserveCapacity(pointers.count)
        for message in pointers {
            guard let rkt = message.pointee.rkt else { topics.append(""); continue }
            if let name = names[rkt] {
                topics.append(name)
            } else {
                let name = String(cString: rd_kafka_topic_name(rkt))
                names[rkt] = name
                topics.append(name)
            }
        }
        self.topics = topics
    }

    deinit {
        for message in messages { rd_kafka_message_destroy(message) }
        messages.deallocate()
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { messages.count }

    public subscript(position: Int) -> KafkaMessage {
        KafkaMessage(batch: self, index: position)
    }

    fileprivate func raw(_ index: Int) -> UnsafeMutablePointer<rd_kafka_message_t> { messages[index] }
    fileprivate func topic(_ index: Int) -> String { topics[index] }

    /// The next offset to read per partition after this batch (last offset + 1).
    public var nextOffsets: [KafkaTopicPartition: Int64] {
        var result: [KafkaTopicPartition: Int64] = [:]
        for message in self { result[message.topicPartition] = message.offset + 1 }
        return result
    }
}

/// One consumed message: a view into its batch.
public struct KafkaMessage: Sendable {
    public let batch: KafkaMessageBatch
    public let index: Int

    private var raw: UnsafeMutablePointer<rd_kafka_message_t> { batch.raw(index) }

    public var topic: String { batch.topic(index) }
    public var partition: Int32 { raw.pointee.partition }
    public var offset: Int64 { raw.pointee.offset }
    public var topicPartition: KafkaTopicPartition { KafkaTopicPartition(topic: topic, partition: partition) }

    /// Milliseconds since the epoch as set by the producer or broker; nil if unavailable.
    public var timestampMilliseconds: Int64? {
        var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let value = rd_kafka_message_timestamp(raw, &type)
        return type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || value < 0 ? nil : value
    }

    /// Reads the value in place (valid only inside `body`). An absent value reads as empty.
    public func withValue<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let message = raw.pointee
        return try body(UnsafeRawBufferPointer(start: message.payload, count: message.payload == nil ? 0 : message.len))
    }

    /// The value, copied.
    public var value: [UInt8] { withValue { Array($0) } }

    public var valueLength: Int { raw.pointee.payload == nil ? 0 : raw.pointee.len }

    /// The key, copied; nil when the message has none.
    public var key: [UInt8]? {
        let message = raw.pointee
        guard let key = message.key else { return nil }
        return Array(UnsafeRawBufferPointer(start: key, count: message.key_len))
    }

    /// The headers in order (names may repeat); a header without a value has `value == nil`.
    public var headers: [KafkaHeader] {
        var headers: OpaquePointer?
        guard rd_kafka_message_headers(raw, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR, let headers else { return [] }
        var result: [KafkaHeader] = []
        var index = 0
        while true {
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            guard rd_kafka_header_get_all(headers, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR else { break }
            let bytes = value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }
            result.append(KafkaHeader(name: name.map { String(cString: $0) } ?? "", value: bytes))
            index += 1
        }
        return result
    }
}

/// A message header: a name and optional bytes.
public struct KafkaHeader: Sendable, Equatable {
    public var name: String
    public var value: [UInt8]?

    public init(name: String, value: [UInt8]?) {
        self.name = name
        self.value = value
    }
}
