import Foundation

// The rows of the audit log as value types. Callers build these from learner output; the
// same types come back from the query functions, so nothing of GRDB leaks out of the module.
//
// Non-finite numbers: every Double is stored as itself when finite and as SQL NULL when NaN or
// infinite (see `AuditLog`). Non-optional score fields read NULL back as NaN; optional ones
// read it back as nil.

/// One processed message: the learner's scores of its example at arrival.
public struct ExampleRecord: Sendable, Equatable {
    /// The example's id from the message (`"id"`).
    public var exampleID: String
    /// Where the message sits in Kafka; unique in the log.
    public var position: MessagePosition
    /// The label the message carried (class index, or value for regression).
    public var givenLabel: Double
    /// The leave-one-out prediction (class index, or value).
    public var predictedLabel: Double
    /// Prequential (test-then-train) probability of the given label.
    public var prequentialProbability: Double
    /// Prequential negative log-likelihood of the given label.
    public var prequentialNLL: Double
    /// Leave-one-out probability of the given label (`p̃[y]`): low means suspicious.
    public var labelQuality: Double
    /// `p[y] − p̃[y]`.
    public var memorization: Double
    /// The paper's sensitivity score `Σ|e Λ V|`.
    public var sensitivity: Double
    /// Input-space curvature `‖H_x‖_F`.
    public var curvature: Double
    /// Whether the example raised a flag at arrival. In flagged-only mode only these rows are
    /// kept, so the column says which mode wrote a row.
    public var flagged: Bool
    /// When the message was processed.
    public var time: Date
    /// The message's Kafka timestamp (set by its producer, or by the broker where the topic
    /// says so); nil when it had none. Data time, where `time` is processing time: the two
    /// differ by however far behind the monitor was.
    public var messageTime: Date?

    /// A row for one processed message.
    public init(
        exampleID: String, position: MessagePosition, givenLabel: Double, predictedLabel: Double,
        prequentialProbability: Double, prequentialNLL: Double, labelQuality: Double, memorization: Double,
        sensitivity: Double, curvature: Double, flagged: Bool = false, time: Date = Date(), messageTime: Date? = nil
    ) {
        self.exampleID = exampleID
        self.position = position
        self.givenLabel = givenLabel
        self.predictedLabel = predictedLabel
        self.prequentialProbability = prequentialProbability
        self.prequentialNLL = prequentialNLL
        self.labelQuality = labelQuality
        self.memorization = memorization
        self.sensitivity = sensitivity
        self.curvature = curvature
        self.flagged = flagged
        self.time = time
        self.messageTime = messageTime
    }
}

/// What an alert says (the raw values are OnlineMPE's `FlagKind` raw values).
public enum AlertKind: String, Sendable, CaseIterable, Codable {
    /// The given label looks wrong.
    case mislabeled
    /// Belief in the label depends unusually much on the example itself.
    case memorized
    /// A change detector fired on the prequential loss or the LOO forecast.
    case generalizationDrift = "generalization-drift"
}

/// One alert, as recorded and as published (through the outbox) on the alerts topic.
public struct AlertRecord: Sendable, Equatable {
    /// Deterministic and unique: the key of the published message, so that consumers can
    /// de-duplicate re-sends. Build it with `exampleAlertID` or `driftAlertID`.
    public var alertID: String
    /// What the alert says.
    public var kind: AlertKind
    /// The example concerned (nil for drift alerts).
    public var exampleID: String?
    /// Where the example's message sits (nil for drift alerts, or when unknown).
    public var position: MessagePosition?
    /// The example's label.
    public var givenLabel: Double?
    /// The leave-one-out prediction.
    public var predictedLabel: Double?
    /// Leave-one-out probability of the label.
    public var labelQuality: Double?
    /// `p[y] − p̃[y]`.
    public var memorization: Double?
    /// The sensitivity score.
    public var sensitivity: Double?
    /// Input-space curvature.
    public var curvature: Double?
    /// Examples learned when the alert was raised.
    public var examplesSeen: Int
    /// A readable reason, with the numbers it rests on.
    public var reason: String
    /// When the alert was raised.
    public var time: Date
    /// The Kafka timestamp of the example's message (see `ExampleRecord.messageTime`); nil for
    /// drift alerts, a message without one, or an arrival no longer known.
    public var messageTime: Date?

    /// An alert.
    public init(
        alertID: String, kind: AlertKind, exampleID: String? = nil, position: MessagePosition? = nil,
        givenLabel: Double? = nil, predictedLabel: Double? = nil, labelQuality: Double? = nil,
        memorization: Double? = nil, sensitivity: Double? = nil, curvature: Double? = nil,
        examplesSeen: Int, reason: String, time: Date = Date(), messageTime: Date? = nil
    ) {
        self.alertID = alertID
        self.kind = kind
        self.exampleID = exampleID
        self.position = position
        self.givenLabel = givenLabel
        self.predictedLabel = predictedLabel
        self.labelQuality = labelQuality
        self.memorization = memorization
        self.sensitivity = sensitivity
        self.curvature = curvature
        self.examplesSeen = examplesSeen
        self.reason = reason
        self.time = time
        self.messageTime = messageTime
    }

    /// The id of an example alert: kind and the example's message position. Each kind is
    /// raised at most once per example, and a position is processed once, so the id is unique;
    /// a replay after a crash computes the same id.
    /// In log epochs after the first the offset carries its epoch (`…/offset@epoch`), so that
    /// an alert on a reused offset is not taken for a duplicate of the earlier one.
    public static func exampleAlertID(kind: AlertKind, position: MessagePosition) -> String {
        "\(kind.rawValue)/\(position.topic)/\(position.partition)/\(positionText(position))"
    }

    private static func positionText(_ position: MessagePosition) -> String {
        position.epoch == 0 ? "\(position.offset)" : "\(position.offset)@\(position.epoch)"
    }

    /// The id of a drift alert: series, detector, and the position of the message whose
    /// processing fired the detector (not the examples-seen count, which a learner started
    /// afresh would repeat).
    /// `firing`: which firing of this detector at this message (the LOO series is fed a whole
    /// re-scoring at one message, and a detector that fired and restarted may fire again within
    /// it); the first keeps the plain id, later ones end in `#2`, `#3`….
    public static func driftAlertID(series: String, detector: String, firedAt position: MessagePosition, firing: Int = 1) -> String {
        let id = "\(AlertKind.generalizationDrift.rawValue)/\(series)/\(detector)/\(position.topic)/\(position.partition)/\(positionText(position))"
        return firing > 1 ? "\(id)#\(firing)" : id
    }
}

/// An alert waiting in (or delivered from) the outbox.
public struct OutboxEntry: Sendable, Equatable {
    /// The alert's id: the key of the published message.
    public var alertID: String
    /// The JSON object to publish (see `AlertRecord.jsonPayload`).
    public var payload: String
    /// When the delivery report arrived; nil while undelivered.
    public var deliveredAt: Date?

    /// An outbox entry.
    public init(alertID: String, payload: String, deliveredAt: Date? = nil) {
        self.alertID = alertID
        self.payload = payload
        self.deliveredAt = deliveredAt
    }
}

/// The generalization figures at one moment of the stream.
public struct GeneralizationRecord: Sendable, Equatable {
    /// Examples learned so far.
    public var examplesSeen: Int
    /// Examples in memory that the LOO figures average over.
    public var memoryCount: Int
    /// Prequential NLL over the whole stream so far.
    public var prequentialNLL: Double
    /// Prequential error over the whole stream so far.
    public var prequentialError: Double
    /// Prequential NLL over about the last memory-capacity examples.
    public var recentPrequentialNLL: Double
    /// Prequential error over about the last memory-capacity examples.
    public var recentPrequentialError: Double
    /// LOO-predicted NLL of the memory: the forecast of test NLL.
    public var looNLL: Double
    /// LOO-predicted error of the memory: the forecast of test error.
    public var looError: Double
    /// The forecast calibration factor the LOO figures were computed with (1: none applied);
    /// nil in rows written before the log recorded it.
    public var looCalibration: Double?
    /// When the snapshot was taken.
    public var time: Date

    /// A generalization snapshot.
    public init(
        examplesSeen: Int, memoryCount: Int, prequentialNLL: Double, prequentialError: Double,
        recentPrequentialNLL: Double, recentPrequentialError: Double, looNLL: Double, looError: Double,
        looCalibration: Double? = nil, time: Date = Date()
    ) {
        self.looCalibration = looCalibration
        self.examplesSeen = examplesSeen
        self.memoryCount = memoryCount
        self.prequentialNLL = prequentialNLL
        self.prequentialError = prequentialError
        self.recentPrequentialNLL = recentPrequentialNLL
        self.recentPrequentialError = recentPrequentialError
        self.looNLL = looNLL
        self.looError = looError
        self.time = time
    }
}

/// One firing of a change detector.
public struct DriftRecord: Sendable, Equatable {
    /// Which detector (`page-hinkley`, `adwin`).
    public var detector: String
    /// Which series it watches (`prequential_nll`, `loo_nll`).
    public var series: String
    /// The statistic that crossed the threshold.
    public var statistic: Double
    /// The threshold it crossed.
    public var threshold: Double
    /// The latest value of the series.
    public var value: Double
    /// Examples learned when it fired.
    public var examplesSeen: Int
    /// When it fired.
    public var time: Date

    /// A detector firing.
    public init(detector: String, series: String, statistic: Double, threshold: Double, value: Double, examplesSeen: Int, time: Date = Date()) {
        self.detector = detector
        self.series = series
        self.statistic = statistic
        self.threshold = threshold
        self.value = value
        self.examplesSeen = examplesSeen
        self.time = time
    }
}

/// A message that could not be processed, with the start of its bytes.
public struct DeadLetterRecord: Sendable, Equatable {
    /// The most payload bytes kept: enough to see what went wrong, while a flood of huge
    /// messages (> 1 MB) cannot grow the log by their full size.
    public static let prefixCapacity = 4096

    /// Where the message sits; unique in the log.
    public var position: MessagePosition
    /// The first `prefixCapacity` bytes of the payload.
    public var payloadPrefix: [UInt8]
    /// The payload's full length in bytes.
    public var payloadLength: Int
    /// Why it was refused.
    public var reason: String
    /// When it was refused.
    public var time: Date
    /// The message's Kafka timestamp; nil when it had none (see `ExampleRecord.messageTime`).
    public var messageTime: Date?

    /// A dead letter keeping at most `prefixCapacity` bytes of `payload`.
    public init(position: MessagePosition, payload: UnsafeRawBufferPointer, reason: String, time: Date = Date(), messageTime: Date? = nil) {
        self.position = position
        payloadPrefix = Array(payload.prefix(Self.prefixCapacity))
        payloadLength = payload.count
        self.reason = reason
        self.time = time
        self.messageTime = messageTime
    }

    /// A dead letter keeping at most `prefixCapacity` bytes of `payload`.
    public init(position: MessagePosition, payload: [UInt8], reason: String, time: Date = Date(), messageTime: Date? = nil) {
        self.position = position
        payloadPrefix = Array(payload.prefix(Self.prefixCapacity))
        payloadLength = payload.count
        self.reason = reason
        self.time = time
        self.messageTime = messageTime
    }

    /// A dead letter as read back from the log.
    public init(position: MessagePosition, payloadPrefix: [UInt8], payloadLength: Int, reason: String, time: Date,
                messageTime: Date? = nil) {
        self.position = position
        self.payloadPrefix = payloadPrefix
        self.payloadLength = payloadLength
        self.reason = reason
        self.time = time
        self.messageTime = messageTime
    }
}

/// Something that happened to the stream rather than to an example, e.g. an offset gap.
public struct StreamEventRecord: Sendable, Equatable {
    /// Offsets were skipped: messages between the expected and the found offset were never
    /// delivered (retention, compaction, transaction markers).
    public static let offsetGap = "offset-gap"
    /// A message arrived below the expected offset: the partition's log started over (a broker
    /// that lost its data hands out offsets from 0 again). A new log epoch begins there.
    public static let offsetReset = "offset-reset"
    /// The partition's log ends before the offset the monitor is to read next, so nothing
    /// would ever arrive there: the monitor reads the log from its beginning instead.
    public static let logTruncated = "log-truncated"

    /// What happened (`offset-gap`, `offset-reset`, `log-truncated`).
    public var kind: String
    /// The partition concerned, if any.
    public var topicPartition: TopicPartition?
    /// The offset the monitor expected to read next.
    public var expectedOffset: Int64?
    /// The offset it found instead (for `log-truncated`: the log's end).
    public var foundOffset: Int64?
    /// The partition's log epoch after the event (nil when not about a partition).
    public var epoch: Int64?
    /// A readable account.
    public var message: String
    /// When it was seen.
    public var time: Date

    /// A stream event.
    public init(kind: String, topicPartition: TopicPartition? = nil, expectedOffset: Int64? = nil, foundOffset: Int64? = nil,
                epoch: Int64? = nil, message: String, time: Date = Date()) {
        self.kind = kind
        self.topicPartition = topicPartition
        self.expectedOffset = expectedOffset
        self.foundOffset = foundOffset
        self.epoch = epoch
        self.message = message
        self.time = time
    }
}

/// A learner checkpoint to store with a batch.
public struct NewCheckpoint: Sendable, Equatable {
    /// The learner snapshot (OnlineMPE's `snapshot()` bytes).
    public var snapshot: [UInt8]
    /// Examples learned at the snapshot.
    public var examplesSeen: Int

    /// A checkpoint of `snapshot`, taken after `examplesSeen` examples.
    public init(snapshot: [UInt8], examplesSeen: Int) {
        self.snapshot = snapshot
        self.examplesSeen = examplesSeen
    }
}

/// A stored learner checkpoint with the next offsets it corresponds to: restoring the
/// snapshot and seeking every partition to its offset continues the stream exactly.
public struct Checkpoint: Sendable, Equatable {
    /// Increasing with creation.
    public var id: Int64
    /// When it was written.
    public var created: Date
    /// Examples learned at the snapshot.
    public var examplesSeen: Int
    /// The next offset of every partition the log knew when the checkpoint was written.
    public var offsets: [TopicPartition: Int64]
    /// The log epoch those offsets belong to, per partition (see `MessagePosition.epoch`).
    public var epochs: [TopicPartition: Int64]
    /// The learner snapshot.
    public var snapshot: [UInt8]

    /// A checkpoint as read back from the log.
    public init(id: Int64, created: Date, examplesSeen: Int, offsets: [TopicPartition: Int64],
                epochs: [TopicPartition: Int64] = [:], snapshot: [UInt8]) {
        self.id = id
        self.created = created
        self.examplesSeen = examplesSeen
        self.offsets = offsets
        self.epochs = epochs
        self.snapshot = snapshot
    }
}

/// One run of the monitor.
public struct RunRecord: Sendable, Equatable {
    /// Increasing with start.
    public var id: Int64
    /// The resolved configuration, as a JSON text.
    public var configuration: String
    /// The monitor's version.
    public var version: String
    /// When it started.
    public var started: Date
    /// When it stopped cleanly; nil while running or after a crash.
    public var stopped: Date?

    /// A run as read back from the log.
    public init(id: Int64, configuration: String, version: String, started: Date, stopped: Date?) {
        self.id = id
        self.configuration = configuration
        self.version = version
        self.started = started
        self.stopped = stopped
    }
}

/// Alerts raised in one hour (the `alerts_per_hour` view).
public struct AlertHour: Sendable, Equatable {
    /// The hour, UTC, as `YYYY-MM-DD HH:00`.
    public var hour: String
    /// The kind of alert.
    public var kind: AlertKind
    /// How many.
    public var count: Int

    /// A count of alerts.
    public init(hour: String, kind: AlertKind, count: Int) {
        self.hour = hour
        self.kind = kind
        self.count = count
    }
}
