import CRdkafka

/// An error from the Kafka layer: librdkafka's code and name, whether retrying can help,
/// whether the client is unusable from now on, and a sentence a person can act on.
public struct KafkaError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure this is, independent of librdkafka's numeric codes.
    public enum Kind: String, Sendable, Equatable {
        /// A configuration property was refused (librdkafka's own message is in `message`).
        case configuration
        /// The run-time librdkafka is too old for the brokers this project talks to.
        case unsupportedLibrary
        /// No broker answered within the bound.
        case unreachable
        /// The topic does not exist on the cluster.
        case unknownTopic
        /// A produce was refused or its delivery failed.
        case delivery
        /// A bounded operation (flush, commit, close) did not finish in time.
        case timedOut
        /// The client was already closed.
        case closed
        /// Any other error reported by librdkafka.
        case client
    }

    public let kind: Kind
    /// librdkafka's `rd_kafka_resp_err_t` value (0 when the error did not come from librdkafka).
    public let code: Int32
    /// librdkafka's symbolic name of `code`, e.g. `_TRANSPORT` or `UNKNOWN_TOPIC_OR_PART`.
    public let codeName: String
    /// Retrying the same operation later may succeed.
    public let isRetriable: Bool
    /// The client instance can no longer be used (e.g. the idempotent producer was fenced).
    public let isFatal: Bool
    /// What the Kafka layer was doing, e.g. "commit" or "subscribe to labels".
    public let operation: String
    /// The readable reason, librdkafka's text where it gave one.
    public let message: String

    public init(kind: Kind, code: Int32 = 0, codeName: String = "", isRetriable: Bool = false,
                isFatal: Bool = false, operation: String, message: String) {
        self.kind = kind
        self.code = code
        self.codeName = codeName
        self.isRetriable = isRetriable
        self.isFatal = isFatal
        self.operation = operation
        self.message = message
    }

    public var description: String {
        let name = codeName.isEmpty ? "" : " [\(codeName)]"
        var flags: [String] = []
        if isFatal { flags.append("fatal") }
        if isRetriable { flags.append("retriable") }
        let suffix = flags.isEmpty ? "" : " (\(flags.joined(separator: ", ")))"
        return "kafka \(operation) failed\(name): \(message)\(suffix)"
    }

    /// An error from a librdkafka response code.
    init(code err: rd_kafka_resp_err_t, operation: String, message: String? = nil, kind: Kind? = nil) {
        let text = message ?? String(cString: rd_kafka_err2str(err))
        self.init(kind: kind ?? KafkaError.kind(of: err), code: err.rawValue,
                  codeName: String(cString: rd_kafka_err2name(err)),
                  isRetriable: KafkaError.isRetriable(err), isFatal: err == RD_KAFKA_RESP_ERR__FATAL,
                  operation: operation, message: text)
    }

    /// An error from librdkafka's newer `rd_kafka_error_t` object, which it destroys.
    init(consuming error: OpaquePointer, operation: String) {
        let err = rd_kafka_error_code(error)
        self.init(kind: KafkaError.kind(of: err), code: err.rawValue,
                  codeName: String(cString: rd_kafka_error_name(error)),
                  isRetriable: rd_kafka_error_is_retriable(error) != 0,
                  isFatal: rd_kafka_error_is_fatal(error) != 0,
                  operation: operation, message: String(cString: rd_kafka_error_string(error)))
        rd_kafka_error_destroy(error)
    }

    static func kind(of err: rd_kafka_resp_err_t) -> Kind {
        switch err {
        case RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR__RESOLVE:
            return .unreachable
        case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
            return .unknownTopic
        case RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
            return .timedOut
        case RD_KAFKA_RESP_ERR__INVALID_ARG:
            return .configuration
        default:
            return .client
        }
    }

    /// librdkafka marks retriability on `rd_kafka_error_t` only; for bare codes these are the
    /// transient ones (network, leadership moves, timeouts, a rebalance in progress).
    static func isRetriable(_ err: rd_kafka_resp_err_t) -> Bool {
        switch err {
        case RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN,
             RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
             RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
             RD_KAFKA_RESP_ERR_NOT_COORDINATOR, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
             RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS,
             RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION,
             RD_KAFKA_RESP_ERR__WAIT_COORD:
            return true
        default:
            return false
        }
    }

    static func closed(_ operation: String) -> KafkaError {
        KafkaError(kind: .closed, operation: operation, message: "the client is closed")
    }
}
