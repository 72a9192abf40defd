/// The predicted-generalization figures of spec §4 at one moment of the stream.
public struct GeneralizationSnapshot: Sendable, Equatable {
    /// Examples learned so far.
    public var step: Int
    /// Examples in memory that the LOO figures average over.
    public var memoryCount: Int
    /// Mean LOO NLL of the memory under the current posterior: the forecast of test NLL.
    public var looNLL: Double
    /// Mean LOO error of the memory: the forecast of test error.
    public var looError: Double
    /// Mean prequential NLL / error of the same memory examples, scored at arrival.
    public var memoryPrequentialNLL: Double
    public var memoryPrequentialError: Double
    /// Prequential NLL / error over the whole stream so far.
    public var prequentialNLL: Double
    public var prequentialError: Double
    /// Prequential NLL / error averaged over about the last `memory.capacity` examples.
    public var recentPrequentialNLL: Double
    public var recentPrequentialError: Double
    /// Re-scorings in which the corrected perturbation was undefined for some example and the
    /// first-order form stood in (full family only), counted since the start.
    public var correctedFallbacks: Int
    /// The factor `looNLL` and `looError` scaled each remembered example's leave-one-out shift
    /// by (`ForecastCalibration`): 1 where no calibration applies.
    public var looCalibration: Double = 1
}

/// A remembered example's scores after a re-scoring under the current posterior.
public struct RescoredExample: Sendable, Equatable {
    public var id: String
    public var arrivalStep: Int
    public var label: Double
    public var scores: Sensitivities
}

/// What one re-scoring of the memory produced.
public struct Rescoring: Sendable, Equatable {
    public var generalization: GeneralizationSnapshot
    public var examples: [RescoredExample]
}

/// Everything the learner concluded from one example.
public struct ExampleReport: Sendable, Equatable {
    /// Examples learned including this one.
    public var step: Int
    public var prequential: PrequentialScore
    public var scores: Sensitivities
    /// Flags raised during this call: for this example, for re-scored memory examples, or
    /// for the stream (drift).
    public var flags: [Flag]
    /// Drift detections during this call.
    public var drift: [DriftEvent]
    /// Present when this example completed a re-scoring interval.
    public var rescoring: Rescoring?
}
