/// What a flag says about an example or about the stream.
public enum FlagKind: String, Sendable, CaseIterable, Codable {
    /// The given label looks wrong: low leave-one-out probability, another class confident.
    case mislabeled
    /// The model's belief in the label depends unusually much on this very example.
    case memorized
    /// A change detector fired on the prequential loss or on the LOO forecast.
    case generalizationDrift = "generalization-drift"

    var bit: Int {
        switch self {
        case .mislabeled: return 1
        case .memorized: return 2
        case .generalizationDrift: return 4
        }
    }
}

/// Which series a change detector watches.
public enum DriftSeries: String, Sendable, Codable {
    /// Per-example prequential NLL (test-then-train loss).
    case prequentialNLL = "prequential_nll"
    /// Per-example LOO-predicted NLL, taken at the first scheduled re-scoring after the
    /// example's arrival (so detections come at re-scorings).
    case looNLL = "loo_nll"
}

/// Which change detector fired.
public enum DetectorKind: String, Sendable, Codable {
    case pageHinkley = "page-hinkley"
    case adwin
}

/// One detection by a change detector, with the statistic that crossed its threshold.
public struct DriftEvent: Sendable, Equatable {
    public var series: DriftSeries
    public var detector: DetectorKind
    /// Examples learned when it fired.
    public var step: Int
    /// Page–Hinkley: cumulative − minimum; ADWIN: rise of the newer sub-window's mean.
    public var statistic: Double
    /// Page–Hinkley: λ; ADWIN: the confidence δ of the cut.
    public var threshold: Double
    /// The latest value of the series.
    public var value: Double
}

/// A flag raised by the learner, with the scores it rests on and a readable reason.
public struct Flag: Sendable, Equatable {
    public var kind: FlagKind
    /// Examples learned when the flag was raised.
    public var step: Int
    /// The example concerned (nil for stream-level drift flags).
    public var exampleID: String?
    /// When the example arrived (its step), for example flags.
    public var arrivalStep: Int?
    public var givenLabel: Double?
    /// The leave-one-out prediction.
    public var predictedLabel: Double?
    public var scores: Sensitivities?
    public var drift: DriftEvent?
    public var reason: String
}

/// Per-class thresholds in the spirit of confident learning: the threshold of class j is the
/// average leave-one-out probability of class j over examples labeled j (a running mean that
/// turns into an exponential average once a class has `horizon` examples, so that the
/// thresholds follow the model as it improves).
struct ClassThresholds: Sendable, Equatable {
    let horizon: Double
    var means: [Double]
    var counts: [Int]

    init(classes: Int, horizon: Double = 500) {
        self.horizon = horizon
        means = .init(repeating: 0, count: classes)
        counts = .init(repeating: 0, count: classes)
    }

    mutating func add(selfConfidence q: Double, label: Int) {
        counts[label] += 1
        let rate = max(1 / Double(counts[label]), 1 / horizon)
        means[label] += rate * (q - means[label])
    }
}

/// The flag rules of the learner: thresholds and streaming quantiles learned from arrivals,
/// applied to arrivals and to re-scored memory examples alike.
struct FlagRules: Sendable, Equatable {
    /// Replaced by `OnlineLearner.adoptAlertSettings`, with the estimators when a quantile
    /// level changes.
    var settings: FlagSettings
    let model: ModelKind
    var thresholds: ClassThresholds
    var memorization: StreamingQuantile
    var curvature: StreamingQuantile

    /// Regression has no classes: a label is suspicious when its leave-one-out residual lies
    /// beyond three noise standard deviations, i.e. label quality below exp(−4.5).
    static let regressionQualityFloor = 0.011108996538242306

    init(settings: FlagSettings, model: ModelKind, classes: Int) {
        self.settings = settings
        self.model = model
        thresholds = ClassThresholds(classes: model == .regression ? 1 : classes)
        memorization = StreamingQuantile(quantile: settings.memorizationQuantile)
        curvature = StreamingQuantile(quantile: settings.curvatureQuantile)
    }

    mutating func observe(label: Double, scores: Sensitivities) {
        if model != .regression { thresholds.add(selfConfidence: scores.labelQuality, label: Int(label)) }
        memorization.add(scores.memorization)
        curvature.add(scores.curvature)
    }

    /// The flags an example earns, skipping kinds in `already` (a bit set).
    /// `pTilde`: the workspace's LOO probabilities (`outputs` values), passed as its pointer, not
    /// from a closure: a closure over the learner's `rules` would copy them, quantile buffers and
    /// all, per example.
    /// `mutating` although it changes nothing: called on the learner's stored `rules` from a
    /// mutating method, a non-mutating call copies the whole value (632 bytes) first, once per
    /// example and once per re-scored one; a mutating call passes its address (and the helper
    /// below is static for the same reason).
    mutating func evaluate(label y: Double, pTilde: UnsafePointer<Double>, outputs: Int, scores s: Sensitivities, already: Int, learned: Int) -> [(FlagKind, String)] {
        guard learned >= settings.warmup else { return [] }
        var out: [(FlagKind, String)] = []
        if already & FlagKind.mislabeled.bit == 0, let reason = FlagRules.mislabeledReason(model, settings.mislabeledMargin, thresholds, y, pTilde, outputs, s) {
            out.append((.mislabeled, reason))
        }
        if already & FlagKind.memorized.bit == 0 {
            var reasons: [String] = []
            if memorization.count >= 100, let q = memorization.value, s.memorization > 0, s.memorization > q {
                reasons.append("memorization \(short(s.memorization)) above the \(short(settings.memorizationQuantile)) quantile \(short(q))")
            }
            if curvature.count >= 100, let q = curvature.value, s.curvature > q {
                reasons.append("input curvature \(short(s.curvature)) above the \(short(settings.curvatureQuantile)) quantile \(short(q))")
            }
            if !reasons.isEmpty { out.append((.memorized, reasons.joined(separator: "; "))) }
        }
        return out
    }

    /// Static, and given only what it reads: as a method it received the whole value (both
    /// quantile estimators), and Swift copied those 632 bytes for the call (gdb: a `memmove` of
    /// 632 bytes from `evaluate` per arrival and per re-scored example) even though `evaluate`
    /// is `mutating`.
    private static func mislabeledReason(
        _ model: ModelKind, _ margin: Double, _ thresholds: ClassThresholds,
        _ y: Double, _ p: UnsafePointer<Double>, _ k: Int, _ s: Sensitivities
    ) -> String? {
        switch model {
        case .regression:
            guard s.labelQuality < FlagRules.regressionQualityFloor else { return nil }
            return "leave-one-out residual of label \(short(y)) exceeds 3 noise standard deviations (prediction \(short(s.looPredicted)))"
        case .logistic, .softmax:
            let label = Int(y)
            let classes = model == .logistic ? 2 : k
            func prob(_ c: Int) -> Double { model == .logistic ? (c == 1 ? p[0] : 1 - p[0]) : p[c] }
            let own = thresholds.means[label] - margin
            guard thresholds.counts[label] > 0, s.labelQuality < own else { return nil }
            var best = -1
            for c in 0..<classes where c != label && thresholds.counts[c] > 0 && prob(c) >= thresholds.means[c] {
                if best < 0 || prob(c) > prob(best) { best = c }
            }
            guard best >= 0 else { return nil }
            return "leave-one-out probability of label \(label) is \(short(s.labelQuality)), below its class threshold \(short(thresholds.means[label])); class \(best) has \(short(prob(best))) >= its threshold \(short(thresholds.means[best]))"
        }
    }

    func write(to w: inout SnapshotWriter) {
        w.write(thresholds.means)
        w.write(thresholds.counts)
        memorization.write(to: &w)
        curvature.write(to: &w)
    }

    mutating func read(from r: inout SnapshotReader) throws(SnapshotError) {
        thresholds.means = try r.readDoubles(count: thresholds.means.count, what: "class thresholds")
        thresholds.counts = try r.readInts(count: thresholds.counts.count, what: "class counts")
        try memorization.read(from: &r)
        try curvature.read(from: &r)
    }
}

/// Three significant digits, for reasons and log lines (no Foundation formatting here).
func short(_ x: Double) -> String {
    guard x.isFinite, x != 0 else { return "\(x)" }
    var scale = 1.0
    let magnitude = abs(x)
    var digits = 2
    var m = magnitude
    while m >= 10 { m /= 10; digits -= 1 }
    while m < 1 { m *= 10; digits += 1 }
    if digits > 0 { for _ in 0..<digits { scale *= 10 } }
    let rounded = digits > 0 ? (x * scale).rounded() / scale : x.rounded()
    if digits > 12 { return "\(x)" }
    return "\(rounded)"
}
