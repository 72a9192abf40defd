import ArgumentParser
import OnlineMPE

/// The learner configuration as the program assembles it: defaults, then the configuration
/// file, then command-line flags. The input dimension may stay unknown until the first example.
struct LearnerSettings {
    var configuration = LearnerConfiguration(inputDimension: 1)
    var inputDimension: Int?
    /// String class labels, mapped to indices in this order by the decoder.
    var labels: [String]?
    /// The prior precision when given; otherwise the default for the input dimension and family.
    var priorPrecision: Double?
    /// The posterior family, or `auto`: `full` for small models, `diagonal` for large ones
    /// (`LearnerConfiguration.defaultFamily`), decided once the input dimension is known.
    var family: FamilySetting = .auto

    mutating func apply(_ n: ConfigNode) throws {
        try n.allowOnly(["model", "input_dimension", "classes", "labels", "noise_variance", "family", "curvature",
                         "prior_precision", "forgetting", "relinearization_window", "perturbation", "seed", "memory", "input_curvature", "ivon",
                         "flags", "drift"])
        var c = configuration
        if let v = try n.choice("model", ModelKind.self) { c.model = v }
        if let v = try n.int("input_dimension") { inputDimension = v }
        if let v = try n.int("classes") { c.classes = v }
        if let v = try n.strings("labels") { labels = v }
        if let v = try n.double("noise_variance") { c.noiseVariance = v }
        if let v = try n.choice("family", FamilySetting.self) { family = v }
        if let v = try n.choice("curvature", CurvatureEstimatorKind.self) { c.curvature = v }
        if let v = try n.double("prior_precision") { priorPrecision = v }
        if let v = try n.double("forgetting") { c.forgetting = v }
        if let v = try n.int("relinearization_window") { c.relinearizationWindow = v }
        if let v = try n.choice("perturbation", PerturbationKind.self) { c.perturbation = v }
        if let v = try n.int("seed") { c.seed = UInt64(max(v, 0)) }
        if let m = try n.child("memory") {
            try m.allowOnly(["capacity", "policy", "rescore_interval", "calibration_samples"])
            if let v = try m.int("capacity") { c.memory.capacity = v }
            if let v = try m.choice("policy", MemoryPolicy.self) { c.memory.policy = v }
            if let v = try m.int("rescore_interval") { c.memory.rescoreInterval = v }
            if let v = try m.int("calibration_samples") { c.memory.calibrationSamples = v }
        }
        if let m = try n.child("input_curvature") {
            try m.allowOnly(["probes", "step", "finite_difference"])
            if let v = try m.int("probes") { c.inputCurvature.probes = v }
            if let v = try m.double("step") { c.inputCurvature.step = v }
            if let v = try m.bool("finite_difference") { c.inputCurvature.finiteDifference = v }
        }
        if let m = try n.child("ivon") {
            try m.allowOnly(["beta1", "beta2", "initial_hessian", "learning_rate"])
            if let v = try m.double("beta1") { c.ivon.beta1 = v }
            if let v = try m.double("beta2") { c.ivon.beta2 = v }
            if let v = try m.double("initial_hessian") { c.ivon.initialHessian = v }
            if let v = try m.double("learning_rate") { c.ivon.learningRate = v }
        }
        if let m = try n.child("flags") {
            try m.allowOnly(["warmup", "mislabeled_margin", "memorization_quantile", "curvature_quantile"])
            if let v = try m.int("warmup") { c.flags.warmup = v }
            if let v = try m.double("mislabeled_margin") { c.flags.mislabeledMargin = v }
            if let v = try m.double("memorization_quantile") { c.flags.memorizationQuantile = v }
            if let v = try m.double("curvature_quantile") { c.flags.curvatureQuantile = v }
        }
        if let m = try n.child("drift") {
            try m.allowOnly(["page_hinkley_delta", "page_hinkley_threshold", "page_hinkley_minimum", "adwin_delta"])
            if let v = try m.double("page_hinkley_delta") { c.drift.pageHinkleyDelta = v }
            if let v = try m.double("page_hinkley_threshold") { c.drift.pageHinkleyThreshold = v }
            if let v = try m.int("page_hinkley_minimum") { c.drift.pageHinkleyMinimum = v }
            if let v = try m.double("adwin_delta") { c.drift.adwinDelta = v }
        }
        configuration = c
    }

    /// Refuses, before a broker is contacted or an example read, the settings that no input
    /// dimension can make valid, with the key and the allowed values: without this a monitor
    /// started with a bad setting connected, waited, and stopped only at the first good message
    /// (or, restoring a checkpoint, never said so). With the dimension unknown it checks at
    /// dimension 1, where the full family's parameter limit is loosest, and lets `auto` stand
    /// for `diagonal`, whose checks hold for either choice; what depends on the dimension is
    /// checked again once the first example fixes it (`resolved(inputDimension:)`).
    func checkBeforeData() throws {
        var s = self
        if s.inputDimension == nil, s.family == .auto { s.family = .diagonal }
        _ = try s.resolved(inputDimension: s.inputDimension ?? 1)
    }

    /// The final configuration once the input dimension is known; refuses bad settings with the
    /// key and the allowed values.
    func resolved(inputDimension d: Int) throws -> LearnerConfiguration {
        var c = configuration
        c.inputDimension = d
        if c.model == .logistic { c.classes = 2 }
        if c.model == .regression { c.classes = 1 }
        if let labels, c.model == .softmax { c.classes = labels.count }
        switch family {
        case .auto: c.family = LearnerConfiguration.defaultFamily(parameters: c.parameterCount, curvature: c.curvature)
        case .full: c.family = .full
        case .diagonal: c.family = .diagonal
        }
        c.priorPrecision = priorPrecision ?? LearnerConfiguration.defaultPriorPrecision(inputDimension: d, family: c.family)
        do {
            try c.validate()
        } catch {
            throw ConfigurationProblem(message: error.description)
        }
        return c
    }
}

/// Command-line flags for the learner; each overrides the configuration file.
struct LearnerOptions: ParsableArguments {
    @Option(name: .long, help: "YAML configuration file (see config/mpe-monitor.yaml).")
    var config: String?
    @Option(help: "Likelihood: regression | logistic | softmax.")
    var model: ModelKind?
    @Option(help: "Number of classes for softmax.")
    var classes: Int?
    @Option(help: "Input features (default: from the first example).")
    var dimension: Int?
    @Option(help: "Posterior family: auto (full up to 1000 parameters, else diagonal) | full | diagonal.")
    var family: FamilySetting?
    @Option(help: "Diagonal curvature estimator: ggn | ivon.")
    var curvature: CurvatureEstimatorKind?
    @Option(name: .customLong("prior-precision"), help: "Prior precision δ.")
    var priorPrecision: Double?
    @Option(help: "Forgetting factor γ in (0, 1]; 1 is exact Bayes.")
    var forgetting: Double?
    @Option(name: .customLong("relinearization-window"),
            help: "Family full, logistic/softmax: past examples kept as exact losses and re-solved at every arrival (0 to 256; 0 freezes each at arrival).")
    var relinearizationWindow: Int?
    @Option(help: "first-order | corrected.")
    var perturbation: PerturbationKind?
    @Option(help: "Examples kept in memory for re-scoring.")
    var memory: Int?
    @Option(name: .customLong("memory-policy"), help: "window | reservoir.")
    var memoryPolicy: MemoryPolicy?
    @Option(name: .customLong("rescore-interval"), help: "Re-score the memory every this many examples.")
    var rescoreInterval: Int?
    @Option(name: .customLong("calibration-samples"),
            help: "Diagonal GGN, window memory: memory examples per re-scoring whose removal is followed through later updates to calibrate the LOO forecast (0 to 64; 0 turns it off).")
    var calibrationSamples: Int?
    @Option(name: .customLong("noise-variance"), help: "Observation noise variance s² for regression.")
    var noiseVariance: Double?
    @Option(help: "Examples learned before any flag is raised.")
    var warmup: Int?
    @Option(help: "Seed of the learner's random stream.")
    var seed: UInt64?

    func settings() throws -> LearnerSettings {
        var s = LearnerSettings()
        if let config { try ConfigurationFile.apply(path: config, to: &s) }
        var c = s.configuration
        if let model { c.model = model }
        if let classes { c.classes = classes }
        if let dimension { s.inputDimension = dimension }
        if let family { s.family = family }
        if let curvature { c.curvature = curvature }
        if let priorPrecision { s.priorPrecision = priorPrecision }
        if let forgetting { c.forgetting = forgetting }
        if let relinearizationWindow { c.relinearizationWindow = relinearizationWindow }
        if let perturbation { c.perturbation = perturbation }
        if let memory { c.memory.capacity = memory }
        if let memoryPolicy { c.memory.policy = memoryPolicy }
        if let rescoreInterval { c.memory.rescoreInterval = rescoreInterval }
        if let calibrationSamples { c.memory.calibrationSamples = calibrationSamples }
        if let noiseVariance { c.noiseVariance = noiseVariance }
        if let warmup { c.flags.warmup = warmup }
        if let seed { c.seed = seed }
        s.configuration = c
        return s
    }
}

extension ModelKind: ExpressibleByArgument {}
/// The `family` setting of the program: a posterior family, or `auto` to let the model size
/// decide (see `LearnerSettings.family`).
enum FamilySetting: String, CaseIterable, ExpressibleByArgument {
    case auto
    case full
    case diagonal
}
extension CurvatureEstimatorKind: ExpressibleByArgument {}
extension PerturbationKind: ExpressibleByArgument {}
extension MemoryPolicy: ExpressibleByArgument {}
