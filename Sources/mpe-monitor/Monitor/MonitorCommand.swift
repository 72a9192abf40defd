import ArgumentParser
import AuditLog
import Foundation
import Logging
import OnlineMPE
import ServiceLifecycle
import Stream
import UnixSignals

/// `mpe-monitor [monitor] --topic labels`: the long-running monitor. Consumes labeled examples
/// from Kafka, learns from each (test-then-train), writes everything it concludes to the
/// SQLite audit log, publishes alerts, and commits offsets only once their rows are durable.
struct MonitorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "monitor",
        abstract: "Watch a Kafka topic of labeled examples (the default command: `mpe-monitor --topic labels`)."
    )

    @Option(help: "Topic of labeled examples (default: labels).")
    var topic: String?
    @Option(help: "Bootstrap brokers host:port[,host:port] (default: 127.0.0.1:9092).")
    var brokers: String?
    @Option(help: "Consumer group (default: mpe-monitor).")
    var group: String?
    @Option(name: .customLong("alerts-topic"), help: "Topic for alerts (default: <topic>.alerts).")
    var alertsTopic: String?
    @Option(name: .customLong("dead-letter-topic"), help: "Topic for undecodable messages (default: <topic>.dead-letters).")
    var deadLetterTopic: String?
    @Option(help: "SQLite audit log (default: mpe-audit.sqlite).")
    var db: String?
    @Option(help: "Audit rows per message: all | flagged-only.")
    var examples: AuditLog.ExampleMode?
    @Option(name: .customLong("examples-retention"), help: "Delete example rows older than this age (30d, 12h, …; default: keep all), and outbox entries delivered before it, a little after each checkpoint.")
    var examplesRetention: String?
    @Option(name: .customLong("dead-letter-retention"), help: "Delete dead letters older than this age (30d, 12h, …), or keep them: keep (default: as --examples-retention).")
    var deadLetterRetention: String?
    @Option(name: .customLong("alert-retention"), help: "Delete alerts older than this age (30d, 12h, …) once their outbox entry is gone, or keep them: keep (default).")
    var alertRetention: String?
    @Option(name: .customLong("checkpoint-interval"), help: "Messages processed (learned or dead-lettered) between learner checkpoints (default: 50000).")
    var checkpointInterval: Int?
    @Option(name: .customLong("checkpoint-max-age"), help: "Seconds a checkpoint may lag behind what was learned, idle topic or not (default: 300).")
    var checkpointMaxAge: Double?
    @Option(name: .customLong("status-interval"), help: "Seconds between status lines (default: 10).")
    var statusInterval: Double?
    @Option(name: .customShort("X"), help: "A librdkafka property key=value (repeatable), e.g. -X security.protocol=ssl.")
    var property: [String] = []
    @Option(name: .customLong("session-timeout-ms"), help: "Consumer group session timeout (default: 6000).")
    var sessionTimeout: Int?
    @ArgumentParser.Flag(name: .customLong("until-drained"), help: "Stop once every assigned partition has been read to its end.")
    var untilDrained = false
    @Option(name: .customLong("metrics-port"), help: "Serve Prometheus metrics on http://<metrics-host>:<port>/metrics (off when absent).")
    var metricsPort: Int?
    @Option(name: .customLong("metrics-host"), help: "Address the metrics endpoint listens on (default: 127.0.0.1; 0.0.0.0 for a remote Prometheus).")
    var metricsHost: String = "127.0.0.1"
    @Option(name: .customLong("log-level"), help: "trace | debug | info | notice | warning | error | critical.")
    var logLevel: String = "info"
    @Option(name: .customLong("log-format"), help: "text | json (one JSON object a line, the status figures as fields; default: text).")
    var logFormat: MonitorSettings.LogFormat = .text
    @OptionGroup var learner: LearnerOptions

    func settings() throws -> (MonitorSettings, LearnerSettings) {
        var s = MonitorSettings()
        if let config = learner.config { try ConfigurationFile.apply(path: config, to: &s) }
        s.apply(environment: ProcessInfo.processInfo.environment)
        if let topic { s.topic = topic }
        if let brokers { s.brokers = MonitorSettings.brokerList(brokers) }
        if let group { s.group = group }
        if let alertsTopic { s.alertsTopic = alertsTopic }
        if let deadLetterTopic { s.deadLetterTopic = deadLetterTopic }
        if let db { s.database = db }
        if let examples { s.examples = examples }
        if let examplesRetention { s.examplesRetention = try MonitorSettings.retention(examplesRetention, key: "--examples-retention") }
        if let alertRetention { s.alertRetention = try MonitorSettings.alertRetention(alertRetention, key: "--alert-retention") }
        if let deadLetterRetention {
            s.deadLetterRetention = try MonitorSettings.DeadLetterRetention(deadLetterRetention, key: "--dead-letter-retention")
        }
        if let checkpointInterval { s.checkpointInterval = checkpointInterval }
        if let checkpointMaxAge { s.checkpointMaxAge = checkpointMaxAge }
        s.logFormat = logFormat
        if let statusInterval { s.statusInterval = statusInterval }
        if let sessionTimeout {
            s.sessionTimeoutMilliseconds = sessionTimeout
            s.heartbeatIntervalMilliseconds = max(sessionTimeout / 4, 100)
        }
        s.properties.merge(try MonitorSettings.properties(fromOptions: property)) { _, flag in flag }
        s.properties = try MonitorSettings.resolvingReferences(s.properties)
        try s.validate()
        let l = try learner.settings()
        try l.checkBeforeData()
        return (s, l)
    }

    func run() async throws {
        let (settings, learnerSettings): (MonitorSettings, LearnerSettings)
        do {
            (settings, learnerSettings) = try self.settings()
        } catch let problem as ConfigurationProblem {
            throw ValidationError(problem.message)
        }
        guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("--log-level '\(logLevel)': allowed trace | debug | info | notice | warning | error | critical") }
        let format = settings.logFormat
        LoggingSystem.bootstrap { label in
            switch format {
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            case .json:
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
        }
        let logger = Logger(label: "mpe-monitor")
        // A file-size limit (`ulimit -f`, systemd's LimitFSIZE) reached by the audit log would
        // otherwise kill the process with SIGXFSZ, silently and mid-transaction; ignored, the
        // write fails with EFBIG, SQLite reports the log full, and the monitor stops saying so
        // (below), as on a full disk.
        signal(SIGXFSZ, SIG_IGN)

        let audit: AuditLog
        do {
            audit = try AuditLog(path: settings.database, options: AuditLog.Options(
                examples: settings.examples, processingOrderStep: max(AuditLog.Options.defaultProcessingOrderStep, 2 * settings.checkpointInterval),
                walSizeLimit: settings.walSizeLimitMiB << 20))
        } catch {
            throw CommandFailure("audit log \(settings.database): \(error)")
        }
        // Restore the newest checkpoint; partitions start at its offsets and re-learn up to
        // the stored next offsets without writing those rows again.
        let durable = try audit.nextOffsets()
        let durableEpochs = try audit.epochs()
        var restored: OnlineLearner?
        var restoredArrivals: [Int: Arrival] = [:]
        var restoredCheckpoint = false
        var starts: [TopicPartition: Int64] = [:]
        // A partition the checkpoint does not name starts from its log's beginning, in the
        // epoch stored for it: that is the log the broker has now.
        var startEpochs = durableEpochs
        // Which settings the learner runs with, for the run's row in the audit log.
        var learnerOrigin = "as configured"
        if let checkpoint = try audit.latestCheckpoint() {
            do {
                let saved = try MonitorCheckpoint(decoding: checkpoint.snapshot)
                // Empty: taken before the first example was learned (offsets only).
                restored = saved.learner.isEmpty ? nil : try OnlineLearner(restoring: saved.learner)
                restoredArrivals = saved.arrivals
                restoredCheckpoint = true
            } catch {
                throw CommandFailure("checkpoint \(checkpoint.id) in \(settings.database) cannot be restored: \(error)")
            }
            starts = checkpoint.offsets
            startEpochs.merge(checkpoint.epochs) { _, saved in saved }
            logger.info("restored checkpoint \(checkpoint.id): \(checkpoint.examplesSeen) examples learned; replaying from its offsets")
            if var learner = restored {
                let dimension = learnerSettings.inputDimension ?? learner.configuration.inputDimension
                // Refused like a bad setting on a new log: a restart must not pass silently over a
                // configuration that a first start would stop at.
                let configured: LearnerConfiguration
                do {
                    configured = try learnerSettings.resolved(inputDimension: dimension)
                } catch let problem as ConfigurationProblem {
                    throw ValidationError("\(problem.message) (for the input dimension \(dimension) of the learner in checkpoint \(checkpoint.id))")
                }
                // The alert settings (flags.*, drift.*) are taken up: no learned quantity depends
                // on them, and tuning how talkative a monitor is must not cost it what it learned
                // over months. Applied before the re-learning after the checkpoint, so the
                // re-learned span raises what they say too.
                let created = learner.configuration
                learner.adoptAlertSettings(from: configured)
                restored = learner
                let adopted = LearnerConfigurationDifference.between(checkpoint: created, configured: learner.configuration)
                let differences = LearnerConfigurationDifference.between(checkpoint: learner.configuration, configured: configured)
                learnerOrigin = "restored from checkpoint \(checkpoint.id)"
                if !adopted.isEmpty {
                    let listed = adopted.map(\.text).joined(separator: ", ")
                    learnerOrigin += ", with the configured alert settings \(listed)"
                    logger.notice("the learner restored from checkpoint \(checkpoint.id) takes the configured alert settings \(listed)")
                }
                if differences.isEmpty {
                    learnerOrigin += ", as configured"
                } else {
                    let listed = differences.map(\.text).joined(separator: ", ")
                    learnerOrigin += ", which differs from the configuration in \(listed)"
                    logger.warning("""
                        the learner restored from checkpoint \(checkpoint.id) keeps the settings it was created with, and the \
                        configuration differs in \(listed): a learner continued bit for bit cannot change them mid-stream (only \
                        the alert settings, flags.* and drift.*, are taken up on a restart). To learn with the configured \
                        settings, start on a new audit log (--db), which reads the topic from its beginning
                        """)
                }
            }
        }
        // What is re-learned: each partition from its checkpoint offset up to its stored next
        // offset, when both are in the same log epoch (a later epoch began with a checkpoint).
        var replayFrom: [TopicPartition: (offset: Int64, epoch: Int64)] = [:]
        var replayTo: [TopicPartition: Int64] = [:]
        for (tp, start) in starts {
            let epoch = startEpochs[tp, default: 0]
            if let end = durable[tp], end > start, durableEpochs[tp, default: 0] == epoch {
                replayFrom[tp] = (start, epoch)
                replayTo[tp] = end
            }
        }
        let replayOrder = ReplayOrder<KafkaMessage>(runs: try audit.processingOrder(from: replayFrom),
                                                    starts: replayFrom.mapValues(\.offset), ends: replayTo)
        if let reason = replayOrder.abandoned {
            logger.warning("re-learning after the checkpoint in arrival order (the learner will not be bit-identical to the run before the restart): \(reason)")
        }
        let runID = try audit.startRun(configuration: configurationJSON(settings, learnerSettings, learnerOrigin: learnerOrigin), version: MPEMonitor.configuration.version)

        let resume = ResumeOffsets(starts)
        let client = KafkaConfiguration(bootstrapServers: settings.brokers, properties: settings.properties)
        let consumer: KafkaConsumer
        let partitions: Int
        let producer: KafkaProducer
        do {
            consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(
                client: client, groupID: settings.group, sessionTimeoutMilliseconds: settings.sessionTimeoutMilliseconds,
                heartbeatIntervalMilliseconds: settings.heartbeatIntervalMilliseconds, offsetReset: .earliest,
                maxBatchSize: settings.maxBatch, reportEndOfPartition: untilDrained), logger: logger,
                closeTimeout: .seconds(min(settings.shutdownTimeout / 3, 10)))
            // Not idempotent: after one delivery timed out (the broker unreachable past
            // message.timeout.ms) the idempotent producer bumps its epoch, and the test broker
            // then answers every later produce with PRODUCER_FENCED, so no alert would go out
            // again until a restart (the e2e `pause` section). Idempotence buys nothing here:
            // alerts and dead letters carry deterministic keys, and a duplicate on the topic
            // is one that consumers de-duplicate anyway.
            producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: client, idempotent: false), logger: logger,
                                         reportDeliveries: true)
            partitions = try await consumer.partitionCount(topic: settings.topic, timeout: .seconds(10))
            logger.info("topic \(settings.topic): \(partitions) partitions; audit log \(settings.database); alerts to \(settings.resolvedAlertsTopic)")
            // Every partition, assigned explicitly rather than through the group's rebalancing:
            // one learner must see the whole stream (a second member would silently take half
            // of it away), and an explicit assignment survives a topic that vanishes and comes
            // back, where the group protocol of librdkafka can be left without partitions. The
            // group id still names the committed offsets, for lag tools.
            try consumer.assign(MonitorService.startOffsets(topic: settings.topic, partitions: 0..<partitions, resume: resume))
        } catch {
            try? audit.stopRun(runID)
            throw CommandFailure("\(error)")
        }

        let health = MonitorHealth(stallTimeout: .seconds(settings.stallTimeout))
        let monitor = MonitorService(settings: settings, learnerSettings: learnerSettings, consumer: consumer, producer: producer,
                                     audit: audit, logger: logger, untilDrained: untilDrained, restored: restored, restoredCheckpoint: restoredCheckpoint,
                                     restoredArrivals: restoredArrivals, resume: resume, durable: durable,
                                     durableEpochs: durableEpochs, startEpochs: startEpochs, partitions: partitions,
                                     replayOrder: replayOrder, health: health)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let metricsPort {
            services.append(.init(service: MetricsEndpoint.start(host: metricsHost, port: metricsPort, health: health)))
            logger.info("metrics on http://\(metricsHost):\(metricsPort)/metrics, probes on /healthz and /readyz")
        }
        services += [
            .init(service: producer),
            .init(service: consumer),
            .init(service: monitor, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
        ]
        var configuration = ServiceGroupConfiguration(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        configuration.maximumGracefulShutdownDuration = .seconds(settings.shutdownTimeout)
        let group = ServiceGroup(configuration: configuration)
        do {
            try await group.run()
        } catch let error as AuditLogError where error.kind == .database {
            // A log the monitor cannot write (a full disk, an I/O error) stops it: what it
            // concluded would be lost. Said with what that leaves behind, which is nothing lost.
            try? audit.stopRun(runID)
            throw CommandFailure("""
                cannot write the audit log \(settings.database): \(error). The transaction that failed was rolled back, and \
                Kafka offsets are committed only after the rows they produced are durable, so a restart (once the cause is \
                fixed, e.g. disk space freed) resumes after the last durable batch and loses nothing
                """)
        } catch {
            try? audit.stopRun(runID)
            throw CommandFailure("\(error)")
        }
        try audit.stopRun(runID)
        try audit.close()
    }

    /// The run's effective configuration, recorded in the audit log's `runs` table.
    func configurationJSON(_ s: MonitorSettings, _ l: LearnerSettings, learnerOrigin: String) -> String {
        JSONText.object([
            ("topic", s.topic), ("brokers", s.brokers.joined(separator: ",")), ("group", s.group),
            ("alerts_topic", s.resolvedAlertsTopic), ("dead_letter_topic", s.resolvedDeadLetterTopic),
            ("examples", s.examples.rawValue), ("examples_retention", s.examplesRetention.map(MonitorSettings.ageText) ?? "keep all"),
            ("dead_letter_retention", s.resolvedDeadLetterRetention.map(MonitorSettings.ageText) ?? "keep all"),
            ("alert_retention", s.alertRetention.map(MonitorSettings.ageText) ?? "keep all"),
            ("checkpoint_interval", String(s.checkpointInterval)), ("checkpoint_max_age", String(s.checkpointMaxAge)),
            ("model", l.configuration.model.rawValue), ("family", l.family.rawValue),
            ("input_dimension", l.inputDimension.map(String.init) ?? "auto"), ("learner_settings", learnerOrigin),
        ].map { ($0.0, JSONText.string($0.1)) })
    }
}

extension AuditLog.ExampleMode: ExpressibleByArgument {}
