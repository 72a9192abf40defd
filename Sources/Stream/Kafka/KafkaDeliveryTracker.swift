import Synchronization

/// Matches a producer's delivery reports with what the caller sent, by message id: each sent
/// message is registered with a tag (what it was, for the caller), and each report yields the
/// tag of its message.
///
/// The two can come in either order. `KafkaProducer.send` returns the id only after
/// librdkafka has the message, and librdkafka's poll thread may hand out its acknowledgement
/// before the sending thread, preempted in between, registers the id (it takes a preemption
/// longer than `linger.ms` plus a round trip, so it is rare, but on two busy cores not
/// impossible). A report that finds no registration is therefore kept until the registration
/// comes, instead of being dropped: for the monitor a dropped report is an alert left marked
/// undelivered, sent again only at the next start. Every message sent must be registered, or
/// its report is kept for ever.
public final class KafkaDeliveryTracker<Tag: Sendable>: Sendable {
    private struct State: ~Copyable {
        var sent: [UInt64: Tag] = [:]
        var early: [UInt64: KafkaDeliveryReport] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// Registers a message `send` returned `messageID` for; returns its report if that came first.
    public func sent(_ messageID: UInt64, tag: Tag) -> KafkaDeliveryReport? {
        state.withLock { state in
            if let report = state.early.removeValue(forKey: messageID) { return report }
            state.sent[messageID] = tag
            return nil
        }
    }

    /// The tag of the report's message, or nil while that message is not registered yet (the
    /// report is then returned by `sent` when it is).
    public func reported(_ report: KafkaDeliveryReport) -> Tag? {
        state.withLock { state in
            if let tag = state.sent.removeValue(forKey: report.messageID) { return tag }
            state.early[report.messageID] = report
            return nil
        }
    }

    /// Messages registered whose report has not come yet.
    public var outstanding: Int { state.withLock { $0.sent.count } }
}
