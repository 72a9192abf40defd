/// The memory-perturbation quantities of one example under one posterior (spec §3, §5).
public struct Sensitivities: Sendable, Equatable {
    /// `p̃[y]`: leave-one-out probability of the given label (regression: likelihood ratio).
    public var labelQuality: Double
    /// `p[y] − p̃[y]`: how much belief in the label depends on having seen this example.
    public var memorization: Double
    /// `Σ_k |e_k Λ_kk V_kk|`, the paper's ranking score.
    public var sensitivity: Double
    /// `‖p̃ − p‖₁`, the exact-deviation variant of the sensitivity.
    public var deviation: Double
    /// Input-space loss curvature `‖H_x‖_F` (averaged over re-scorings for remembered examples).
    public var curvature: Double
    /// `−log p̃[y]` (regression: plug-in Gaussian NLL at f̃).
    public var looNLL: Double
    /// Leave-one-out 0/1 error (regression: squared error at f̃).
    public var looError: Double
    /// The leave-one-out prediction: class index, or value for regression.
    public var looPredicted: Double
    /// In-sample prediction under the posterior that contains the example.
    public var predicted: Double
    /// Trace of the prediction variance `V`.
    public var predictionVariance: Double

    public init(
        labelQuality: Double = 0, memorization: Double = 0, sensitivity: Double = 0, deviation: Double = 0,
        curvature: Double = 0, looNLL: Double = 0, looError: Double = 0, looPredicted: Double = 0,
        predicted: Double = 0, predictionVariance: Double = 0
    ) {
        self.labelQuality = labelQuality
        self.memorization = memorization
        self.sensitivity = sensitivity
        self.deviation = deviation
        self.curvature = curvature
        self.looNLL = looNLL
        self.looError = looError
        self.looPredicted = looPredicted
        self.predicted = predicted
        self.predictionVariance = predictionVariance
    }

    func write(to w: inout SnapshotWriter) {
        for v in [labelQuality, memorization, sensitivity, deviation, curvature, looNLL, looError, looPredicted, predicted, predictionVariance] {
            w.write(v)
        }
    }

    init(from r: inout SnapshotReader) throws(SnapshotError) {
        self.init(
            labelQuality: try r.readDouble(what: "scores"), memorization: try r.readDouble(what: "scores"),
            sensitivity: try r.readDouble(what: "scores"), deviation: try r.readDouble(what: "scores"),
            curvature: try r.readDouble(what: "scores"), looNLL: try r.readDouble(what: "scores"),
            looError: try r.readDouble(what: "scores"), looPredicted: try r.readDouble(what: "scores"),
            predicted: try r.readDouble(what: "scores"), predictionVariance: try r.readDouble(what: "scores"))
    }
}

/// The test-then-train score of an example under the posterior before it was learned.
public struct PrequentialScore: Sendable, Equatable {
    /// Probability of the given label before learning it (regression: likelihood ratio).
    public var labelProbability: Double
    public var nll: Double
    /// 0/1 error (regression: squared error).
    public var error: Double
    public var predicted: Double
}

/// A labeled example as the learner sees it: features without the bias, and a label that is a
/// class index (softmax), 0/1 (logistic) or a real number (regression).
public struct LabeledExample: Sendable, Equatable {
    public var id: String
    public var x: [Double]
    public var y: Double
    public var weight: Double

    public init(id: String, x: [Double], y: Double, weight: Double = 1) {
        self.id = id
        self.x = x
        self.y = y
        self.weight = weight
    }
}

/// Why an example was refused by the learner. A refused example changes nothing.
public enum ExampleError: Error, Sendable, Equatable, CustomStringConvertible {
    case wrongDimension(expected: Int, got: Int)
    case nonFiniteFeature(index: Int)
    /// `‖x‖²` above `OnlineLearner.maximumSquaredNorm`: finite, but products of such inputs with
    /// the model's precisions overflow (an input of 1e300 turned every LOO figure into NaN).
    case featuresTooLarge(index: Int, value: Double)
    case invalidLabel(String)
    case invalidWeight(Double)

    public var description: String {
        switch self {
        case let .wrongDimension(expected, got): return "wrong dimension: x has \(got) values, expected \(expected)"
        case let .nonFiniteFeature(index): return "non-finite value: x[\(index)] is NaN or infinite"
        case let .featuresTooLarge(index, value):
            return "x too large: its squared norm exceeds \(OnlineLearner.maximumSquaredNorm) (the largest in magnitude is x[\(index)] = \(value)); scale the features"
        case let .invalidLabel(why): return "invalid label: \(why)"
        case let .invalidWeight(w): return "invalid weight: \(w) (must be finite and >= 0)"
        }
    }
}
