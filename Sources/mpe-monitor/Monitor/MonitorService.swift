import AsyncAlgorithms
import AuditLog
import Foundation
import Logging
import Metrics
import OnlineMPE
import ServiceLifecycle
import Stream
import Synchronization

/// The pipeline as a `Service`: consume → decode → score → learn → flags → audit log (one
/// transaction per batch, with the partitions' next offsets) → alerts and dead letters out →
/// Kafka commit. Kafka's committed offsets follow SQLite, never lead it.
///
/// On start it restores the newest learner checkpoint and has every assigned partition start
/// at the checkpoint's offset; messages between that and the stored next offsets are learned
/// again (to rebuild the learner exactly) without writing their rows twice.
struct MonitorService: Service {
    let settings: MonitorSettings
    let learnerSettings: LearnerSettings
    let consumer: KafkaConsumer
    let producer: KafkaProducer
    let audit: AuditLog
    let logger: Logger
    /// Stop once every assigned partition is at its end (demo and tests).
    let untilDrained: Bool
    let restored: OnlineLearner?
    /// A checkpoint was restored (`restored` is nil when it was taken before any example).
    let restoredCheckpoint: Bool
    let restoredArrivals: [Int: Arrival]
    /// Where each partition resumes when (re)assigned: the checkpoint's offsets at start, then
    /// the next offset after what this run processed (shared with the rebalance callback).
    let resume: ResumeOffsets
    let durable: [TopicPartition: Int64]
    let durableEpochs: [TopicPartition: Int64]
    /// The log epoch each partition starts in (the checkpoint's, else the stored one).
    let startEpochs: [TopicPartition: Int64]
    /// The topic's partition count at start (all of them are assigned).
    let partitions: Int
    /// The recorded order of the messages between the checkpoint and the stored next offsets.
    let replayOrder: ReplayOrder<KafkaMessage>
    /// What `/healthz` and `/readyz` report: the loop marks its passes and writes here.
    let health: MonitorHealth

    /// Where partitions `partitions` of `topic` start: the resume offset, else the beginning.
    static func startOffsets(topic: String, partitions: Range<Int>, resume: ResumeOffsets) -> [KafkaTopicPartition: KafkaOffset] {
        var offsets: [KafkaTopicPartition: KafkaOffset] = [:]
        for p in partitions {
            let tp = KafkaTopicPartition(topic: topic, partition: Int32(p))
            offsets[tp] = resume.offset(TopicPartition(topic: topic, partition: Int32(p))).map { .exact($0) } ?? .beginning
        }
        return offsets
    }

    func run() async throws {
        var processor = BatchProcessor(settings: learnerSettings, restored: restored, fromCheckpoint: restoredCheckpoint, arrivals: restoredArrivals,
                                       durable: durable, durableEpochs: durableEpochs, starts: resume.current,
                                       epochs: startEpochs, examples: settings.examples)
        let audit = self.audit
        let logger = self.logger
        // Delivery reports mark alerts delivered in the outbox: collected here and written once
        // per batch (one transaction each, not one per alert).
        let delivered = DeliveredAlerts()
        let metrics = MonitorMetrics()
        let pending = PendingDeliveries(delivered: delivered, logger: logger, metrics: metrics)
        let deliveries = Task {
            for await report in producer.deliveryReports { pending.reported(report) }
        }
        defer { deliveries.cancel() }
        try resendUndelivered(pending: pending)
        let watchdog = Task { await watchLogEnds() }
        defer { watchdog.cancel() }

        var sinceCheckpoint = 0
        // When the newest checkpoint was handed to the writer (a restored one counts: nothing
        // is learned since), and when the retention last ran (`monitor.checkpoint_max_age`).
        var checkpointedAt = ContinuousClock.now
        var prunedAt = checkpointedAt
        let maxAge = Duration.seconds(settings.checkpointMaxAge)
        /// Something learned (or dead-lettered) since the newest checkpoint, which is old.
        func checkpointAged(at now: ContinuousClock.Instant) -> Bool { sinceCheckpoint > 0 && now - checkpointedAt >= maxAge }
        /// A checkpoint goes to the writer now; `persist` runs the retention after it.
        func checkpointed(at now: ContinuousClock.Instant) {
            sinceCheckpoint = 0
            checkpointedAt = now
            prunedAt = now
        }
        let committer = KafkaCommitter(consumer: consumer, logger: logger)
        var atEnd = Set<KafkaTopicPartition>()
        var assigned = Set((0..<partitions).map { KafkaTopicPartition(topic: settings.topic, partition: Int32($0)) })
        let totals = DurableTotals()
        var status = StatusReporter(interval: settings.statusInterval, totals: totals)
        var kafkaErrors = LogThrottle(interval: .seconds(settings.statusInterval))
        var walWarnings = LogThrottle(interval: .seconds(600))
        // Said at the first drift alert of a run whose learner never forgets: see `handle`.
        var forgettingHinted = false
        var nextResend = ContinuousClock.now + .seconds(settings.alertResendInterval)

        // The write in flight; once its rows and offsets are durable it adds its batch to the
        // counters (status line, metrics), so that they never count what a crash would lose.
        var writing: Task<Void, any Error>? = nil
        /// Hands `body` to the writer once the write before it has ended: at most one write in
        /// flight, in order. Each is one `/healthz` write.
        func startWrite(_ body: sending @escaping () throws -> Void) async throws {
            if let previous = writing { try await previous.value }
            writing = Task {
                health.writeBegan()
                defer { health.writeEnded() }
                try body()
            }
        }
        var order = replayOrder
        if order.isActive { logger.info("re-learning the \(order.remaining) messages after the checkpoint in the order they were first learned") }
        /// Processes messages (a consumed batch, or what `order` released) and hands each
        /// resulting audit batch to the writer.
        func handle<Messages: RandomAccessCollection<KafkaMessage>>(_ messages: Messages) async throws where Messages.Index == Int {
            // Usually one pass; more where a partition's log started over mid-batch (each
            // new log epoch begins in a transaction of its own, with a checkpoint).
            var start: Int? = 0
            while let from = start, from < messages.endIndex {
                let batchStart = ContinuousClock.now
                let before = processor.examplesLearned
                let processed = try processor.process(messages, from: from, logEnds: processor.replaying ? logEnds() : [:], now: Date())
                var auditBatch = processed.audit
                if let fixed = processed.dimensionFixedBy {
                    let p = fixed.position
                    logger.notice("""
                        input dimension \(fixed.dimension), from the first good example (id \(fixed.exampleID) at \(p.topic)/\(p.partition)/\(p.offset)): \
                        messages of another dimension are refused from now on; set learner.input_dimension (--dimension) to fix it in advance
                        """)
                }
                // Counted in messages, dead letters included: under a flood of refused
                // messages (an upstream schema change) checkpoints still advance, so that a
                // restart does not replay the whole flood and retention, which never prunes
                // past the newest checkpoint, keeps pruning.
                sinceCheckpoint += processed.messages
                if auditBatch.checkpoint == nil, sinceCheckpoint >= settings.checkpointInterval || checkpointAged(at: batchStart) {
                    auditBatch.checkpoint = processor.newCheckpoint()
                }
                if auditBatch.checkpoint != nil { checkpointed(at: batchStart) }
                // Two-stage pipeline: this batch is written (SQLite, then what waits for
                // durability: alerts and dead letters out, the Kafka commit) on another
                // thread while the next one is decoded and learned. At most one write is in
                // flight and writes keep their order, so offsets still become durable only
                // with their rows, and a failed write stops the loop at the next batch.
                let job = auditBatch
                let outgoing = processed.outgoing
                let counts = BatchCounts(messages: processed.messages, learned: processor.examplesLearned - before, audit: auditBatch)
                // Exact Bayes follows a lasting change about as slowly as its history is long,
                // and flags correct labels as likely mislabeled meanwhile (bench/drift/run:
                // 28 % of clean labels, 20,000-40,000 examples after a change that came after
                // 360,000). The first drift alert is where an operator needs to know that.
                if counts.drift > 0, !forgettingHinted, processor.forgetting == 1 {
                    forgettingHinted = true
                    logger.warning("""
                        generalization drift after \(processor.examplesLearned) examples learned: if the change lasts, a learner \
                        with forgetting 1 (exact Bayes, weighing every example alike) follows it about as slowly as the history \
                        before it is long, and may flag correct labels as mislabeled meanwhile. Where the data changes for good, \
                        a forgetting factor below 1 (README, "Long streams: the forgetting factor") on a new audit log adapts \
                        in about 1/(1 - forgetting) examples
                        """)
                }
                let newestMessageTime = processed.newestMessageTime
                try await startWrite {
                    try self.persist(job, outgoing: outgoing, pending: pending, delivered: delivered, committer: committer, metrics: metrics)
                    totals.add(counts)
                    metrics.count(counts)
                    if let newestMessageTime { metrics.messageAge.record(Date().timeIntervalSince(newestMessageTime)) }
                }
                record(metrics, processor: processor, started: batchStart)
                start = processed.resumeAt
            }
        }
        /// What the replay order released, and what it says when it gives the order up or is done.
        func handleReleased(_ released: [KafkaMessage]) async throws {
            if !released.isEmpty { try await handle(released) }
            if !order.isActive {
                if let reason = order.abandoned {
                    logger.warning("re-learning in arrival order from here (the learner will not be bit-identical to the run before the restart): \(reason)")
                } else {
                    logger.info("re-learned the messages after the checkpoint in their recorded order")
                }
            }
        }
        // Consumer events, and a tick every `logEndCheckInterval` seconds so that the loop also
        // runs while the topic is idle: the status line stays periodic, and messages the
        // recorded order holds are re-examined against fresh log ends (without the tick they
        // waited for the next message if a needed partition's end was not yet known).
        let consumerEvents = chain(consumer.events.map { LoopEvent.consumer($0) }, [LoopEvent.ended].async)
        let ticks = AsyncTimerSequence(interval: .seconds(settings.logEndCheckInterval), clock: .continuous).map { _ in LoopEvent.tick }
        health.running()
        do {
        loop: for await loopEvent in merge(consumerEvents, ticks).cancelOnGracefulShutdown() {
            // A pass that never comes (a write the loop waits for, a read that hangs) is what
            // `/healthz` reports as a stall.
            health.loopPassed()
            let event: KafkaConsumerEvent
            switch loopEvent {
            case .consumer(let e):
                event = e
            case .tick:
                if order.isActive { try await handleReleased(order.admit([KafkaMessage](), logEnds: logEnds())) }
                // While idle no batch marks what the broker acknowledged: the tick does, so
                // the outbox does not claim an alert undelivered long after it went out.
                try markDelivered(delivered)
                if ContinuousClock.now >= nextResend {
                    nextResend = ContinuousClock.now + .seconds(settings.alertResendInterval)
                    resendFailed(pending: pending)
                }
                metrics.deliveriesOutstanding.record(pending.outstanding)
                metrics.alertsAwaitingResend.record(pending.awaitingResend)
                // On a quiet or idle topic no batch comes to carry a checkpoint: the tick writes
                // one (a batch of its own, through the same writer, so writes keep their order),
                // or, with nothing learned since the last, runs the retention, so that rows
                // past their age go while no message arrives. Not while the recorded order
                // holds messages back: those are learned first.
                let now = ContinuousClock.now
                if !order.isActive, checkpointAged(at: now) {
                    let job = AuditBatch(checkpoint: processor.newCheckpoint())
                    checkpointed(at: now)
                    try await startWrite {
                        try self.persist(job, outgoing: BatchProcessor.Outgoing(), pending: pending, delivered: delivered, committer: committer, metrics: metrics)
                    }
                } else if settings.retains, now - prunedAt >= maxAge {
                    prunedAt = now
                    try await startWrite { self.prune(metrics: metrics) }
                }
                metrics.messagesSinceCheckpoint.record(sinceCheckpoint)
                metrics.checkpointAge.record((now - checkpointedAt).seconds)
                watchFiles(metrics: metrics, throttle: &walWarnings)
                if let line = status.lineIfDue(processor: processor, lag: (try? consumer.lag()) ?? []) { log(line) }
                continue loop
            case .ended:
                break loop
            }
            switch event {
            case .messages(let batch):
                if order.isActive {
                    try await handleReleased(order.admit(batch, logEnds: logEnds()))
                } else {
                    try await handle(batch)
                }
                // Per message only while some partition is at its end (a name and a hash each).
                if !atEnd.isEmpty { for message in batch { atEnd.remove(message.topicPartition) } }
            case .assigned(let partitions):
                assigned.formUnion(partitions)
                logger.info("assigned \(partitions.map(\.description).joined(separator: ", "))")
            case .revoked(let partitions):
                assigned.subtract(partitions)
                atEnd.subtract(partitions)
                logger.info("revoked \(partitions.map(\.description).joined(separator: ", "))")
            case .endOfPartition(let tp, _):
                atEnd.insert(tp)
                if order.isActive {
                    try await handleReleased(order.partitionEnded(TopicPartition(topic: tp.topic, partition: tp.partition)))
                }
            case .error(let error):
                if error.isFatal { throw error }
                if let count = kafkaErrors.record() {
                    logger.warning("kafka: \(error)\(count > 1 ? " (\(count) errors since the last report)" : "")")
                }
            }
            if let line = status.lineIfDue(processor: processor, lag: (try? consumer.lag()) ?? []) { log(line) }
            if untilDrained, !assigned.isEmpty, assigned.isSubset(of: atEnd) { break loop }
        }
        } catch {
            health.stopping()
            // Let a write already under way finish (its rows and offsets are a consistent batch).
            _ = try? await writing?.value
            throw error
        }
        health.stopping()
        try await writing?.value

        await committer.finish()
        // Drain: a last checkpoint with the offsets it corresponds to, then alerts out.
        if sinceCheckpoint > 0 {
            _ = try audit.write(AuditBatch(checkpoint: processor.newCheckpoint()))
        }
        do {
            try await producer.flush(timeout: .seconds(min(settings.shutdownTimeout / 2, 10)))
        } catch {
            logger.warning("\(error); undelivered alerts stay in the outbox and are re-sent at the next start")
        }
        // Let the last delivery reports reach the outbox: the flush has them all out of
        // librdkafka; the task above takes them from there.
        let reportsDue = ContinuousClock.now + .seconds(1)
        while pending.outstanding > 0, ContinuousClock.now < reportsDue { try? await Task.sleep(for: .milliseconds(10)) }
        try markDelivered(delivered)
        pending.logRemainingFailures()
        log(status.finalLine(processor: processor))
    }

    /// A status line; its figures ride along as metadata where logs are JSON (in text they
    /// would repeat the line).
    private func log(_ line: MonitorStatusLine) {
        logger.info("\(line.text)", metadata: settings.logFormat == .json ? line.metadata : nil)
    }

    /// A fetch past the end of a partition's log returns nothing, and not every broker answers
    /// it with an out-of-range error (that error would make the client start over at the
    /// beginning by itself). So the ends the fetches report are compared with where this run
    /// reads next: a log that ends before it lost its data (an in-memory broker restarted, a
    /// topic deleted and re-created), and waiting there would wait for ever. The monitor says
    /// so, records it, and reads the log from its beginning; what arrives there starts a new
    /// log epoch (`BatchProcessor`). Two observations a check apart, so a report that is
    /// merely late does not trigger it.
    private func watchLogEnds() async {
        var seen: [KafkaTopicPartition: Int] = [:]
        var handled: [KafkaTopicPartition: Int64] = [:]
        var known = partitions
        var checks = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(settings.logEndCheckInterval))
            checks += 1
            if checks % 15 == 0, let count = try? await consumer.partitionCount(topic: settings.topic), count > known {
                // Partitions added to the topic: read them too, from their beginning.
                do {
                    try consumer.addToAssignment(MonitorService.startOffsets(topic: settings.topic, partitions: known..<count, resume: resume))
                    logger.notice("topic \(settings.topic) grew from \(known) to \(count) partitions; reading the new ones")
                    known = count
                } catch {
                    logger.error("topic \(settings.topic) grew to \(count) partitions but they could not be assigned: \(error)")
                }
            }
            guard let lags = try? consumer.lag() else { continue }
            for lag in lags {
                let tp = lag.partition
                guard let end = lag.highWatermark, end >= 0,
                      let next = resume.offset(TopicPartition(topic: tp.topic, partition: tp.partition)), next > end,
                      handled[tp] != next
                else {
                    seen[tp] = nil
                    continue
                }
                seen[tp, default: 0] += 1
                guard seen[tp, default: 0] >= 2 else { continue }
                seen[tp] = nil
                handled[tp] = next
                let event = StreamEventRecord(
                    kind: StreamEventRecord.logTruncated, topicPartition: TopicPartition(topic: tp.topic, partition: tp.partition),
                    expectedOffset: next, foundOffset: end,
                    message: "\(tp): the log ends at offset \(end) but the next offset to read is \(next): the broker lost "
                        + "the partition's data (e.g. a restart without persistent storage) or the topic was re-created. "
                        + "Reading it from the beginning; what arrives is new data and starts a new log epoch.")
                logger.error("\(event.message)")
                do {
                    _ = try audit.write(AuditBatch(streamEvents: [event]))
                    try await consumer.seek([tp: .beginning])
                } catch {
                    logger.error("\(tp): could not move to the start of the log (retrying at the next check): \(error)")
                    handled[tp] = nil
                }
            }
        }
    }

    /// Each assigned partition's log end, as the last fetch reported it (no broker round trip).
    private func logEnds() -> [TopicPartition: Int64] {
        var ends: [TopicPartition: Int64] = [:]
        for lag in (try? consumer.lag()) ?? [] {
            if let end = lag.highWatermark, end >= 0 { ends[TopicPartition(topic: lag.partition.topic, partition: lag.partition.partition)] = end }
        }
        return ends
    }

    /// The gauges: the learner's state after a batch (its counters wait for durability).
    private func record(_ metrics: MonitorMetrics, processor: BatchProcessor, started: ContinuousClock.Instant) {
        if let g = processor.learner?.latestGeneralization {
            metrics.prequentialNLL.record(g.prequentialNLL)
            metrics.looNLL.record(g.looNLL)
            metrics.looError.record(g.looError)
        }
        if let lag = try? consumer.lag() { metrics.lag.record(Double(lag.compactMap(\.lag).reduce(0, +))) }
        metrics.batchSeconds.record(duration: ContinuousClock.now - started)
    }

    /// Writes one processed batch in one transaction, then does what must wait for it to be
    /// durable: the resume offsets advance, alerts and dead letters go out, delivered alerts are
    /// marked, and Kafka's offsets follow SQLite's in the background (the next batch does not
    /// wait for the broker's answer; SQLite holds the truth, a lost commit costs nothing).
    private func persist(_ auditBatch: AuditBatch, outgoing: BatchProcessor.Outgoing, pending: PendingDeliveries,
                         delivered: DeliveredAlerts, committer: KafkaCommitter, metrics: MonitorMetrics) throws {
        let written = try audit.write(auditBatch)
        resume.advance(auditBatch.nextOffsets)
        var outgoing = outgoing
        if !written.repeatedAlerts.isEmpty {
            logger.notice("\(written.repeatedAlerts.count) alert(s) raised again with an id already recorded; not published twice")
            outgoing.alerts = written.newAlerts(of: outgoing.alerts)
        }
        for event in auditBatch.streamEvents {
            if event.kind == StreamEventRecord.offsetGap { logger.notice("\(event.message)") } else { logger.error("\(event.message)") }
        }
        publish(outgoing, pending: pending)
        try markDelivered(delivered)
        if auditBatch.checkpoint != nil, settings.retains { prune(metrics: metrics) }
        var commit: [KafkaTopicPartition: Int64] = [:]
        for (tp, offset) in auditBatch.nextOffsets { commit[KafkaTopicPartition(topic: tp.topic, partition: tp.partition)] = offset }
        if !commit.isEmpty { committer.submit(commit) }
    }

    /// Deletes example rows older than the examples retention, dead letters and alerts older
    /// than theirs, and outbox entries delivered before the later of the examples' and the
    /// alerts' cut-off, at most two checkpoint intervals' worth of each.
    /// A failure is logged and left for the next checkpoint (or, idle, the next
    /// `monitor.checkpoint_max_age`): rows kept longer lose nothing.
    private func prune(metrics: MonitorMetrics) {
        let now = Date()
        let examples = settings.examplesRetention
        let deadLetters = settings.resolvedDeadLetterRetention
        let alerts = settings.alertRetention
        let ages = [examples.map { "examples \(MonitorSettings.ageText($0))" }, deadLetters.map { "dead letters \(MonitorSettings.ageText($0))" },
                    alerts.map { "alerts \(MonitorSettings.ageText($0))" }]
            .compactMap { $0 }.joined(separator: ", ")
        do {
            let pruned = try audit.prune(olderThan: examples.map { now.addingTimeInterval(-$0) },
                                         deadLettersOlderThan: deadLetters.map { now.addingTimeInterval(-$0) },
                                         alertsOlderThan: alerts.map { now.addingTimeInterval(-$0) },
                                         maxRows: 2 * settings.checkpointInterval, at: now)
            let delivered = pruned.deliveredAlertsDeleted
            metrics.pruned.increment(by: pruned.rowsDeleted)
            metrics.prunedDeadLetters.increment(by: pruned.deadLettersDeleted)
            metrics.prunedAlerts.increment(by: pruned.alertsDeleted)
            if pruned.rowsDeleted > 0 || delivered > 0 || pruned.deadLettersDeleted > 0 || pruned.alertsDeleted > 0 {
                logger.info("pruned \(pruned.rowsDeleted) example row(s), \(pruned.deadLettersDeleted) dead letter(s) and \(pruned.alertsDeleted) alert(s) (recorded in table retention), and \(delivered) delivered outbox entr\(delivered == 1 ? "y" : "ies"), past the retention (\(ages))")
            }
        } catch {
            logger.warning("pruning rows past the retention (\(ages)) failed (tried again after the next checkpoint): \(error)")
        }
    }

    /// Sets the audit log's file-size gauges, and warns (through `throttle`) while the WAL is
    /// far past the size SQLite cuts it back to: no checkpoint can take the frames after the
    /// snapshot of a read transaction that another connection keeps open, and cannot start
    /// the file over while readers follow one another without a gap (dashboards polling with
    /// long queries), so it grows with every batch until they stop; only their owners can.
    private func watchFiles(metrics: MonitorMetrics, throttle: inout LogThrottle) {
        let sizes = audit.fileSizes()
        metrics.auditDatabaseBytes.record(sizes.database)
        metrics.auditWALBytes.record(sizes.wal)
        let limit = audit.options.walSizeLimit
        if sizes.wal > 4 * Int64(limit), throttle.record() != nil {
            logger.warning("""
                the audit log's write-ahead log \(audit.path)-wal is \(sizes.wal >> 20) MiB, past 4 times the \(limit >> 20) MiB it is cut back to: \
                another connection is most likely holding a read transaction open (a sqlite3 shell inside BEGIN, a long query), or readers \
                follow one another without a gap, and SQLite can neither checkpoint what was written after the oldest nor start the file \
                over; the file shrinks two batches after that reader ends or the readers leave a gap
                """)
        }
    }

    private func markDelivered(_ delivered: DeliveredAlerts) throws {
        let ids = delivered.drain()
        if !ids.isEmpty { _ = try audit.markDelivered(alertIDs: ids) }
    }

    private func publish(_ outgoing: BatchProcessor.Outgoing, pending: PendingDeliveries) {
        for alert in outgoing.alerts {
            send(topic: settings.resolvedAlertsTopic, key: alert.alertID, value: Array(alert.jsonPayload.utf8), alertID: alert.alertID, pending: pending)
        }
        for letter in outgoing.deadLetters {
            let key = "\(letter.position.topic)/\(letter.position.partition)/\(letter.position.offset)"
            do {
                let id = try producer.send(KafkaProducerMessage(topic: settings.resolvedDeadLetterTopic, key: Array(key.utf8), value: letter.value,
                                                                headers: [KafkaHeader(name: "mpe-error", value: Array(letter.reason.utf8))]))
                pending.sent(id, .deadLetter(key))
            } catch {
                logger.error("dead letter \(key) not sent to \(settings.resolvedDeadLetterTopic) (it is in the audit log): \(error)")
            }
        }
    }

    private func send(topic: String, key: String, value: [UInt8], alertID: String, pending: PendingDeliveries) {
        do {
            let id = try producer.send(KafkaProducerMessage(topic: topic, key: Array(key.utf8), value: value))
            pending.sent(id, .alert(alertID))
        } catch {
            // Refused before it left (librdkafka's queue full, say): retried like a failed
            // delivery, and logged like one (a full queue refuses every alert).
            pending.notSent(alertID, error: error)
        }
    }

    /// Alerts whose delivery failed in this run go out again (same key), those still
    /// undelivered in the outbox. Only failed ones: an alert still in flight is not sent twice.
    /// A read failure keeps them for the next attempt.
    private func resendFailed(pending: PendingDeliveries) {
        let failed = pending.takeFailedAlerts()
        guard !failed.isEmpty else { return }
        do {
            let entries = try audit.undeliveredAlerts().filter { failed.contains($0.alertID) }
            if !entries.isEmpty {
                logger.notice("re-sending \(entries.count) alert(s) whose delivery failed (undelivered in the outbox)")
            }
            for entry in entries {
                send(topic: settings.resolvedAlertsTopic, key: entry.alertID, value: Array(entry.payload.utf8), alertID: entry.alertID, pending: pending)
            }
        } catch {
            pending.keepFailed(failed)
            logger.warning("could not read the outbox to re-send \(failed.count) failed alert(s) (tried again later): \(error)")
        }
    }

    /// Alerts written before a crash but never acknowledged go out again (same key, so
    /// consumers can de-duplicate).
    private func resendUndelivered(pending: PendingDeliveries) throws {
        let undelivered = try audit.undeliveredAlerts()
        if !undelivered.isEmpty { logger.info("re-sending \(undelivered.count) undelivered alert(s) from the outbox") }
        for entry in undelivered {
            send(topic: settings.resolvedAlertsTopic, key: entry.alertID, value: Array(entry.payload.utf8), alertID: entry.alertID, pending: pending)
        }
    }
}

/// What the monitor's loop waits for: a consumer event, a periodic tick, or the end of the
/// consumer's events (the tick sequence never ends by itself).
enum LoopEvent: Sendable {
    case consumer(KafkaConsumerEvent)
    case tick
    case ended
}

/// Produced alerts and dead letters awaiting their delivery report. An acknowledged alert is
/// handed to `DeliveredAlerts` (marked in the outbox with the next batch or tick); a failure is
/// logged (throttled), and the alert stays in the outbox and is remembered, to be sent again
/// every `monitor.alert_resend_interval` (`MonitorService.resendFailed`) and at the next start.
final class PendingDeliveries: Sendable {
    /// What a produced message was.
    enum Sent: Sendable {
        case alert(String)
        /// Keyed `topic/partition/offset`; the letter itself is in the audit log either way.
        case deadLetter(String)
    }

    private let tracker = KafkaDeliveryTracker<Sent>()
    private let delivered: DeliveredAlerts
    private let logger: Logger
    private let metrics: MonitorMetrics
    /// Failed deliveries: while the broker is unreachable every alert fails, and one line
    /// each would bury the log.
    private let failures = Mutex(LogThrottle(interval: .seconds(10)))
    /// Alerts whose delivery failed since the last re-send (`MonitorService.resendFailed`).
    private let failedAlerts = Mutex(Set<String>())

    init(delivered: DeliveredAlerts, logger: Logger, metrics: MonitorMetrics) {
        self.delivered = delivered
        self.logger = logger
        self.metrics = metrics
    }

    /// Registers a message just sent (its report may already be in).
    func sent(_ messageID: UInt64, _ what: Sent) {
        if let report = tracker.sent(messageID, tag: what) { settle(report, what) }
    }

    /// Takes a delivery report (held until its message is registered, if it came first).
    func reported(_ report: KafkaDeliveryReport) {
        if let what = tracker.reported(report) { settle(report, what) }
    }

    /// Messages sent and not yet reported.
    var outstanding: Int { tracker.outstanding }

    /// Alerts whose delivery failed, not yet taken to be sent again.
    var awaitingResend: Int { failedAlerts.withLock { $0.count } }

    /// The alerts whose delivery failed since the last call, to send again.
    func takeFailedAlerts() -> Set<String> { failedAlerts.withLock { ids in defer { ids.removeAll() }; return ids } }

    /// An alert the producer refused to take: to send again, as if its delivery had failed.
    func notSent(_ alertID: String, error: any Error) {
        failedAlerts.withLock { _ = $0.insert(alertID) }
        metrics.alertDeliveriesFailed.increment()
        logFailure("alert \(alertID) not sent (it stays in the outbox and is tried again within monitor.alert_resend_interval)", reason: "\(error)")
    }

    /// Puts back alerts `takeFailedAlerts` returned that could not be sent again.
    func keepFailed(_ ids: Set<String>) { failedAlerts.withLock { $0.formUnion(ids) } }

    /// Logs the failures not yet logged (at the end of a run, so none goes unmentioned).
    func logRemainingFailures() {
        let unlogged = failures.withLock { $0.drain() }
        if unlogged > 0 { logger.warning("\(unlogged) more deliveries failed since the last such line (alerts still undelivered stay in the outbox and are re-sent at the next start)") }
    }

    private func settle(_ report: KafkaDeliveryReport, _ what: Sent) {
        if report.acknowledged {
            if case .alert(let alertID) = what { delivered.add(alertID) }
            return
        }
        let latest: String
        switch what {
        case .alert(let alertID):
            failedAlerts.withLock { _ = $0.insert(alertID) }
            metrics.alertDeliveriesFailed.increment()
            latest = "alert \(alertID) not delivered (it stays in the outbox and is sent again within monitor.alert_resend_interval, or at the next start)"
        case .deadLetter(let key):
            metrics.deadLetterDeliveriesFailed.increment()
            latest = "dead letter \(key) not delivered to the dead-letter topic (dead letters are in the audit log either way)"
        }
        logFailure(latest, reason: report.error.map { "\($0)" } ?? "")
    }

    /// The first failure, then at most one line per interval with the count since.
    private func logFailure(_ latest: String, reason: String) {
        guard let unlogged = failures.withLock({ $0.record() }) else { return }
        logger.warning("\(unlogged > 1 ? "\(unlogged) deliveries failed since the last such line; the latest: " : "")\(latest): \(reason)")
    }
}

/// Commits the latest durable offsets to Kafka, one commit in flight at a time; offsets
/// submitted meanwhile are merged and go out with the next one.
final class KafkaCommitter: Sendable {
    private let consumer: KafkaConsumer
    private let logger: Logger
    private let state = Mutex<(pending: [KafkaTopicPartition: Int64], running: Task<Void, Never>?)>(([:], nil))

    init(consumer: KafkaConsumer, logger: Logger) {
        self.consumer = consumer
        self.logger = logger
    }

    func submit(_ offsets: [KafkaTopicPartition: Int64]) {
        state.withLock { state in
            state.pending.merge(offsets) { max($0, $1) }
            if state.running == nil { state.running = makeTask() }
        }
    }

    /// Called with the lock held: commits what is pending until nothing is.
    private func makeTask() -> Task<Void, Never> {
        Task { [self] in
            while true {
                let next = state.withLock { state -> [KafkaTopicPartition: Int64]? in
                    if state.pending.isEmpty {
                        state.running = nil
                        return nil
                    }
                    defer { state.pending = [:] }
                    return state.pending
                }
                guard let next else { return }
                do {
                    try await consumer.commit(next)
                } catch {
                    logger.debug("kafka commit failed (SQLite holds the offsets): \(error)")
                }
            }
        }
    }

    /// Waits for the commit in flight and anything still pending.
    func finish() async {
        while let task = state.withLock({ $0.running }) { await task.value }
    }
}

/// The offsets partitions resume from on (re)assignment. A rebalance in the middle of a run
/// must not send a partition back to the checkpoint: its messages would be learned twice.
final class ResumeOffsets: Sendable {
    private let offsets: Mutex<[TopicPartition: Int64]>

    init(_ initial: [TopicPartition: Int64]) { offsets = Mutex(initial) }

    var current: [TopicPartition: Int64] { offsets.withLock { $0 } }

    func advance(_ next: [TopicPartition: Int64]) {
        offsets.withLock { $0.merge(next) { _, new in new } }
    }

    func offset(_ tp: TopicPartition) -> Int64? { offsets.withLock { $0[tp] } }
}

/// Alert ids acknowledged by the broker and not yet marked delivered in the outbox.
final class DeliveredAlerts: Sendable {
    private let ids = Mutex<[String]>([])

    func add(_ id: String) { ids.withLock { $0.append(id) } }
    func drain() -> [String] { ids.withLock { ids in defer { ids.removeAll() }; return ids } }
}

/// What one batch adds to the status line's and the metrics' counters, taken when the batch is
/// handed to the writer and added when its write is durable.
struct BatchCounts: Sendable {
    var messages = 0
    var learned = 0
    var deadLetters = 0
    var mislabeled = 0
    var memorized = 0
    var drift = 0

    init() {}

    init(messages: Int, learned: Int, audit: AuditBatch) {
        self.messages = messages
        self.learned = learned
        deadLetters = audit.deadLetters.count
        mislabeled = audit.alerts.count { $0.kind == .mislabeled }
        memorized = audit.alerts.count { $0.kind == .memorized }
        drift = audit.alerts.count { $0.kind == .generalizationDrift }
    }

    static func += (total: inout BatchCounts, batch: BatchCounts) {
        total.messages += batch.messages
        total.learned += batch.learned
        total.deadLetters += batch.deadLetters
        total.mislabeled += batch.mislabeled
        total.memorized += batch.memorized
        total.drift += batch.drift
    }
}

/// The totals of the batches whose writes are durable: added to by the writer task, read by
/// the status line.
final class DurableTotals: Sendable {
    private let totals = Mutex(BatchCounts())

    func add(_ counts: BatchCounts) { totals.withLock { $0 += counts } }

    var current: BatchCounts { totals.withLock { $0 } }
}

/// A status line: its text, and its figures as log metadata (`--log-format json`).
struct MonitorStatusLine {
    var text: String
    var metadata: Logger.Metadata
}

/// The periodic one-line status: rate, lag, prequential and predicted NLL, flags. Message and
/// alert counts are those already durable.
struct StatusReporter {
    let interval: Double
    let totals: DurableTotals
    private var last = ContinuousClock.now
    private var messagesAtLast = 0

    init(interval: Double, totals: DurableTotals) {
        self.interval = interval
        self.totals = totals
    }

    mutating func lineIfDue(processor: BatchProcessor, lag: @autoclosure () -> [KafkaPartitionLag]) -> MonitorStatusLine? {
        let elapsed = ContinuousClock.now - last
        guard elapsed > .seconds(interval) else { return nil }
        let seconds = elapsed.seconds
        let messages = totals.current.messages
        let rate = Double(messages - messagesAtLast) / seconds
        last = ContinuousClock.now
        messagesAtLast = messages
        let totalLag = lag().compactMap(\.lag).reduce(0, +)
        var line = figures(processor)
        line.text = "status: \(processor.examplesLearned) learned, \(Int(rate)) msg/s, lag \(totalLag), " + line.text
        line.metadata["event"] = "status"
        line.metadata["messages_per_second"] = .stringConvertible(Int(rate))
        line.metadata["lag"] = .stringConvertible(Int(totalLag))
        return line
    }

    func finalLine(processor: BatchProcessor) -> MonitorStatusLine {
        var line = figures(processor)
        line.text = "finished: \(totals.current.messages) messages this run, \(processor.examplesLearned) learned in all, " + line.text
        line.metadata["event"] = "finished"
        line.metadata["messages_this_run"] = .stringConvertible(totals.current.messages)
        return line
    }

    private func figures(_ processor: BatchProcessor) -> MonitorStatusLine {
        var text = ""
        var metadata: Logger.Metadata = ["examples_learned": .stringConvertible(processor.examplesLearned)]
        if let g = processor.learner?.latestGeneralization {
            text += "prequential NLL \(Fmt.fixed(g.prequentialNLL, 4)), LOO-predicted NLL \(Fmt.fixed(g.looNLL, 4)) / error \(Fmt.fixed(g.looError, 4)), "
            metadata["prequential_nll"] = .stringConvertible(g.prequentialNLL)
            metadata["loo_predicted_nll"] = .stringConvertible(g.looNLL)
            metadata["loo_predicted_error"] = .stringConvertible(g.looError)
        }
        let t = totals.current
        text += "alerts: \(t.mislabeled) mislabeled, \(t.memorized) memorized, \(t.drift) drift; \(t.deadLetters) dead letters"
        metadata["alerts_mislabeled"] = .stringConvertible(t.mislabeled)
        metadata["alerts_memorized"] = .stringConvertible(t.memorized)
        metadata["alerts_drift"] = .stringConvertible(t.drift)
        metadata["dead_letters"] = .stringConvertible(t.deadLetters)
        return MonitorStatusLine(text: text, metadata: metadata)
    }
}

/// Kafka messages follow the audit log's recorded processing order after a restart.
extension KafkaMessage: ReplayableMessage {
    public var replayPartition: TopicPartition { TopicPartition(topic: topic, partition: partition) }
}
