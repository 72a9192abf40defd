import CRdkafka
import Dispatch
import Logging
import ServiceLifecycle
import Synchronization

/// A Kafka consumer over librdkafka: joins a group (`subscribe`) or reads explicit partitions
/// (`assign`), hands out messages in zero-copy batches through `events`, and never commits on
/// its own — the caller commits what it has made durable.
///
/// As a `Service` it runs until graceful shutdown, then closes (leaving the group) within
/// `closeTimeout`.
public final class KafkaConsumer: Sendable {
    public let configuration: KafkaConsumerConfiguration
    /// How long `close` waits for the group to be left before tearing the client down.
    public let closeTimeout: Duration
    let handle: KafkaHandle
    let owner: KafkaClientOwner
    let queue: KafkaQueueHandle
    let context: KafkaConsumerContext
    let io: KafkaClientIO
    /// Guards the client's lifetime (true while open): a fetch and `close` never overlap.
    private let lifetime = Mutex(true)
    /// Reused pointer array for `rd_kafka_consume_batch_queue`; touched only while holding
    /// `lifetime`, which is what makes the unchecked access safe.
    nonisolated(unsafe) private let slots: UnsafeMutableBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>?>

    /// Creates the client; it connects lazily. Throws for an invalid property (librdkafka's
    /// message) or a librdkafka older than 2.2.
    public init(configuration: KafkaConsumerConfiguration, logger: Logger, closeTimeout: Duration = .seconds(10)) throws(KafkaError) {
        try KafkaLibrary.requireSupportedVersion()
        var native = try NativeConfiguration(configuration.properties(), role: "consumer")
        let context = KafkaConsumerContext(logger: logger)
        let opaque = Unmanaged.passUnretained(context).toOpaque()
        rd_kafka_conf_set_opaque(native.pointer, opaque)
        rd_kafka_conf_set_log_cb(native.pointer, kafkaLogCallback)
        rd_kafka_conf_set_rebalance_cb(native.pointer, kafkaRebalanceCallback)
        rd_kafka_conf_set_error_cb(native.pointer, kafkaConsumerErrorCallback)
        var errstr = [CChar](repeating: 0, count: 512)
        guard let rk = rd_kafka_new(RD_KAFKA_CONSUMER, native.pointer, &errstr, errstr.count) else {
            throw KafkaError(kind: .configuration, operation: "create consumer", message: KafkaLibrary.string(fromCBuffer: errstr))
        }
        _ = native.take()   // rd_kafka_new owns the configuration now
        rd_kafka_poll_set_consumer(rk)
        guard let rkqu = rd_kafka_queue_get_consumer(rk) else {
            rd_kafka_destroy(rk)
            throw KafkaError(kind: .client, operation: "create consumer", message: "librdkafka gave no consumer queue")
        }
        rd_kafka_queue_cb_event_enable(rkqu, kafkaQueueWakeCallback, opaque)
        self.configuration = configuration
        self.closeTimeout = closeTimeout
        self.handle = KafkaHandle(pointer: rk)
        self.owner = KafkaClientOwner(handle: KafkaHandle(pointer: rk), context: context)
        self.queue = KafkaQueueHandle(pointer: rkqu)
        self.context = context
        self.io = KafkaClientIO(label: "mpe.kafka.consumer")
        let slots = UnsafeMutableBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>?>.allocate(capacity: configuration.maxBatchSize)
        slots.initialize(repeating: nil)
        self.slots = slots
    }

    deinit {
        let wasOpen = lifetime.withLock { open in
            defer { open = false }
            return open
        }
        if wasOpen { destroyClient(leaveGroup: false) }
        slots.deallocate()
    }

    /// The value librdkafka holds for a configuration property (as it reports it), or nil for
    /// a name it does not know or a closed consumer: what the client really runs with,
    /// defaults included.
    public func configurationValue(_ name: String) -> String? {
        let handle = self.handle
        // Under the lifetime lock: the configuration belongs to the client, which `close` frees.
        return lifetime.withLock { open in open ? handle.configurationValue(name) : nil }
    }

    /// The consumer's events; iterate from one task at a time.
    public var events: KafkaConsumerEvents { KafkaConsumerEvents(consumer: self) }

    // MARK: - Assignment

    /// Joins the group and follows its assignments. `startOffsets` decides where newly
    /// assigned partitions begin (nil: the committed offset, else `offsetReset`).
    public func subscribe(topics: [String], startOffsets: KafkaStartOffsetProvider? = nil) throws(KafkaError) {
        try requireOpen("subscribe")
        context.setStartOffsetProvider(startOffsets)
        let list = NativePartitionList(topics.map { (KafkaTopicPartition(topic: $0, partition: -1), Int64(-1001)) })
        let err = rd_kafka_subscribe(handle.pointer, list.pointer)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(code: err, operation: "subscribe to \(topics.joined(separator: ","))")
        }
    }

    /// Reads exactly these partitions from exactly these offsets, outside group management.
    public func assign(_ offsets: [KafkaTopicPartition: KafkaOffset]) throws(KafkaError) {
        try requireOpen("assign")
        let list = NativePartitionList(offsets.sorted { $0.key < $1.key }.map { ($0.key, $0.value.raw) })
        let err = rd_kafka_assign(handle.pointer, list.pointer)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(code: err, operation: "assign \(offsets.keys.sorted())")
        }
    }

    /// Adds partitions to an explicit assignment, at these offsets, leaving the partitions
    /// already assigned where they are (a partition added to a topic while running).
    public func addToAssignment(_ offsets: [KafkaTopicPartition: KafkaOffset]) throws(KafkaError) {
        try requireOpen("add to assignment")
        let list = NativePartitionList(offsets.sorted { $0.key < $1.key }.map { ($0.key, $0.value.raw) })
        if let error = rd_kafka_incremental_assign(handle.pointer, list.pointer) {
            throw KafkaError(consuming: error, operation: "add \(offsets.keys.sorted()) to the assignment")
        }
    }

    /// The partitions currently assigned to this consumer.
    public func assignment() throws(KafkaError) -> [KafkaTopicPartition] {
        try requireOpen("read assignment")
        var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
        let err = rd_kafka_assignment(handle.pointer, &list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let list else {
            throw KafkaError(code: err, operation: "read assignment")
        }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        return NativePartitionList.elements(of: list).map(\.0).sorted()
    }

    // MARK: - Position

    /// Moves the read position of assigned partitions; messages already fetched from before
    /// the seek are discarded by librdkafka.
    public func seek(_ offsets: [KafkaTopicPartition: KafkaOffset], timeout: Duration = .seconds(5)) async throws(KafkaError) {
        let handle = self.handle
        let pairs = offsets.sorted { $0.key < $1.key }.map { ($0.key, $0.value.raw) }
        let milliseconds = Self.milliseconds(timeout)
        let result: Result<Void, KafkaError> = await io.run {
            let list = NativePartitionList(pairs)
            if let error = rd_kafka_seek_partitions(handle.pointer, list.pointer, milliseconds) {
                return .failure(KafkaError(consuming: error, operation: "seek"))
            }
            for (tp, _, err) in list.elements where err != RD_KAFKA_RESP_ERR_NO_ERROR {
                return .failure(KafkaError(code: err, operation: "seek \(tp)"))
            }
            return .success(())
        }
        try result.get()
    }

    /// Stops fetching from these partitions (back-pressure) until `resume`.
    public func pause(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        try pauseOrResume(partitions, pause: true)
    }

    public func resume(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        try pauseOrResume(partitions, pause: false)
    }

    private func pauseOrResume(_ partitions: [KafkaTopicPartition], pause: Bool) throws(KafkaError) {
        try requireOpen(pause ? "pause" : "resume")
        let list = NativePartitionList(partitions.map { ($0, Int64(-1001)) })
        let err = pause ? rd_kafka_pause_partitions(handle.pointer, list.pointer)
                        : rd_kafka_resume_partitions(handle.pointer, list.pointer)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(code: err, operation: pause ? "pause" : "resume")
        }
    }

    // MARK: - Offsets

    /// Commits the next offset to read per partition and waits for the broker's answer, at
    /// most `timeout` (a broker that does not answer must not stall the caller). Call it only
    /// for what is durable on the caller's side.
    public func commit(_ nextOffsets: [KafkaTopicPartition: Int64], timeout: Duration = .seconds(5)) async throws(KafkaError) {
        guard !nextOffsets.isEmpty else { return }
        try requireOpen("commit")
        let handle = self.handle
        let pairs = nextOffsets.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        let milliseconds = Self.milliseconds(timeout)
        let result: Result<Void, KafkaError> = await io.run {
            guard let replies = rd_kafka_queue_new(handle.pointer) else {
                return .failure(KafkaError(kind: .client, operation: "commit", message: "could not create a reply queue"))
            }
            defer { rd_kafka_queue_destroy(replies) }
            let list = NativePartitionList(pairs)
            let err = rd_kafka_commit_queue(handle.pointer, list.pointer, replies, nil, nil)
            if err != RD_KAFKA_RESP_ERR_NO_ERROR { return .failure(KafkaError(code: err, operation: "commit")) }
            guard let event = rd_kafka_queue_poll(replies, milliseconds) else {
                return .failure(KafkaError(kind: .timedOut, isRetriable: true, operation: "commit",
                                           message: "no answer from the group coordinator within \(timeout)"))
            }
            defer { rd_kafka_event_destroy(event) }
            let eventErr = rd_kafka_event_error(event)
            if eventErr != RD_KAFKA_RESP_ERR_NO_ERROR {
                return .failure(KafkaError(code: eventErr, operation: "commit"))
            }
            if let committed = rd_kafka_event_topic_partition_list(event) {
                for (tp, _, err) in NativePartitionList.elements(of: committed) where err != RD_KAFKA_RESP_ERR_NO_ERROR {
                    return .failure(KafkaError(code: err, operation: "commit \(tp)"))
                }
            }
            return .success(())
        }
        try result.get()
    }

    /// The group's committed next offsets; partitions without a commit are absent.
    public func committed(_ partitions: [KafkaTopicPartition], timeout: Duration = .seconds(5)) async throws(KafkaError) -> [KafkaTopicPartition: Int64] {
        try requireOpen("read committed offsets")
        let handle = self.handle
        let milliseconds = Self.milliseconds(timeout)
        let result: Result<[KafkaTopicPartition: Int64], KafkaError> = await io.run {
            let list = NativePartitionList(partitions.map { ($0, Int64(-1001)) })
            let err = rd_kafka_committed(handle.pointer, list.pointer, milliseconds)
            if err != RD_KAFKA_RESP_ERR_NO_ERROR { return .failure(KafkaError(code: err, operation: "read committed offsets")) }
            var offsets: [KafkaTopicPartition: Int64] = [:]
            for (tp, offset, err) in list.elements {
                if err != RD_KAFKA_RESP_ERR_NO_ERROR { return .failure(KafkaError(code: err, operation: "read committed offset of \(tp)")) }
                if let offset = KafkaOffset.concrete(offset) { offsets[tp] = offset }
            }
            return .success(offsets)
        }
        return try result.get()
    }

    /// Per assigned partition: the next offset this consumer will hand out, the partition's
    /// end (high watermark, as last seen in a fetch) and their difference. No broker round trip.
    public func lag() throws(KafkaError) -> [KafkaPartitionLag] {
        let partitions = try assignment()
        guard !partitions.isEmpty else { return [] }
        let list = NativePartitionList(partitions.map { ($0, Int64(-1001)) })
        _ = rd_kafka_position(handle.pointer, list.pointer)
        return list.elements.map { tp, position, _ in
            var low: Int64 = -1001
            var high: Int64 = -1001
            _ = rd_kafka_get_watermark_offsets(handle.pointer, tp.topic, tp.partition, &low, &high)
            return KafkaPartitionLag(partition: tp, position: KafkaOffset.concrete(position), highWatermark: KafkaOffset.concrete(high))
        }
    }

    /// The same, asking the brokers for the current ends (bounded by `timeout`).
    public func queryLag(timeout: Duration = .seconds(5)) async throws(KafkaError) -> [KafkaPartitionLag] {
        let partitions = try assignment()
        let handle = self.handle
        let milliseconds = Self.milliseconds(timeout)
        let positions: [(KafkaTopicPartition, Int64)] = {
            let list = NativePartitionList(partitions.map { ($0, Int64(-1001)) })
            _ = rd_kafka_position(handle.pointer, list.pointer)
            return list.elements.map { ($0.0, $0.1) }
        }()
        let result: Result<[KafkaPartitionLag], KafkaError> = await io.run {
            var lags: [KafkaPartitionLag] = []
            for (tp, position) in positions {
                var low: Int64 = -1001
                var high: Int64 = -1001
                let err = rd_kafka_query_watermark_offsets(handle.pointer, tp.topic, tp.partition, &low, &high, milliseconds)
                if err != RD_KAFKA_RESP_ERR_NO_ERROR { return .failure(KafkaError(code: err, operation: "query end of \(tp)")) }
                lags.append(KafkaPartitionLag(partition: tp, position: KafkaOffset.concrete(position), highWatermark: KafkaOffset.concrete(high)))
            }
            return .success(lags)
        }
        return try result.get()
    }

    /// Asks the cluster for `topic`: its partition count, or a clear error when no broker
    /// answers within `timeout` or the topic does not exist. Use it at start-up so a wrong
    /// address or topic fails fast instead of waiting forever.
    public func partitionCount(topic: String, timeout: Duration = .seconds(5)) async throws(KafkaError) -> Int {
        try requireOpen("look up topic")
        let handle = self.handle
        let brokers = configuration.client.bootstrapServers
        let milliseconds = Self.milliseconds(timeout)
        return try await io.run {
            KafkaMetadata.partitionCount(handle: handle, topic: topic, brokers: brokers, timeoutMilliseconds: milliseconds)
        }.get()
    }

    // MARK: - Fetching

    enum FetchResult {
        case closed
        case empty
        case batch(KafkaMessageBatch)
    }

    func nextEvent() async -> KafkaConsumerEvent? {
        while true {
            if Task.isCancelled { return nil }
            if let event = context.popEvent() { return event }
            switch fetch() {
            case .closed:
                return context.popEvent()
            case .batch(let batch):
                return .messages(batch)
            case .empty:
                if context.hasEvents { continue }
                await context.waitForWakeup()
            }
        }
    }

    /// One non-blocking fetch of up to `maxBatchSize` messages. Errors and partition ends
    /// become events queued behind the batch.
    private func fetch() -> FetchResult {
        let rkqu = queue.pointer
        let context = self.context
        let owner = self.owner
        let slots = self.slots
        return lifetime.withLock { open -> FetchResult in
            guard open else { return .closed }
            guard let base = slots.baseAddress else { return .empty }
            let count = rd_kafka_consume_batch_queue(rkqu, 0, base, slots.count)
            guard count > 0 else { return .empty }
            var good: [UnsafeMutablePointer<rd_kafka_message_t>] = []
            good.reserveCapacity(count)
            for i in 0..<count {
                guard let message = slots[i] else { continue }
                slots[i] = nil
                let err = message.pointee.err
                if err == RD_KAFKA_RESP_ERR_NO_ERROR {
                    good.append(message)
                    continue
                }
                let topic = message.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
                let tp = KafkaTopicPartition(topic: topic, partition: message.pointee.partition)
                if err == RD_KAFKA_RESP_ERR__PARTITION_EOF {
                    context.push(.endOfPartition(tp, nextOffset: message.pointee.offset))
                } else {
                    let text = String(cString: rd_kafka_message_errstr(message))
                    let where_ = topic.isEmpty ? "" : " on \(tp)"
                    context.push(.error(KafkaError(code: err, operation: "consume\(where_)", message: text)))
                }
                rd_kafka_message_destroy(message)
            }
            return good.isEmpty ? .empty : .batch(KafkaMessageBatch(taking: good, owner: owner))
        }
    }

    // MARK: - Closing

    /// Leaves the group (revoking partitions) and stops the client. Waits at most
    /// `closeTimeout` for the group to be left; past it the client is torn down anyway.
    /// The `events` sequence ends. Batches still held stay readable; the client's memory is
    /// released with the last of them. Safe to call more than once.
    public func close() async {
        context.wake()
        let wasOpen = lifetime.withLock { open in
            defer { open = false }
            return open
        }
        guard wasOpen else { return }
        context.wake()
        await io.run { [self] in destroyClient(leaveGroup: true) }
    }

    private func destroyClient(leaveGroup: Bool) {
        let rk = handle.pointer
        var left = !leaveGroup
        if leaveGroup, let closeQueue = rd_kafka_queue_new(rk) {
            if let error = rd_kafka_consumer_close_queue(rk, closeQueue) {
                context.logger.warning("closing the consumer: \(KafkaError(consuming: error, operation: "close"))")
            } else {
                let deadline = ContinuousClock.now + closeTimeout
                while rd_kafka_consumer_closed(rk) == 0 && ContinuousClock.now < deadline {
                    guard let event = rd_kafka_queue_poll(closeQueue, 100) else { continue }
                    if rd_kafka_event_type(event) == RD_KAFKA_EVENT_REBALANCE {
                        // Give the partitions up; the rebalance callback is not served on this queue.
                        if let protocolName = rd_kafka_rebalance_protocol(rk), String(cString: protocolName) == "COOPERATIVE",
                           let list = rd_kafka_event_topic_partition_list(event) {
                            if let error = rd_kafka_incremental_unassign(rk, list) { rd_kafka_error_destroy(error) }
                        } else {
                            _ = rd_kafka_assign(rk, nil)
                        }
                    }
                    rd_kafka_event_destroy(event)
                }
                left = rd_kafka_consumer_closed(rk) != 0
                if !left {
                    context.logger.warning("the consumer did not leave its group within \(closeTimeout); closing anyway")
                }
            }
            rd_kafka_queue_destroy(closeQueue)
        }
        rd_kafka_queue_destroy(queue.pointer)
        // The handle itself is destroyed by its owner once no message batch holds it.
        owner.setDestroyFlags(left ? 0 : Int32(RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE))
    }

    // MARK: - Helpers

    private func requireOpen(_ operation: String) throws(KafkaError) {
        let open = lifetime.withLock { $0 }
        if !open { throw KafkaError.closed(operation) }
    }

    static func milliseconds(_ duration: Duration) -> Int32 {
        let (seconds, attoseconds) = duration.components
        let total = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return Int32(clamping: max(total, 0))
    }
}

extension KafkaConsumer: Service {
    /// Runs until graceful shutdown (or cancellation), then closes the consumer.
    public func run() async throws {
        try? await gracefulShutdown()
        await close()
    }
}

/// How far behind the end of a partition a consumer is.
public struct KafkaPartitionLag: Sendable, Equatable {
    public let partition: KafkaTopicPartition
    /// The next offset the consumer will hand out; nil before the first fetch.
    public let position: Int64?
    /// The offset after the last message in the partition; nil if not known yet.
    public let highWatermark: Int64?

    /// Messages not yet handed out; nil when either end is unknown.
    public var lag: Int64? {
        guard let position, let highWatermark else { return nil }
        return max(highWatermark - position, 0)
    }
}
