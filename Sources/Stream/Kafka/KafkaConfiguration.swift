import CRdkafka

/// Settings shared by the consumer and the producer: where the cluster is, who we are, and
/// any librdkafka property (TLS, SASL, timeouts, ...) passed through as written in
/// librdkafka's CONFIGURATION.md.
public struct KafkaConfiguration: Sendable, Equatable {
    /// `host:port` of one or more brokers (librdkafka's `bootstrap.servers`).
    public var bootstrapServers: [String]
    /// Sent to brokers to identify this client in their logs and quotas.
    public var clientID: String
    /// Any other librdkafka property, e.g. `security.protocol`, `ssl.ca.location`,
    /// `sasl.mechanisms`, `socket.timeout.ms`. Checked by librdkafka at construction.
    public var properties: [String: String]

    public init(bootstrapServers: [String], clientID: String = "mpe-monitor", properties: [String: String] = [:]) {
        self.bootstrapServers = bootstrapServers
        self.clientID = clientID
        self.properties = properties
    }
}

/// Where a consumer starts in a partition that has no committed (or provided) offset.
public enum KafkaOffsetReset: String, Sendable, Equatable, CaseIterable {
    case earliest, latest
    /// Report an error instead of guessing (a gap must be noticed, not skipped over).
    case error
}

/// Consumer settings. Offsets are never committed or stored behind the caller's back:
/// auto-commit and auto-offset-store are off and cannot be switched on through `properties`.
public struct KafkaConsumerConfiguration: Sendable, Equatable {
    public var client: KafkaConfiguration
    /// Consumer group; required for `subscribe` and `commit`, optional for `assign`.
    public var groupID: String?
    /// How long the group waits for a silent member. 6 s, the smallest a stock Kafka broker
    /// accepts (`group.min.session.timeout.ms`), not librdkafka's 45 s: the test broker
    /// answers a join only after half of it (see README, "Kafka client"), and tests use 2 s.
    public var sessionTimeoutMilliseconds: Int
    public var heartbeatIntervalMilliseconds: Int
    public var offsetReset: KafkaOffsetReset
    /// Most messages handed out in one batch.
    public var maxBatchSize: Int
    /// Emit an event when a partition's end is reached (used to drain a topic and stop).
    public var reportEndOfPartition: Bool

    public init(client: KafkaConfiguration, groupID: String? = nil, sessionTimeoutMilliseconds: Int = 6000,
                heartbeatIntervalMilliseconds: Int = 1500, offsetReset: KafkaOffsetReset = .earliest,
                maxBatchSize: Int = 1000, reportEndOfPartition: Bool = false) {
        self.client = client
        self.groupID = groupID
        self.sessionTimeoutMilliseconds = sessionTimeoutMilliseconds
        self.heartbeatIntervalMilliseconds = heartbeatIntervalMilliseconds
        self.offsetReset = offsetReset
        self.maxBatchSize = maxBatchSize
        self.reportEndOfPartition = reportEndOfPartition
    }

    /// The properties the caller may not override, because the program's guarantees rest on
    /// them (the caller decides when an offset is done).
    /// The session timeout and heartbeat have typed settings (`--session-timeout-ms`), which
    /// would silently replace the same property given through `properties`.
    static let managed: Set<String> = ["enable.auto.commit", "enable.auto.offset.store", "group.id",
                                      "enable.partition.eof", "auto.offset.reset",
                                      "session.timeout.ms", "heartbeat.interval.ms"]

    /// Consumer defaults that differ from librdkafka's; `client.properties` overrides them.
    ///
    /// `fetch.queue.backoff.ms` 10 (librdkafka: 1000). Once the local queue holds
    /// `queued.max.messages.kbytes` (64 MB) or `queued.min.messages` per partition, librdkafka
    /// postpones the next fetch by this long. A consumer working through a backlog empties the
    /// queue sooner than that and then sits idle until the timer runs out: `perf` of the
    /// monitor on 300,000 queued messages at d = 64 showed 0.24 s with no thread of monitor or
    /// broker running, ending when the next fetch came back 1 s after the queue had filled.
    /// The cost of 10 ms is a check of the queue's size a hundred times a second while it is full.
    static let defaults: [String: String] = ["fetch.queue.backoff.ms": "10"]

    func properties() throws(KafkaError) -> [(String, String)] {
        guard maxBatchSize >= 1 else {
            throw KafkaError(kind: .configuration, operation: "configure consumer",
                             message: "maxBatchSize must be at least 1, got \(maxBatchSize)")
        }
        var list = try client.commonProperties(managed: Self.managed, role: "consumer")
        for key in Self.defaults.keys.sorted() where client.properties[key] == nil {
            list.append((key, Self.defaults[key] ?? ""))
        }
        if let groupID { list.append(("group.id", groupID)) }
        list.append(("session.timeout.ms", String(sessionTimeoutMilliseconds)))
        list.append(("heartbeat.interval.ms", String(heartbeatIntervalMilliseconds)))
        list.append(("enable.auto.commit", "false"))
        list.append(("enable.auto.offset.store", "false"))
        list.append(("enable.partition.eof", reportEndOfPartition ? "true" : "false"))
        list.append(("auto.offset.reset", offsetReset.rawValue))
        return list
    }
}

/// Producer settings. Idempotence is on by default, so retries neither duplicate nor reorder.
public struct KafkaProducerConfiguration: Sendable, Equatable {
    public var client: KafkaConfiguration
    public var idempotent: Bool
    /// How long librdkafka waits to fill a batch before sending (`linger.ms`). A `linger.ms`
    /// in `client.properties` (a `-X` on the command line) takes precedence.
    public var lingerMilliseconds: Int
    /// After this long without an acknowledgement a message is reported failed
    /// (`message.timeout.ms`); delivery is then never silent either way. A
    /// `message.timeout.ms` in `client.properties` takes precedence.
    public var messageTimeoutMilliseconds: Int

    public init(client: KafkaConfiguration, idempotent: Bool = true, lingerMilliseconds: Int = 5,
                messageTimeoutMilliseconds: Int = 30000) {
        self.client = client
        self.idempotent = idempotent
        self.lingerMilliseconds = lingerMilliseconds
        self.messageTimeoutMilliseconds = messageTimeoutMilliseconds
    }

    static let managed: Set<String> = ["enable.idempotence"]

    func properties() throws(KafkaError) -> [(String, String)] {
        var list = try client.commonProperties(managed: Self.managed, role: "producer")
        list.append(("enable.idempotence", idempotent ? "true" : "false"))
        // Defaults, not overrides: the commands expose no typed option for these, so a `-X`
        // is how an operator sets them (appended after it, they silently replaced it).
        if client.properties["linger.ms"] == nil { list.append(("linger.ms", String(lingerMilliseconds))) }
        if client.properties["message.timeout.ms"] == nil { list.append(("message.timeout.ms", String(messageTimeoutMilliseconds))) }
        return list
    }
}

extension KafkaConfiguration {
    func commonProperties(managed: Set<String>, role: String) throws(KafkaError) -> [(String, String)] {
        guard !bootstrapServers.isEmpty else {
            throw KafkaError(kind: .configuration, operation: "configure \(role)",
                             message: "no bootstrap servers given (expected host:port, e.g. 127.0.0.1:9092)")
        }
        var list: [(String, String)] = [("bootstrap.servers", bootstrapServers.joined(separator: ",")),
                                        ("client.id", clientID)]
        for key in properties.keys.sorted() {
            if managed.contains(key) || key == "bootstrap.servers" || key == "client.id" {
                throw KafkaError(kind: .configuration, operation: "configure \(role)",
                                 message: "property '\(key)' is set by mpe-monitor itself; use the typed setting instead")
            }
            list.append((key, properties[key] ?? ""))
        }
        return list
    }
}

/// An owned `rd_kafka_conf_t` built from a property list; every property is checked by
/// librdkafka and a refusal carries its message.
struct NativeConfiguration: ~Copyable {
    private(set) var pointer: OpaquePointer?

    init(_ properties: [(String, String)], role: String) throws(KafkaError) {
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaError(kind: .client, operation: "configure \(role)", message: "rd_kafka_conf_new returned nothing")
        }
        var errstr = [CChar](repeating: 0, count: 512)
        for (key, value) in properties {
            let result = rd_kafka_conf_set(conf, key, value, &errstr, errstr.count)
            if result != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                let text = KafkaLibrary.string(fromCBuffer: errstr)
                // An unknown name is often a secret's property misspelt (`sasl.pasword`): its
                // value is then not quoted, so the password does not reach a terminal or a log.
                let shown = result == RD_KAFKA_CONF_UNKNOWN ? "" : " = '\(value)'"
                throw KafkaError(kind: .configuration, operation: "configure \(role)",
                                 message: "property '\(key)'\(shown): \(text)")
            }
        }
        pointer = conf
    }

    /// Hands the configuration to `rd_kafka_new`, which owns it on success.
    mutating func take() -> OpaquePointer? {
        defer { pointer = nil }
        return pointer
    }

    deinit {
        if let pointer { rd_kafka_conf_destroy(pointer) }
    }
}
