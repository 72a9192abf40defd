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

    let settings: LearnerSettings
    private(set) var learner: OnlineLearner?
    private var decoder: ExampleDecoder
    /// Below these offsets the rows are already durable (a replay after restoring a checkpoint):
    /// such messages are learned again, to rebuild the learner exactly, but not written again.
    private var durable: [TopicPartition: Int64]
    /// Where the examples still in memory came from, for re-scoring alerts (by arrival step).
    private var positions: [Int: MessagePosition] = [:]
    private let examplesMode: AuditLog.ExampleMode
    private(set) var rejectedByReason: [String: Int] = [:]
    /// The offset each partition should deliver next: where it was asked to start, then one
    /// past the last message. A message below it means the broker's log went back (a broker
    /// that lost its data hands out offsets from 0 again); above it, messages are missing.
    private var expected: [TopicPartition: Int64]

    init(settings: LearnerSettings, restored: OnlineLearner?, positions: [Int: MessagePosition] = [:],
         durable: [TopicPartition: Int64], starts: [TopicPartition: Int64] = [:], examples: AuditLog.ExampleMode) {
        self.settings = settings
        self.expected = starts
        self.learner = restored
        self.positions = positions
        let dimension = restored?.configuration.inputDimension ?? settings.inputDimension
        self.decoder = ExampleDecoder(dimension: dimension, labels: settings.labels)
        self.durable = durable
        self.examplesMode = examples
    }

    var examplesLearned: Int { learner?.step ?? 0 }

    /// Processes one batch; the returned audit batch carries the partitions' next offsets.
    mutating func process(_ batch: KafkaMessageBatch, now: Date) throws -> (AuditBatch, Outgoing) {
        var audit = AuditBatch(time: now)
        var outgoing = Outgoing()
        for message in batch {
            let position = MessagePosition(topic: message.topic, partition: message.partition, offset: message.offset)
            let tp = TopicPartition(topic: message.topic, partition: message.partition)
            audit.nextOffsets[tp] = message.offset + 1
            if let next = expected[tp], message.offset != next {
                audit.streamEvents.append(streamEvent(tp, expected: next, found: message.offset, now: now))
                // Below: the log went back and offsets are reused. What arrives is new data and is
                // learned; rows are written again only from the stored offset on (the audit
                // log's positions are unique), which the event says.
            }
            expected[tp] = message.offset + 1
            let replay = message.offset < durable[tp, default: -1]
            let decoder = self.decoder
            let result: Result<ExampleMessage, ExampleDecodeError> = message.withValue { bytes in
                do throws(ExampleDecodeError) { return .success(try decoder.decode(bytes)) } catch { return .failure(error) }
            }
            let decoded: ExampleMessage
            switch result {
            case .success(let value):
                decoded = value
            case .failure(let error):
                rejectedByReason["\(error.reason)", default: 0] += 1
                if !replay {
                    let reason = "\(error)"
                    message.withValue { audit.deadLetters.append(DeadLetterRecord(position: position, payload: $0, reason: reason, time: now)) }
                    outgoing.deadLetters.append((position, message.value, reason))
                }
                continue
            }
            if learner == nil {
                // The first good example fixes the input dimension when nothing else did.
                let configuration = try settings.resolved(inputDimension: decoded.x.count)
                learner = try OnlineLearner(configuration: configuration)
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
                rejectedByReason["learner", default: 0] += 1
                if !replay {
                    let reason = "\(error)"
                    message.withValue { audit.deadLetters.append(DeadLetterRecord(position: position, payload: $0, reason: reason, time: now)) }
                    outgoing.deadLetters.append((position, message.value, reason))
                }
                continue
            }
            positions[report.step] = position
            if replay { continue }
            record(report, message: decoded, position: position, now: now, into: &audit, alerts: &outgoing.alerts)
        }
        prunePositions()
        audit.alerts = outgoing.alerts
        return (audit, outgoing)
    }

    private func record(_ report: ExampleReport, message: ExampleMessage, position: MessagePosition, now: Date,
                        into audit: inout AuditBatch, alerts: inout [AlertRecord]) {
        let s = report.scores
        let flaggedHere = report.flags.contains { $0.exampleID != nil && $0.arrivalStep == report.step }
        if examplesMode == .all || flaggedHere {
            audit.examples.append(ExampleRecord(
                exampleID: message.id, position: position, givenLabel: message.y, predictedLabel: s.looPredicted,
                prequentialProbability: report.prequential.labelProbability, prequentialNLL: report.prequential.nll,
                labelQuality: s.labelQuality, memorization: s.memorization, sensitivity: s.sensitivity,
                curvature: s.curvature, flagged: flaggedHere, time: now))
        }
        for flag in report.flags {
            let kind: AlertKind
            switch flag.kind {
            case .mislabeled: kind = .mislabeled
            case .memorized: kind = .memorized
            case .generalizationDrift: kind = .generalizationDrift
            }
            if let event = flag.drift {
                let alertID = AlertRecord.driftAlertID(series: event.series.rawValue, detector: event.detector.rawValue, firedAt: position)
                audit.driftEvents.append(DriftRecord(detector: event.detector.rawValue, series: event.series.rawValue,
                                                     statistic: event.statistic, threshold: event.threshold, value: event.value,
                                                     examplesSeen: event.step, time: now))
                alerts.append(AlertRecord(alertID: alertID, kind: kind, examplesSeen: report.step, reason: flag.reason, time: now))
                continue
            }
            // An example flagged on arrival sits at this message; one flagged at a re-scoring
            // arrived earlier: its position comes from the arrival step (kept across restarts in
            // the checkpoint, so the id is the same as in a run that never stopped).
            let at = flag.arrivalStep.flatMap { positions[$0] }
            let alertID = at.map { AlertRecord.exampleAlertID(kind: kind, position: $0) }
                ?? "\(kind.rawValue)/step/\(flag.arrivalStep ?? report.step)"
            alerts.append(AlertRecord(
                alertID: alertID, kind: kind, exampleID: flag.exampleID, position: at ?? position, givenLabel: flag.givenLabel,
                predictedLabel: flag.predictedLabel, labelQuality: flag.scores?.labelQuality,
                memorization: flag.scores?.memorization, sensitivity: flag.scores?.sensitivity,
                curvature: flag.scores?.curvature, examplesSeen: report.step, reason: flag.reason, time: now))
        }
        if let rescoring = report.rescoring {
            let g = rescoring.generalization
            audit.generalization.append(GeneralizationRecord(
                examplesSeen: g.step, memoryCount: g.memoryCount, prequentialNLL: g.prequentialNLL,
                prequentialError: g.prequentialError, recentPrequentialNLL: g.recentPrequentialNLL,
                recentPrequentialError: g.recentPrequentialError, looNLL: g.looNLL, looError: g.looError, time: now))
        }
    }

    private func streamEvent(_ tp: TopicPartition, expected next: Int64, found offset: Int64, now: Date) -> StreamEventRecord {
        if offset < next {
            let durableEnd = durable[tp, default: 0]
            return StreamEventRecord(
                kind: "offset-reset", topicPartition: tp, expectedOffset: next, foundOffset: offset,
                message: "\(tp.topic)[\(tp.partition)] went back from offset \(next) to \(offset): the broker's log was reset "
                    + "(e.g. a restart of a broker without persistent storage). New messages are learned; those at offsets "
                    + "below \(durableEnd) reuse positions already in the audit log and get no example rows of their own.",
                time: now)
        }
        return StreamEventRecord(
            kind: StreamEventRecord.offsetGap, topicPartition: tp, expectedOffset: next, foundOffset: offset,
            message: "\(tp.topic)[\(tp.partition)]: offsets \(next)..<\(offset) were not delivered (deleted by retention, "
                + "compacted, transaction markers, or lost by the broker)",
            time: now)
    }

    /// Keeps arrival positions for about two memory capacities: enough for every example a
    /// window memory can still re-score. (A reservoir can hold older ones; their alerts then
    /// fall back to an id by arrival step, which a replay reproduces as well.)
    private mutating func prunePositions() {
        guard let learner else { return }
        let keep = 2 * learner.configuration.memory.capacity + 1
        if positions.count > 2 * keep {
            let cutoff = learner.step - keep
            positions = positions.filter { $0.key >= cutoff }
        }
    }

    /// The learner's snapshot and the positions it may still need, for a checkpoint.
    func checkpoint() -> [UInt8]? {
        guard let learner else { return nil }
        // Exactly the steps a window memory can still re-score, so that two runs that learned
        // the same examples write the same checkpoint whatever their batch boundaries were.
        let cutoff = learner.step - (2 * learner.configuration.memory.capacity + 1)
        return MonitorCheckpoint(learner: learner.snapshot(), positions: positions.filter { $0.key >= cutoff }).encoded()
    }
}
