import AuditLog
import Foundation
import OnlineMPE
import Stream

/// Turns consumed messages into what they produce: decoded and learned (test-then-train),
/// scored, flagged, and written up as one `AuditBatch`, plus the messages to publish (alerts,
/// dead letters). It holds the learner; it does no I/O, so the service decides when things
/// become durable.
struct BatchProcessor {
    /// Where a message goes once its batch is durable.
    struct Outgoing {
        var alerts: [AlertRecord] = []
        var deadLetters: [(position: MessagePosition, value: [UInt8], reason: String)] = []
    }

    /// What one call of `process` produced.
    struct Processed {
        /// To write in one transaction.
        var audit: AuditBatch
        /// To publish once `audit` is durable.
        var outgoing: Outgoing
        /// Messages of the batch this call consumed.
        var messages: Int
        /// Where processing stopped early: the index of a message at which its partition's
        /// log started over. `audit` then ends with the new epoch's start and a checkpoint
        /// taken just before it; once it is durable, call again from this index.
        var resumeAt: Int?
        /// The example that fixed the input dimension, when this call built the learner and
        /// nothing configured the dimension (to be said in the log: every message of another
        /// dimension is refused from then on).
        var dimensionFixedBy: (dimension: Int, exampleID: String, position: MessagePosition)?
        /// The latest Kafka timestamp among the messages that produced rows (not those learned
        /// again after a restart): how far behind the data the audit log is, once durable.
        var newestMessageTime: Date?
    }

    let settings: LearnerSettings
    private(set) var learner: OnlineLearner?
    /// `learner != nil`, kept beside it (set wherever `learner` is): testing the optional
    /// itself copied the whole learner, every array retained and released, once per message.
    /// (Not a `didSet`: an observer turns the in-place `learner?.learn` into copy, mutate, store.)
    private var hasLearner: Bool
    private var decoder: ExampleDecoder
    /// Below these positions (log epoch, offset) the rows are already durable (a replay after
    /// restoring a checkpoint): such messages are learned again, to rebuild the learner
    /// exactly, but not written again.
    private var durable: [TopicPartition: Int64]
    private var durableEpochs: [TopicPartition: Int64]
    /// The log epoch each partition is read in (see `MessagePosition.epoch`).
    private var epochs: [TopicPartition: Int64]
    /// Whether a checkpoint exists (restored, or produced here).
    private var checkpointed: Bool
    /// Where the examples still in memory came from, for re-scoring alerts (by arrival step).
    private var arrivals: [Int: Arrival] = [:]
    private let examplesMode: AuditLog.ExampleMode
    /// The offset each partition should deliver next: where it was asked to start, then one
    /// past the last message. A message below it means the broker's log went back (a broker
    /// that lost its data hands out offsets from 0 again); above it, messages are missing.
    private var expected: [TopicPartition: Int64]

    /// `starts` and `epochs`: where (offset and log epoch) each partition begins in this run;
    /// `durable` and `durableEpochs`: the stored next positions. `fromCheckpoint`: a checkpoint
    /// was restored (`restored` is nil when it was taken before the first example was learned).
    init(settings: LearnerSettings, restored: OnlineLearner?, fromCheckpoint: Bool = false, arrivals: [Int: Arrival] = [:],
         durable: [TopicPartition: Int64], durableEpochs: [TopicPartition: Int64] = [:],
         starts: [TopicPartition: Int64] = [:], epochs: [TopicPartition: Int64] = [:], examples: AuditLog.ExampleMode) {
        self.settings = settings
        self.expected = starts
        self.epochs = epochs
        self.durableEpochs = durableEpochs
        self.checkpointed = fromCheckpoint || restored != nil
        self.learner = restored
        self.hasLearner = restored != nil
        self.arrivals = arrivals
        let dimension = restored?.configuration.inputDimension ?? settings.inputDimension
        self.decoder = ExampleDecoder(dimension: dimension, labels: settings.labels)
        self.durable = durable
        self.examplesMode = examples
    }

    var examplesLearned: Int { learner?.step ?? 0 }
    /// The learner's forgetting factor, once there is a learner.
    var forgetting: Double? { learner?.configuration.forgetting }

    /// Processes the batch from message `start` on; the returned audit batch carries the
    /// partitions' next offsets and epochs. It stops early where a partition's log started
    /// over (see `Processed.resumeAt`).
    ///
    /// `logEnds`: the partitions' log ends as the fetches that brought the batch reported them,
    /// needed while `replaying`: a log that ends before the stored next offset cannot hold the
    /// messages a replay expects, so what arrives there is new data (see `resetEvent`).
    ///
    /// `batch`: a consumed batch, or the messages a `ReplayOrder` released (held across batches).
    mutating func process<Messages: RandomAccessCollection<KafkaMessage>>(
        _ batch: Messages, from start: Int = 0, logEnds: [TopicPartition: Int64] = [:], now: Date
    ) throws -> Processed where Messages.Index == Int {
        var audit = AuditBatch(time: now)
        var outgoing = Outgoing()
        var index = start
        var resumeAt: Int?
        var dimensionFixedBy: (dimension: Int, exampleID: String, position: MessagePosition)?
        var newestMessageTime: Date?
        while index < batch.endIndex {
            let message = batch[index]
            index += 1
            let tp = TopicPartition(topic: message.topic, partition: message.partition)
            if expected[tp] == nil, durable[tp] == nil {
                // A partition's first message ever: its start goes into a checkpoint before its
                // first rows, so that every partition with rows is named by a checkpoint and a
                // restart reads it from a known offset and epoch (a log that started over while
                // the monitor was down is then noticed, not taken for a replay).
                startWithCheckpoint(tp, at: message.offset, audit: &audit)
                resumeAt = index - 1
                break
            }
            let logEnd = logEnds[tp]
            let lostLog = logEnd.map { end in
                guard let stored = durable[tp], epochs[tp, default: 0] == durableEpochs[tp, default: 0] else { return false }
                return message.offset < stored && end < stored
            } ?? false
            if lostLog || expected[tp].map({ message.offset != $0 }) ?? false {
                let next = expected[tp] ?? durable[tp] ?? 0
                if lostLog || message.offset < next {
                    // The log went back: offsets are reused for new data. A new epoch begins
                    // here, in a transaction of its own whose checkpoint holds the learner as it
                    // stands before the new epoch's first message, with that position: a restart
                    // must never be sent back into the old epoch, whose messages are gone.
                    let epoch = epochs[tp, default: 0] + 1
                    audit.streamEvents.append(resetEvent(tp, expected: lostLog ? durable[tp] ?? next : next, found: message.offset,
                                                         logEnd: lostLog ? logEnd : nil, epoch: epoch, now: now))
                    epochs[tp] = epoch
                    durable[tp] = message.offset
                    durableEpochs[tp] = epoch
                    startWithCheckpoint(tp, at: message.offset, audit: &audit)
                    resumeAt = index - 1
                    break
                }
                audit.streamEvents.append(gapEvent(tp, expected: next, found: message.offset, epoch: epochs[tp, default: 0], now: now))
            }
            let epoch = epochs[tp, default: 0]
            let position = MessagePosition(topic: message.topic, partition: message.partition, offset: message.offset, epoch: epoch)
            audit.nextOffsets[tp] = message.offset + 1
            audit.epochs[tp] = epoch
            expected[tp] = message.offset + 1
            let durableEpoch = durableEpochs[tp, default: 0]
            let replay = epoch < durableEpoch || (epoch == durableEpoch && message.offset < durable[tp, default: -1])
            // Re-learned messages too: a re-scoring's alert on one of them carries its time.
            let arrival = Arrival(position: position, timestampMilliseconds: message.timestampMilliseconds)
            let messageTime = arrival.messageTime
            if !replay {
                // Re-learned messages are already in the recorded order.
                audit.order.append(tp, epoch: epoch, offset: message.offset)
                if let messageTime { newestMessageTime = max(newestMessageTime ?? messageTime, messageTime) }
            }
            let decoder = self.decoder
            let result: Result<ExampleMessage, ExampleDecodeError> = message.withValue { bytes in
                do throws(ExampleDecodeError) { return .success(try decoder.decode(bytes)) } catch { return .failure(error) }
            }
            let decoded: ExampleMessage
            switch result {
            case .success(let value):
                decoded = value
            case .failure(let error):
                // `description`, not "\(error)": interpolation looks the conformance up at run
                // time, which (with a per-reason count, by reflection, that nothing read) was a
                // fifth of the CPU under a flood of refused messages.
                if !replay {
                    Self.deadLetter(message, at: position, messageTime: messageTime, reason: error.description, now: now, audit: &audit,
                                    outgoing: &outgoing)
                }
                continue
            }
            if !hasLearner {
                // The first good example fixes the input dimension when nothing else did.
                let configuration: LearnerConfiguration
                do {
                    configuration = try settings.resolved(inputDimension: decoded.x.count)
                } catch let problem as ConfigurationProblem {
                    // Only what the input dimension decides is left to fail here (the rest was
                    // refused at start): say which example decided it.
                    throw ConfigurationProblem(message: "\(problem.message) (for the input dimension \(decoded.x.count) of the first good example, id \(decoded.id) at \(position.topic)/\(position.partition)/\(position.offset))")
                }
                learner = try OnlineLearner(configuration: configuration)
                hasLearner = true
                if settings.inputDimension == nil { dimensionFixedBy = (decoded.x.count, decoded.id, position) }
                self.decoder = ExampleDecoder(dimension: decoded.x.count, labels: settings.labels)
            }
            // Mutated in place through the optional: a `var model = learner` copy would make
            // every update copy the learner's arrays (copy-on-write with two owners).
            let report: ExampleReport
            do {
                guard let r = try learner?.learn(LabeledExample(id: decoded.id, x: decoded.x, y: decoded.y, weight: decoded.weight)) else { continue }
                report = r
            } catch {
                // The learner refuses (e.g. a label outside the classes): a dead letter, not a crash.
                if !replay {
                    Self.deadLetter(message, at: position, messageTime: messageTime, reason: "\(error)", now: now, audit: &audit,
                                    outgoing: &outgoing)
                }
                continue
            }
            arrivals[report.step] = arrival
            if replay { continue }
            Self.record(report, message: decoded, position: position, messageTime: messageTime, arrivals: arrivals,
                        examplesMode: examplesMode, now: now, into: &audit, alerts: &outgoing.alerts)
        }
        pruneArrivals()
        if !checkpointed, audit.checkpoint == nil {
            // The first checkpoint with the first batch, learner or not: before it, a restart
            // could only read every partition from its beginning.
            audit.checkpoint = newCheckpoint()
        }
        if audit.checkpoint != nil { checkpointed = true }
        audit.alerts = outgoing.alerts
        return Processed(audit: audit, outgoing: outgoing, messages: (resumeAt ?? index) - start, resumeAt: resumeAt,
                         dimensionFixedBy: dimensionFixedBy, newestMessageTime: newestMessageTime)
    }

    /// Partition `tp` (re)starts at `offset` in its current epoch: the position goes into the
    /// batch with a checkpoint of the learner as it stands, so that a restart resumes there.
    private mutating func startWithCheckpoint(_ tp: TopicPartition, at offset: Int64, audit: inout AuditBatch) {
        expected[tp] = offset
        audit.nextOffsets[tp] = offset
        audit.epochs[tp] = epochs[tp, default: 0]
        audit.checkpoint = newCheckpoint()
    }

    /// The learner's checkpoint, for a batch to store.
    func newCheckpoint() -> NewCheckpoint {
        NewCheckpoint(snapshot: checkpoint(), examplesSeen: examplesLearned)
    }

    /// A refused message: a row in the audit log and a copy for the dead-letter topic.
    /// (This and `record` are static: called as methods from the mutating `process`, each call
    /// copied the whole processor, learner included.)
    private static func deadLetter(_ message: KafkaMessage, at position: MessagePosition, messageTime: Date?, reason: String, now: Date,
                                   audit: inout AuditBatch, outgoing: inout Outgoing) {
        message.withValue {
            audit.deadLetters.append(DeadLetterRecord(position: position, payload: $0, reason: reason, time: now, messageTime: messageTime))
        }
        outgoing.deadLetters.append((position, message.value, reason))
    }

    private static func record(_ report: ExampleReport, message: ExampleMessage, position: MessagePosition, messageTime: Date?,
                               arrivals: [Int: Arrival], examplesMode: AuditLog.ExampleMode, now: Date,
                               into audit: inout AuditBatch, alerts: inout [AlertRecord]) {
        let s = report.scores
        let flaggedHere = report.flags.contains { $0.exampleID != nil && $0.arrivalStep == report.step }
        if examplesMode == .all || flaggedHere {
            audit.examples.append(ExampleRecord(
                exampleID: message.id, position: position, givenLabel: message.y, predictedLabel: s.looPredicted,
                prequentialProbability: report.prequential.labelProbability, prequentialNLL: report.prequential.nll,
                labelQuality: s.labelQuality, memorization: s.memorization, sensitivity: s.sensitivity,
                curvature: s.curvature, flagged: flaggedHere, time: now, messageTime: messageTime))
        }
        // Firings of one detector on one series at this message: the LOO series is fed a whole
        // re-scoring at once, and a detector that fired and restarted can fire again within it.
        var firings: [String: Int] = [:]
        for flag in report.flags {
            let kind: AlertKind
            switch flag.kind {
            case .mislabeled: kind = .mislabeled
            case .memorized: kind = .memorized
            case .generalizationDrift: kind = .generalizationDrift
            }
            if let event = flag.drift {
                // Numbered in the learner's deterministic order, so that a later firing is an
                // alert of its own rather than a repeat of the first to drop, and a restart
                // re-raises each under its id.
                let key = "\(event.series.rawValue)/\(event.detector.rawValue)"
                let firing = firings[key, default: 0] + 1
                firings[key] = firing
                let alertID = AlertRecord.driftAlertID(series: event.series.rawValue, detector: event.detector.rawValue,
                                                       firedAt: position, firing: firing)
                audit.driftEvents.append(DriftRecord(detector: event.detector.rawValue, series: event.series.rawValue,
                                                     statistic: event.statistic, threshold: event.threshold, value: event.value,
                                                     examplesSeen: event.step, time: now))
                alerts.append(AlertRecord(alertID: alertID, kind: kind, examplesSeen: report.step, reason: flag.reason, time: now))
                continue
            }
            // An example flagged on arrival sits at this message; one flagged at a re-scoring
            // arrived earlier: its position comes from the arrival step (kept across restarts in
            // the checkpoint, so the id is the same as in a run that never stopped). Only a
            // checkpoint written before every held example's arrival was kept can leave one
            // unknown: that alert then has an id by arrival step and no position, rather than
            // the position of the message that happened to trigger the re-scoring.
            let at = flag.arrivalStep.flatMap { arrivals[$0] }
            let alertID = at.map { AlertRecord.exampleAlertID(kind: kind, position: $0.position) }
                ?? "\(kind.rawValue)/step/\(flag.arrivalStep ?? report.step)"
            alerts.append(AlertRecord(
                alertID: alertID, kind: kind, exampleID: flag.exampleID, position: at?.position, givenLabel: flag.givenLabel,
                predictedLabel: flag.predictedLabel, labelQuality: flag.scores?.labelQuality,
                memorization: flag.scores?.memorization, sensitivity: flag.scores?.sensitivity,
                curvature: flag.scores?.curvature, examplesSeen: report.step, reason: flag.reason, time: now, messageTime: at?.messageTime))
        }
        if let rescoring = report.rescoring {
            let g = rescoring.generalization
            audit.generalization.append(GeneralizationRecord(
                examplesSeen: g.step, memoryCount: g.memoryCount, prequentialNLL: g.prequentialNLL,
                prequentialError: g.prequentialError, recentPrequentialNLL: g.recentPrequentialNLL,
                recentPrequentialError: g.recentPrequentialError, looNLL: g.looNLL, looError: g.looError,
                looCalibration: g.looCalibration, time: now))
        }
    }

    /// A partition's log started over. Seen either as a message below the expected offset, or,
    /// while replaying up to the stored offset after a restart, as a log that ends before that
    /// offset (`logEnd`): the messages the replay expects are gone and what arrives is new.
    private func resetEvent(_ tp: TopicPartition, expected next: Int64, found offset: Int64, logEnd: Int64?, epoch: Int64,
                            now: Date) -> StreamEventRecord {
        let seen = logEnd.map { "the log now ends at offset \($0), before the stored next offset \(next)" }
            ?? "it went back from offset \(next) to \(offset)"
        return StreamEventRecord(
            kind: StreamEventRecord.offsetReset, topicPartition: tp, expectedOffset: next, foundOffset: offset, epoch: epoch,
            message: "\(tp): the partition's log started over (e.g. a restart of a broker without persistent storage): "
                + "\(seen). What arrives is new data and is learned, from offset \(offset) on, as log epoch \(epoch) (the "
                + "audit log's positions and alert ids carry the epoch).",
            time: now)
    }

    /// Whether some partition is still below its stored next offset in the stored epoch (a
    /// replay after a restart), when `process` needs the log ends.
    var replaying: Bool {
        durable.contains { tp, stored in
            epochs[tp, default: 0] == durableEpochs[tp, default: 0] && expected[tp] ?? 0 < stored
        }
    }

    private func gapEvent(_ tp: TopicPartition, expected next: Int64, found offset: Int64, epoch: Int64, now: Date) -> StreamEventRecord {
        StreamEventRecord(
            kind: StreamEventRecord.offsetGap, topicPartition: tp, expectedOffset: next, foundOffset: offset, epoch: epoch,
            message: "\(tp): offsets \(next)..<\(offset) were not delivered (deleted by retention, compacted, transaction "
                + "markers, or lost by the broker)",
            time: now)
    }

    /// Drops the arrivals of examples the memory no longer holds, once there are twice as many
    /// as it can hold (so a batch prunes at most once per `capacity` messages, not per message).
    /// Only examples in memory can be flagged at a re-scoring. A cutoff by age would not do: a
    /// reservoir holds some examples for as long as the stream runs, and their alerts then
    /// named the message being learned when the re-scoring ran, and differed between a run
    /// that was restarted and one that was not (e2e `reservoir`).
    private mutating func pruneArrivals() {
        guard let capacity = learner?.configuration.memory.capacity, arrivals.count > 2 * capacity, let learner else { return }
        arrivals = Self.held(arrivals, by: learner)
    }

    /// The arrivals of the examples `learner`'s memory holds.
    private static func held(_ arrivals: [Int: Arrival], by learner: OnlineLearner) -> [Int: Arrival] {
        var held: [Int: Arrival] = [:]
        held.reserveCapacity(learner.rememberedArrivalSteps.count)
        for step in learner.rememberedArrivalSteps {
            if let arrival = arrivals[step] { held[step] = arrival }
        }
        return held
    }

    /// The learner's snapshot and the arrivals it may still need, for a checkpoint. Before the
    /// first example is learned there is no learner (the first good example may fix the input
    /// dimension), and the checkpoint holds offsets only: a stream that opens with a flood of
    /// refused messages must still checkpoint, or a restart replays the whole flood and
    /// retention, never past the newest checkpoint, prunes none of its dead letters.
    private func checkpoint() -> [UInt8] {
        guard let learner else { return MonitorCheckpoint(learner: [], arrivals: [:]).encoded() }
        // Exactly the examples the memory holds, so that two runs that learned the same
        // examples write the same checkpoint whatever their batch boundaries were.
        return MonitorCheckpoint(learner: learner.snapshot(), arrivals: Self.held(arrivals, by: learner)).encoded()
    }
}
