import CRdkafka
import Dispatch
import Logging
import Synchronization

/// The consumer's side of librdkafka's callbacks: it receives rebalances and "queue no longer
/// empty" wake-ups on librdkafka's or the fetching thread, and hands them to the task that
/// iterates `events`.
final class KafkaConsumerContext: KafkaLogSink, Sendable {
    let logger: Logger
    private let state = Mutex(State())
    private let provider = Mutex<KafkaStartOffsetProvider?>(nil)

    private struct State {
        var events: [KafkaConsumerEvent] = []
        var eventHead = 0
        /// Set when librdkafka signalled new data with nobody waiting; consumed by the next wait.
        var signalled = false
        var waiter: CheckedContinuation<Void, Never>?
        var waitGeneration: UInt64 = 0
    }

    /// A wait never lasts longer than this, so a lost wake-up costs a delay, not a stall.
    static let maximumWait: DispatchTimeInterval = .milliseconds(200)

    init(logger: Logger) {
        self.logger = logger
    }

    func setStartOffsetProvider(_ provider: KafkaStartOffsetProvider?) {
        self.provider.withLock { $0 = provider }
    }

    func push(_ event: KafkaConsumerEvent) {
        state.withLock { $0.events.append(event) }
    }

    func popEvent() -> KafkaConsumerEvent? {
        state.withLock { state in
            guard state.eventHead < state.events.count else { return nil }
            let event = state.events[state.eventHead]
            state.eventHead += 1
            if state.eventHead == state.events.count {
                state.events.removeAll(keepingCapacity: true)
                state.eventHead = 0
            }
            return event
        }
    }

    var hasEvents: Bool { state.withLock { $0.eventHead < $0.events.count } }

    /// Called by librdkafka when the consumer queue goes from empty to non-empty.
    func wake() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.signalled = true
            return nil
        }
        waiter?.resume()
    }

    /// Suspends until librdkafka signals data, the task is cancelled, or `maximumWait` passes.
    func waitForWakeup() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let generation = state.withLock { state -> UInt64? in
                    if state.signalled {
                        state.signalled = false
                        return nil
                    }
                    state.waiter = continuation
                    state.waitGeneration &+= 1
                    return state.waitGeneration
                }
                guard let generation else {
                    continuation.resume()
                    return
                }
                DispatchQueue.global().asyncAfter(deadline: .now() + Self.maximumWait) { [self] in
                    let expired = state.withLock { state -> CheckedContinuation<Void, Never>? in
                        guard state.waitGeneration == generation, let waiter = state.waiter else { return nil }
                        state.waiter = nil
                        return waiter
                    }
                    expired?.resume()
                }
            }
        } onCancel: {
            wake()
        }
    }

    /// Handles a group rebalance inside librdkafka's callback, on the fetching thread.
    func rebalance(rk: OpaquePointer, err: rd_kafka_resp_err_t, partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) {
        let cooperative = rd_kafka_rebalance_protocol(rk).map { String(cString: $0) == "COOPERATIVE" } ?? false
        let elements = partitions.map { NativePartitionList.elements(of: $0) } ?? []
        let topicPartitions = elements.map(\.0)
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            if let partitions, let starts = provider.withLock({ $0 })?(topicPartitions), let elems = partitions.pointee.elems {
                for i in 0..<Int(partitions.pointee.cnt) {
                    let tp = topicPartitions[i]
                    if let start = starts[tp] { elems[i].offset = start.raw }
                }
            }
            if cooperative {
                if let error = rd_kafka_incremental_assign(rk, partitions) {
                    push(.error(KafkaError(consuming: error, operation: "assign after rebalance")))
                }
            } else {
                let result = rd_kafka_assign(rk, partitions)
                if result != RD_KAFKA_RESP_ERR_NO_ERROR {
                    push(.error(KafkaError(code: result, operation: "assign after rebalance")))
                }
            }
            logger.info("partitions assigned: \(topicPartitions.sorted().map(\.description).joined(separator: ", "))")
            push(.assigned(topicPartitions.sorted()))
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            if cooperative {
                if let error = rd_kafka_incremental_unassign(rk, partitions) { rd_kafka_error_destroy(error) }
            } else {
                _ = rd_kafka_assign(rk, nil)
            }
            logger.info("partitions revoked: \(topicPartitions.sorted().map(\.description).joined(separator: ", "))")
            push(.revoked(topicPartitions.sorted()))
        default:
            _ = rd_kafka_assign(rk, nil)
            push(.error(KafkaError(code: err, operation: "rebalance")))
        }
    }
}

/// librdkafka's rebalance callback; the opaque pointer is the consumer's context.
let kafkaRebalanceCallback: @convention(c) (OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?) -> Void = { rk, err, partitions, opaque in
    guard let rk, let opaque else { return }
    Unmanaged<KafkaConsumerContext>.fromOpaque(opaque).takeUnretainedValue().rebalance(rk: rk, err: err, partitions: partitions)
}

/// librdkafka's "queue became non-empty" callback.
let kafkaQueueWakeCallback: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Void = { _, opaque in
    guard let opaque else { return }
    Unmanaged<KafkaConsumerContext>.fromOpaque(opaque).takeUnretainedValue().wake()
}

/// librdkafka's client-level error callback (brokers down, authentication, fatal errors),
/// served while fetching; surfaced as an `.error` event.
let kafkaConsumerErrorCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void = { rk, code, reason, opaque in
    guard let opaque else { return }
    let context = Unmanaged<KafkaConsumerContext>.fromOpaque(opaque).takeUnretainedValue()
    let err = rd_kafka_resp_err_t(rawValue: code)
    var text = reason.map { String(cString: $0) } ?? String(cString: rd_kafka_err2str(err))
    var error = KafkaError(code: err, operation: "consume", message: text)
    if err == RD_KAFKA_RESP_ERR__FATAL, let rk {
        var buffer = [CChar](repeating: 0, count: 512)
        let underlying = rd_kafka_fatal_error(rk, &buffer, buffer.count)
        text = KafkaLibrary.string(fromCBuffer: buffer)
        error = KafkaError(kind: KafkaError.kind(of: underlying), code: underlying.rawValue,
                           codeName: String(cString: rd_kafka_err2name(underlying)), isRetriable: false,
                           isFatal: true, operation: "consume", message: text)
    }
    context.push(.error(error))
}
