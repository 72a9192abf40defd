import CRdkafka
import Dispatch
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// A message to produce. Without a partition, librdkafka's partitioner picks one from the key.
public struct KafkaProducerMessage: Sendable {
    public var topic: String
    public var partition: Int32?
    public var key: [UInt8]?
    public var value: [UInt8]
    public var headers: [KafkaHeader]

    public init(topic: String, partition: Int32? = nil, key: [UInt8]? = nil, value: [UInt8], headers: [KafkaHeader] = []) {
        self.topic = topic
        self.partition = partition
        self.key = key
        self.value = value
        self.headers = headers
    }
}

/// The outcome of one produced message, identified by the id `send` returned.
public struct KafkaDeliveryReport: Sendable {
    public let messageID: UInt64
    public let topicPartition: KafkaTopicPartition
    /// Where the broker stored it; nil when delivery failed.
    public let offset: Int64?
    /// Why delivery failed; nil when the broker acknowledged the message.
    public let error: KafkaError?

    public var acknowledged: Bool { error == nil }
}

/// A Kafka producer over librdkafka with idempotence on: every message sent is reported as
/// acknowledged or failed with a reason, never dropped silently.
///
/// Reports arrive on `deliveryReports` (when enabled) and are counted in `counts`. As a
/// `Service` it runs until graceful shutdown, then flushes (bounded) and closes.
public final class KafkaProducer: Sendable {
    public let configuration: KafkaProducerConfiguration
    /// Reports in delivery order; empty unless created with `reportDeliveries: true`.
    public let deliveryReports: AsyncStream<KafkaDeliveryReport>
    let handle: KafkaHandle
    let context: KafkaProducerContext
    let io: KafkaClientIO
    private let open = Mutex(true)

    public init(configuration: KafkaProducerConfiguration, logger: Logger, reportDeliveries: Bool = false) throws(KafkaError) {
        try KafkaLibrary.requireSupportedVersion()
        var native = try NativeConfiguration(configuration.properties(), role: "producer")
        let (stream, continuation) = AsyncStream<KafkaDeliveryReport>.makeStream()
        if !reportDeliveries { continuation.finish() }
        let context = KafkaProducerContext(logger: logger, reports: reportDeliveries ? continuation : nil)
        rd_kafka_conf_set_opaque(native.pointer, Unmanaged.passUnretained(context).toOpaque())
        rd_kafka_conf_set_log_cb(native.pointer, kafkaLogCallback)
        rd_kafka_conf_set_dr_msg_cb(native.pointer, kafkaDeliveryCallback)
        rd_kafka_conf_set_error_cb(native.pointer, kafkaProducerErrorCallback)
        var errstr = [CChar](repeating: 0, count: 512)
        guard let rk = rd_kafka_new(RD_KAFKA_PRODUCER, native.pointer, &errstr, errstr.count) else {
            throw KafkaError(kind: .configuration, operation: "create producer", message: KafkaLibrary.string(fromCBuffer: errstr))
        }
        _ = native.take()
        self.configuration = configuration
        self.deliveryReports = stream
        self.handle = KafkaHandle(pointer: rk)
        self.context = context
        self.io = KafkaClientIO(label: "mpe.kafka.producer")
        startPolling()
    }

    deinit {
        if open.withLock({ $0 }) {
            context.stopPolling()
            rd_kafka_destroy(handle.pointer)
        }
        context.finish()
    }

    /// Delivery reports are served by `rd_kafka_poll`; a plain thread does that so no Swift
    /// task has to block.
    private func startPolling() {
        let handle = self.handle
        let context = self.context
        let thread = Thread {
            while context.isPolling { rd_kafka_poll(handle.pointer, 50) }
            context.pollingStopped()
        }
        thread.name = "mpe.kafka.producer.poll"
        thread.start()
    }

    /// The value librdkafka holds for a configuration property, or nil for a name it does not
    /// know or a closed producer: what the client really runs with, defaults included.
    public func configurationValue(_ name: String) -> String? {
        let handle = self.handle
        // Under the lock: `close` clears `open` under it before destroying the client.
        return open.withLock { open in open ? handle.configurationValue(name) : nil }
    }

    /// Queues a message and returns its id (its report carries the same id). When librdkafka's
    /// queue is full it waits for room, at most `queueFullTimeout`, then throws.
    @discardableResult
    public func send(_ message: KafkaProducerMessage, queueFullTimeout: Duration = .seconds(30)) throws(KafkaError) -> UInt64 {
        guard open.withLock({ $0 }) else { throw KafkaError.closed("produce") }
        let id = context.nextMessageID()
        let deadline = ContinuousClock.now + queueFullTimeout
        while true {
            let err = produce(message, id: id)
            if err == RD_KAFKA_RESP_ERR_NO_ERROR {
                context.sent()
                return id
            }
            if err != RD_KAFKA_RESP_ERR__QUEUE_FULL || ContinuousClock.now >= deadline {
                throw KafkaError(code: err, operation: "produce to \(message.topic)", kind: .delivery)
            }
            // The poll thread frees room as acknowledgements arrive.
            usleep(1000)
        }
    }

    private func produce(_ message: KafkaProducerMessage, id: UInt64) -> rd_kafka_resp_err_t {
        message.topic.withCString { topic in
            message.value.withUnsafeBytes { value in
                withOptionalBytes(message.key) { key in
                    var fields: [rd_kafka_vu_t] = []
                    fields.reserveCapacity(6 + message.headers.count)
                    var field = rd_kafka_vu_t()
                    field.vtype = RD_KAFKA_VTYPE_TOPIC
                    field.u.cstr = topic
                    fields.append(field)
                    field = rd_kafka_vu_t()
                    field.vtype = RD_KAFKA_VTYPE_MSGFLAGS
                    field.u.i = RD_KAFKA_MSG_F_COPY
                    fields.append(field)
                    field = rd_kafka_vu_t()
                    field.vtype = RD_KAFKA_VTYPE_VALUE
                    field.u.mem.ptr = UnsafeMutableRawPointer(mutating: value.baseAddress)
                    field.u.mem.size = value.count
                    fields.append(field)
                    if let key {
                        field = rd_kafka_vu_t()
                        field.vtype = RD_KAFKA_VTYPE_KEY
                        field.u.mem.ptr = UnsafeMutableRawPointer(mutating: key.baseAddress)
                        field.u.mem.size = key.count
                        fields.append(field)
                    }
                    if let partition = message.partition {
                        field = rd_kafka_vu_t()
                        field.vtype = RD_KAFKA_VTYPE_PARTITION
                        field.u.i32 = partition
                        fields.append(field)
                    }
                    field = rd_kafka_vu_t()
                    field.vtype = RD_KAFKA_VTYPE_OPAQUE
                    field.u.ptr = UnsafeMutableRawPointer(bitPattern: UInt(id))
                    fields.append(field)
                    return withHeaders(message.headers, fields: fields)
                }
            }
        }
    }

    /// Adds header fields (names and values must stay alive during the produce call).
    private func withHeaders(_ headers: [KafkaHeader], fields: [rd_kafka_vu_t]) -> rd_kafka_resp_err_t {
        var fields = fields
        guard let header = headers.first else {
            return fields.withUnsafeBufferPointer { buffer in
                guard let error = rd_kafka_produceva(handle.pointer, buffer.baseAddress, buffer.count) else {
                    return RD_KAFKA_RESP_ERR_NO_ERROR
                }
                let code = rd_kafka_error_code(error)
                rd_kafka_error_destroy(error)
                return code
            }
        }
        return header.name.withCString { name in
            withOptionalBytes(header.value) { value in
                var field = rd_kafka_vu_t()
                field.vtype = RD_KAFKA_VTYPE_HEADER
                field.u.header.name = name
                field.u.header.val = value.map { UnsafeRawPointer($0.baseAddress) } ?? nil
                field.u.header.size = value.map { $0.count } ?? -1
                fields.append(field)
                return withHeaders(Array(headers.dropFirst()), fields: fields)
            }
        }
    }

    /// Waits until every queued message is acknowledged or failed, at most `timeout`.
    /// Throws `.timedOut` with the number still outstanding.
    public func flush(timeout: Duration = .seconds(10)) async throws(KafkaError) {
        guard open.withLock({ $0 }) else { return }
        let handle = self.handle
        let milliseconds = KafkaConsumer.milliseconds(timeout)
        let result: Result<Void, KafkaError> = await io.run {
            let err = rd_kafka_flush(handle.pointer, milliseconds)
            if err == RD_KAFKA_RESP_ERR_NO_ERROR { return .success(()) }
            let pending = rd_kafka_outq_len(handle.pointer)
            return .failure(KafkaError(code: err, operation: "flush",
                                       message: "\(pending) message(s) not yet acknowledged after \(timeout)", kind: .timedOut))
        }
        try result.get()
    }

    /// Messages sent, acknowledged and failed so far.
    public var counts: KafkaProducerCounts { context.counts }

    /// Asks the cluster for `topic`'s partition count (see `KafkaConsumer.partitionCount`).
    public func partitionCount(topic: String, timeout: Duration = .seconds(5)) async throws(KafkaError) -> Int {
        let handle = self.handle
        let brokers = configuration.client.bootstrapServers
        let milliseconds = KafkaConsumer.milliseconds(timeout)
        return try await io.run {
            KafkaMetadata.partitionCount(handle: handle, topic: topic, brokers: brokers, timeoutMilliseconds: milliseconds)
        }.get()
    }

    /// Flushes (bounded by `timeout`), then releases the client; messages still unacknowledged
    /// are reported failed by librdkafka as it purges them. Safe to call more than once.
    public func close(timeout: Duration = .seconds(10)) async {
        guard open.withLock({ $0 }) else { return }
        do {
            try await flush(timeout: timeout)
        } catch {
            context.logger.warning("closing the producer: \(error)")
        }
        guard open.withLock({ state in
            let was = state
            state = false
            return was
        }) else { return }
        let handle = self.handle
        let context = self.context
        await io.run {
            // Purge what is left so its failures are reported, not lost.
            _ = rd_kafka_purge(handle.pointer, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
            rd_kafka_poll(handle.pointer, 0)
            context.stopPolling()
            rd_kafka_poll(handle.pointer, 0)
            rd_kafka_destroy(handle.pointer)
            context.finish()
        }
    }
}

extension KafkaProducer: Service {
    /// Runs until graceful shutdown (or cancellation), then flushes and closes.
    public func run() async throws {
        try? await gracefulShutdown()
        await close()
    }
}

/// Messages handed to the producer and what became of them.
public struct KafkaProducerCounts: Sendable, Equatable {
    public var sent: UInt64 = 0
    public var acknowledged: UInt64 = 0
    public var failed: UInt64 = 0

    public init(sent: UInt64 = 0, acknowledged: UInt64 = 0, failed: UInt64 = 0) {
        self.sent = sent
        self.acknowledged = acknowledged
        self.failed = failed
    }
    /// Sent but neither acknowledged nor failed yet.
    public var outstanding: UInt64 { sent - acknowledged - failed }
}

/// The producer's side of librdkafka's callbacks.
final class KafkaProducerContext: KafkaLogSink, Sendable {
    let logger: Logger
    private let reports: AsyncStream<KafkaDeliveryReport>.Continuation?
    private let state = Mutex(State())

    private struct State {
        var nextID: UInt64 = 1
        var counts = KafkaProducerCounts()
        var polling = true
        var pollingDone = false
        /// Failed deliveries without a report stream: logged at most once per 10 s (see `delivered`).
        var failureLog = LogThrottle(interval: .seconds(10))
    }

    init(logger: Logger, reports: AsyncStream<KafkaDeliveryReport>.Continuation?) {
        self.logger = logger
        self.reports = reports
    }

    func nextMessageID() -> UInt64 {
        state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
    }

    func sent() { state.withLock { $0.counts.sent += 1 } }
    var counts: KafkaProducerCounts { state.withLock { $0.counts } }
    var isPolling: Bool { state.withLock { $0.polling } }

    func pollingStopped() { state.withLock { $0.pollingDone = true } }

    /// Stops the poll thread and waits for it to leave `rd_kafka_poll`.
    func stopPolling() {
        state.withLock { $0.polling = false }
        while !state.withLock({ $0.pollingDone }) { usleep(1000) }
    }

    func finish() { reports?.finish() }

    func delivered(_ message: UnsafePointer<rd_kafka_message_t>) {
        let raw = message.pointee
        let id = UInt64(UInt(bitPattern: raw._private))
        let topic = raw.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
        let tp = KafkaTopicPartition(topic: topic, partition: raw.partition)
        let error: KafkaError?
        if raw.err == RD_KAFKA_RESP_ERR_NO_ERROR {
            error = nil
        } else {
            let text = String(cString: rd_kafka_err2str(raw.err))
            error = KafkaError(code: raw.err, operation: "deliver to \(tp)", message: text, kind: .delivery)
        }
        state.withLock { state in
            if error == nil { state.counts.acknowledged += 1 } else { state.counts.failed += 1 }
        }
        if let error, reports == nil {
            // Without a report stream nobody else hears of the failure, but one line per
            // message would bury the log when the broker is down (600,000 lines for a
            // `kafka-bench fill` against a stopped broker): the first failure, then at most
            // one line per interval with the count. The counts hold every failure.
            if let count = state.withLock({ $0.failureLog.record() }) {
                logger.warning("\(count == 1 ? "message \(id) not delivered" : "\(count) messages not delivered since the last such line, the latest \(id)"): \(error)")
            }
        }
        reports?.yield(KafkaDeliveryReport(messageID: id, topicPartition: tp,
                                           offset: error == nil ? KafkaOffset.concrete(raw.offset) : nil, error: error))
    }
}

/// librdkafka's delivery-report callback, served by the producer's poll thread.
let kafkaDeliveryCallback: @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?) -> Void = { _, message, opaque in
    guard let message, let opaque else { return }
    Unmanaged<KafkaProducerContext>.fromOpaque(opaque).takeUnretainedValue().delivered(message)
}

/// Calls `body` with the bytes of `bytes`, or nil.
func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
    guard let bytes else { return body(nil) }
    return bytes.withUnsafeBytes { body($0) }
}

/// librdkafka's client-level error callback for producers: logged (message-level failures
/// arrive as delivery reports, so nothing is lost by not raising here).
let kafkaProducerErrorCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void = { _, code, reason, opaque in
    guard let opaque else { return }
    let context = Unmanaged<KafkaProducerContext>.fromOpaque(opaque).takeUnretainedValue()
    let err = rd_kafka_resp_err_t(rawValue: code)
    let text = reason.map { String(cString: $0) } ?? String(cString: rd_kafka_err2str(err))
    context.logger.warning("\(KafkaError(code: err, operation: "produce", message: text))")
}
