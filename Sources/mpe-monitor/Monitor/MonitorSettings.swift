import ArgumentParser
import AuditLog
import Foundation
import Stream

/// The monitor's transport and bookkeeping settings: the `kafka:` and `monitor:` sections of
/// the configuration file, overridden by `MPE_*` environment variables, overridden by flags.
struct MonitorSettings {
    var brokers = ["127.0.0.1:9092"]
    var group = "mpe-monitor"
    var topic = "labels"
    var alertsTopic: String?
    var deadLetterTopic: String?
    /// librdkafka properties passed through (TLS, SASL, timeouts). One default differs from
    /// librdkafka's: topic metadata every 10 s rather than 5 min, because a topic that
    /// disappears (a broker that lost its data) takes its partitions away from the group,
    /// and they come back only when a metadata refresh sees the topic again.
    var properties: [String: String] = ["topic.metadata.refresh.interval.ms": "10000"]
    var sessionTimeoutMilliseconds = 6000
    var heartbeatIntervalMilliseconds = 1500
    /// Most messages per fetched batch, hence per SQLite transaction. A fetch takes what is
    /// queued (never waits to fill a batch), so batches grow only under a backlog, and there
    /// each transaction's fixed cost (offsets, processing order, outbox, the WAL frames of the
    /// pages it touched: about 2 ms at d = 64, the same on tmpfs, so CPU rather than fsync) is
    /// shared by more rows. At d = 64 the write stage is the bottleneck, and 5000 gave
    /// 103k–105k msg/s where 1000 gave 85k–92k (alternated runs; README).
    var maxBatch = 5000
    var database = "mpe-audit.sqlite"
    var examples: AuditLog.ExampleMode = .all
    /// Messages processed (learned or dead-lettered) between learner checkpoints: a restart
    /// replays at most this many.
    var checkpointInterval = 50_000
    /// Seconds a checkpoint may lag behind what was learned: past that, the next batch, or the
    /// loop's tick on an idle topic, writes one. Counted in messages alone, a quiet topic
    /// (a few messages a minute) went weeks between checkpoints, so a restart re-learned weeks
    /// of messages, and retention, which never prunes past the newest checkpoint, stood still.
    /// While nothing is learned the tick runs the retention at the same pace. Five minutes
    /// costs a busy monitor nothing (it checkpoints by count far more often) and a quiet one at
    /// most one snapshot per interval.
    var checkpointMaxAge = 300.0
    /// Seconds `examples` rows are kept (nil: for ever). After each checkpoint the monitor
    /// deletes at most two checkpoint intervals' worth of older rows, so that it catches up
    /// with a backlog of old rows at twice the rate rows arrive without holding a batch up
    /// for long. At about 120 bytes a row with its index, one row per message fills a disk in
    /// months otherwise.
    var examplesRetention: TimeInterval?
    /// How long `dead_letters` rows are kept; pruned as `examples` rows are. By default as
    /// long as example rows: each holds up to 4 KiB of the refused payload, so a flood of bad
    /// input grows the log far faster than good input does, and a log bounded by
    /// `examples_retention` should stay bounded.
    var deadLetterRetention: DeadLetterRetention = .asExamples
    /// How long `alerts` rows are kept (nil: for ever, the default). They are what the monitor
    /// concluded, so they go only when asked: about 310 bytes an alert with its indexes, the
    /// one part of the log that still grows without bound once the other retentions are set.
    var alertRetention: TimeInterval?
    /// Seconds between status lines.
    var statusInterval = 10.0
    /// Seconds allowed for a graceful shutdown.
    var shutdownTimeout = 30.0
    /// Seconds between attempts to publish again the alerts whose delivery failed (the alerts
    /// topic unreachable for longer than librdkafka's `message.timeout.ms`): they stay
    /// undelivered in the outbox, and a monitor left running for months must not hold them
    /// back until its next restart.
    var alertResendInterval = 60.0
    /// Seconds after which a loop that has not passed, or a batch write still under way, makes
    /// `/healthz` answer 503 (`MonitorHealth`). Well above a slow write's few seconds and
    /// SQLite's 10 s wait for a lock, after which the write fails and the monitor stops anyway.
    var stallTimeout = 60.0
    /// MiB the audit log's write-ahead log is cut back to once checkpointed
    /// (`AuditLog.Options.walSizeLimit`); past four times that the monitor warns.
    var walSizeLimitMiB = AuditLog.Options.defaultWALSizeLimit >> 20
    /// How log records are written to standard error (`--log-format`).
    var logFormat: LogFormat = .text
    /// Seconds between comparisons of the partitions' log ends with the next offsets (a log
    /// that ends before the next offset lost its data). Not a setting: it only bounds how soon
    /// that is noticed, and costs no broker round trip.
    let logEndCheckInterval = 2.0

    /// `--log-format`: swift-log's text lines, or one JSON object a record (`JSONLogHandler`).
    enum LogFormat: String, CaseIterable, ExpressibleByArgument {
        case text
        case json
    }

    /// `monitor.dead_letter_retention`: an age, `keep` (for ever), or unset (as `examples_retention`).
    enum DeadLetterRetention: Equatable {
        case asExamples
        case keep
        case age(TimeInterval)

        /// `keep` or an age, from the file or the command line.
        init(_ text: String, key: String) throws {
            self = text == "keep" ? .keep : .age(try MonitorSettings.retention(text, key: key, orKeep: true))
        }
    }

    /// Seconds dead letters are kept (nil: for ever).
    /// Whether any retention is set: the monitor then prunes after each checkpoint, and while
    /// idle every `checkpointMaxAge`.
    var retains: Bool { examplesRetention != nil || resolvedDeadLetterRetention != nil || alertRetention != nil }

    var resolvedDeadLetterRetention: TimeInterval? {
        switch deadLetterRetention {
        case .asExamples: examplesRetention
        case .keep: nil
        case .age(let age): age
        }
    }

    var resolvedAlertsTopic: String { alertsTopic ?? "\(topic).alerts" }
    var resolvedDeadLetterTopic: String { deadLetterTopic ?? "\(topic).dead-letters" }

    /// Applies the file's `kafka:` and `monitor:` sections.
    mutating func apply(file node: ConfigNode) throws {
        if let kafka = try node.child("kafka") {
            try kafka.allowOnly(["brokers", "group", "topic", "alerts_topic", "dead_letter_topic", "properties",
                                 "session_timeout_ms", "heartbeat_interval_ms", "max_batch"])
            if let v = try kafka.strings("brokers") { brokers = v }
            if let v = try kafka.string("group") { group = v }
            if let v = try kafka.string("topic") { topic = v }
            if let v = try kafka.string("alerts_topic") { alertsTopic = v }
            if let v = try kafka.string("dead_letter_topic") { deadLetterTopic = v }
            if let v = try kafka.int("session_timeout_ms") { sessionTimeoutMilliseconds = v }
            if let v = try kafka.int("heartbeat_interval_ms") { heartbeatIntervalMilliseconds = v }
            if let v = try kafka.int("max_batch") { maxBatch = v }
            if let p = try kafka.child("properties") {
                guard let map = p.mapping else { throw ConfigurationProblem(message: "\(p.path) must be a mapping of librdkafka properties") }
                for (key, value) in map { properties[key] = "\(value)" }
            }
        }
        if let monitor = try node.child("monitor") {
            try monitor.allowOnly(["db", "examples", "examples_retention", "dead_letter_retention", "alert_retention", "checkpoint_interval",
                                   "checkpoint_max_age", "status_interval", "shutdown_timeout", "alert_resend_interval", "stall_timeout",
                                   "wal_size_limit_mib"])
            if let v = try monitor.string("db") { database = v }
            if let v = try monitor.choice("examples", AuditLog.ExampleMode.self) { examples = v }
            if let v = try monitor.string("examples_retention") { examplesRetention = try Self.retention(v, key: "monitor.examples_retention") }
            if let v = try monitor.string("alert_retention") { alertRetention = try Self.alertRetention(v, key: "monitor.alert_retention") }
            if let v = try monitor.string("dead_letter_retention") {
                deadLetterRetention = try DeadLetterRetention(v, key: "monitor.dead_letter_retention")
            }
            if let v = try monitor.int("checkpoint_interval") { checkpointInterval = v }
            if let v = try monitor.double("checkpoint_max_age") { checkpointMaxAge = v }
            if let v = try monitor.double("status_interval") { statusInterval = v }
            if let v = try monitor.double("shutdown_timeout") { shutdownTimeout = v }
            if let v = try monitor.double("alert_resend_interval") { alertResendInterval = v }
            if let v = try monitor.double("stall_timeout") { stallTimeout = v }
            if let v = try monitor.int("wal_size_limit_mib") { walSizeLimitMiB = v }
        }
    }

    /// Applies `MPE_BROKERS`, `MPE_GROUP`, `MPE_TOPIC`, `MPE_ALERTS_TOPIC`,
    /// `MPE_DEAD_LETTER_TOPIC` and `MPE_DB`.
    mutating func apply(environment: [String: String]) {
        if let v = environment["MPE_BROKERS"], !v.isEmpty { brokers = Self.brokerList(v) }
        if let v = environment["MPE_GROUP"], !v.isEmpty { group = v }
        if let v = environment["MPE_TOPIC"], !v.isEmpty { topic = v }
        if let v = environment["MPE_ALERTS_TOPIC"], !v.isEmpty { alertsTopic = v }
        if let v = environment["MPE_DEAD_LETTER_TOPIC"], !v.isEmpty { deadLetterTopic = v }
        if let v = environment["MPE_DB"], !v.isEmpty { database = v }
    }

    /// An `alert_retention` value: an age, or `keep` (nil).
    static func alertRetention(_ text: String, key: String) throws -> TimeInterval? {
        text == "keep" ? nil : try retention(text, key: key, orKeep: true)
    }

    /// A retention value: an age such as 30d or 12h, more than zero (`orKeep`: or `keep`,
    /// which the message then names as allowed).
    static func retention(_ text: String, key: String, orKeep: Bool = false) throws -> TimeInterval {
        guard let age = QueryCommand.parseAge(text), age > 0 else {
            throw ConfigurationProblem(message: "\(key) '\(text)': expected an age above zero such as 90s, 30m, 12h or 30d\(orKeep ? ", or keep" : "")")
        }
        return age
    }

    /// An age in the unit that reads best: 30d, 12h, 90m, 45s.
    static func ageText(_ seconds: TimeInterval) -> String {
        for (unit, size) in [("d", 86400.0), ("h", 3600), ("m", 60)] where seconds >= size && seconds.truncatingRemainder(dividingBy: size) == 0 {
            return "\(Int(seconds / size))\(unit)"
        }
        return seconds == seconds.rounded() ? "\(Int(seconds))s" : "\(seconds)s"
    }

    /// `host:port[,host:port]` as given on the command line or in `MPE_BROKERS`.
    static func brokerList(_ text: String) -> [String] {
        text.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// `-X key=value` options (shared by the monitor and `produce`) as librdkafka properties.
    static func properties(fromOptions entries: [String]) throws -> [String: String] {
        var properties: [String: String] = [:]
        for entry in entries {
            guard let eq = entry.firstIndex(of: "="), eq != entry.startIndex else {
                throw ValidationError("-X expects key=value, got '\(entry)'")
            }
            properties[String(entry[..<eq])] = String(entry[entry.index(after: eq)...])
        }
        return properties
    }

    /// The properties with their `${env:NAME}` and `${file:PATH}` references resolved, from
    /// the file and `-X` alike (last, so a reference is read once whichever set it).
    static func resolvingReferences(_ properties: [String: String]) throws -> [String: String] {
        do {
            return try KafkaPropertyReferences.resolve(properties, environment: ProcessInfo.processInfo.environment)
        } catch {
            throw ConfigurationProblem(message: "kafka.properties: \(error)")
        }
    }

    func validate() throws {
        guard maxBatch >= 1 else { throw ConfigurationProblem(message: "kafka.max_batch must be at least 1, got \(maxBatch)") }
        guard checkpointInterval >= 1 else { throw ConfigurationProblem(message: "monitor.checkpoint_interval must be at least 1, got \(checkpointInterval)") }
        // The tick that writes a checkpoint on an idle topic comes every `logEndCheckInterval`
        // seconds: a shorter age would only mean a snapshot every tick.
        guard checkpointMaxAge >= 2, checkpointMaxAge.isFinite else {
            throw ConfigurationProblem(message: "monitor.checkpoint_max_age must be a number of seconds of at least 2 (the idle loop passes every 2 s), got \(checkpointMaxAge)")
        }
        guard statusInterval > 0, shutdownTimeout > 0 else {
            throw ConfigurationProblem(message: "monitor.status_interval and monitor.shutdown_timeout must be positive")
        }
        guard alertResendInterval > 0, alertResendInterval.isFinite else {
            throw ConfigurationProblem(message: "monitor.alert_resend_interval must be a positive number of seconds, got \(alertResendInterval)")
        }
        // The idle loop passes every `logEndCheckInterval` seconds: a bound near that would
        // call an idle monitor stalled between two passes.
        guard stallTimeout >= 5, stallTimeout.isFinite else {
            throw ConfigurationProblem(message: "monitor.stall_timeout must be a number of seconds of at least 5 (the idle loop passes every 2 s), got \(stallTimeout)")
        }
        guard (1...(1 << 20)).contains(walSizeLimitMiB) else {
            throw ConfigurationProblem(message: "monitor.wal_size_limit_mib must be a whole number of MiB from 1 to 1048576, got \(walSizeLimitMiB)")
        }
    }
}

