/// Snapshot and restore of the whole learner: configuration, posterior, optimizer state,
/// counters, memory, flag rules, detectors and the random stream.
extension OnlineLearner {
    /// Every bit of state, sealed in a versioned, checksummed envelope.
    public func snapshot() -> [UInt8] {
        var w = SnapshotWriter()
        configuration.write(to: &w)
        w.write(step)
        w.write(random.state.0)
        w.write(random.state.1)
        w.write(random.state.2)
        w.write(random.state.3)
        posterior.write(to: &w)
        memory.write(to: &w)
        rules.write(to: &w)
        prequentialPageHinkley.write(to: &w)
        prequentialADWIN.write(to: &w)
        looPageHinkley.write(to: &w)
        looADWIN.write(to: &w)
        w.write(prequentialNLLSum)
        w.write(prequentialErrorSum)
        w.write(recentNLL)
        w.write(recentError)
        w.write(correctedFallbacks)
        w.write(gram)
        w.write(gramStep)
        w.write(latestGeneralization != nil)
        if let g = latestGeneralization { g.write(to: &w) }
        calibration.write(to: &w)
        return SnapshotEnvelope.seal(w.bytes)
    }

    /// Restores a learner from `snapshot()` bytes. Corrupt, truncated or incompatible bytes are
    /// refused; if `expecting` is given, a snapshot written with other settings is refused too.
    public init(restoring bytes: [UInt8], expecting expected: LearnerConfiguration? = nil) throws(SnapshotError) {
        let (version, payload) = try SnapshotEnvelope.openVersioned(bytes)
        var r = SnapshotReader(payload, version: version)
        let c = try LearnerConfiguration(from: &r)
        if let expected, expected != c {
            throw .configurationMismatch(LearnerConfiguration.difference(expected, c))
        }
        do {
            try self.init(configuration: c)
        } catch {
            throw .invalid(what: "stored configuration: \(error)")
        }
        step = try r.readInt(what: "step")
        random = RandomSource(state: (
            try r.readUInt64(what: "random state"), try r.readUInt64(what: "random state"),
            try r.readUInt64(what: "random state"), try r.readUInt64(what: "random state")))
        switch (c.family, c.curvature) {
        case (.full, _): posterior = try FullPosterior(configuration: c, from: &r)
        case (.diagonal, .ggn): posterior = try DiagonalPosterior(configuration: c, from: &r)
        case (.diagonal, .ivon): posterior = try IVONPosterior(configuration: c, from: &r)
        }
        memory = try ExampleMemory(capacity: c.memory.capacity, columns: c.augmentedDimension, policy: c.memory.policy, from: &r)
        try rules.read(from: &r)
        try prequentialPageHinkley.read(from: &r)
        try prequentialADWIN.read(from: &r)
        try looPageHinkley.read(from: &r)
        try looADWIN.read(from: &r)
        prequentialNLLSum = try r.readDouble(what: "prequential NLL")
        prequentialErrorSum = try r.readDouble(what: "prequential error")
        recentNLL = try r.readDouble(what: "recent NLL")
        recentError = try r.readDouble(what: "recent error")
        correctedFallbacks = try r.readInt(what: "fallbacks")
        gram = try r.readDoubles(count: c.outputs * c.outputs, what: "Gram matrix")
        gramStep = try r.readInt(what: "Gram step")
        if try r.readBool(what: "generalization present") {
            latestGeneralization = try GeneralizationSnapshot(from: &r)
        }
        // Version 2 had no calibration: it starts empty, as in a new learner.
        if r.version >= 3 { try calibration.read(from: &r) }
        guard r.isAtEnd else { throw .invalid(what: "unread bytes at the end of the payload") }
        guard step >= 0, memory.offered == step else { throw .invalid(what: "memory saw \(memory.offered) examples, learner \(step)") }
    }
}

extension GeneralizationSnapshot {
    func write(to w: inout SnapshotWriter) {
        w.write(step)
        w.write(memoryCount)
        for v in [looNLL, looError, memoryPrequentialNLL, memoryPrequentialError, prequentialNLL, prequentialError, recentPrequentialNLL, recentPrequentialError] {
            w.write(v)
        }
        w.write(correctedFallbacks)
        w.write(looCalibration)
    }

    init(from r: inout SnapshotReader) throws(SnapshotError) {
        let what = "generalization snapshot"
        self.init(
            step: try r.readInt(what: what), memoryCount: try r.readInt(what: what),
            looNLL: try r.readDouble(what: what), looError: try r.readDouble(what: what),
            memoryPrequentialNLL: try r.readDouble(what: what), memoryPrequentialError: try r.readDouble(what: what),
            prequentialNLL: try r.readDouble(what: what), prequentialError: try r.readDouble(what: what),
            recentPrequentialNLL: try r.readDouble(what: what), recentPrequentialError: try r.readDouble(what: what),
            correctedFallbacks: try r.readInt(what: what),
            looCalibration: r.version >= 3 ? try r.readDouble(what: what) : 1)
    }
}

extension LearnerConfiguration {
    func write(to w: inout SnapshotWriter) {
        w.write(model.rawValue)
        w.write(inputDimension)
        w.write(classes)
        w.write(noiseVariance)
        w.write(family.rawValue)
        w.write(curvature.rawValue)
        w.write(priorPrecision)
        w.write(forgetting)
        w.write(relinearizationWindow)
        w.write(perturbation.rawValue)
        w.write(memory.capacity)
        w.write(memory.policy.rawValue)
        w.write(memory.rescoreInterval)
        w.write(memory.calibrationSamples)
        w.write(inputCurvature.probes)
        w.write(inputCurvature.step)
        w.write(inputCurvature.finiteDifference)
        w.write(ivon.beta1)
        w.write(ivon.beta2)
        w.write(ivon.initialHessian)
        w.write(ivon.learningRate)
        w.write(flags.warmup)
        w.write(flags.mislabeledMargin)
        w.write(flags.memorizationQuantile)
        w.write(flags.curvatureQuantile)
        w.write(drift.pageHinkleyDelta)
        w.write(drift.pageHinkleyThreshold)
        w.write(drift.pageHinkleyMinimum)
        w.write(drift.adwinDelta)
        w.write(seed)
    }

    init(from r: inout SnapshotReader) throws(SnapshotError) {
        func choice<T: RawRepresentable>(_ type: T.Type, _ what: String, _ r: inout SnapshotReader) throws(SnapshotError) -> T where T.RawValue == String {
            let raw = try r.readString(what: what)
            guard let v = T(rawValue: raw) else { throw .invalid(what: "\(what) '\(raw)'") }
            return v
        }
        let model = try choice(ModelKind.self, "model", &r)
        let d = try r.readInt(what: "input dimension")
        let classes = try r.readInt(what: "classes")
        let noise = try r.readDouble(what: "noise variance")
        let family = try choice(PosteriorFamilyKind.self, "family", &r)
        let curvature = try choice(CurvatureEstimatorKind.self, "curvature", &r)
        let prior = try r.readDouble(what: "prior precision")
        let forgetting = try r.readDouble(what: "forgetting")
        let window = try r.readInt(what: "relinearization window")
        let perturbation = try choice(PerturbationKind.self, "perturbation", &r)
        let memory = MemorySettings(capacity: try r.readInt(what: "memory capacity"), policy: try choice(MemoryPolicy.self, "memory policy", &r),
                                    rescoreInterval: try r.readInt(what: "rescore interval"),
                                    calibrationSamples: r.version >= 3 ? try r.readInt(what: "calibration samples") : MemorySettings().calibrationSamples)
        let input = InputCurvatureSettings(probes: try r.readInt(what: "probes"), step: try r.readDouble(what: "curvature step"),
                                           finiteDifference: try r.readBool(what: "finite difference"))
        let ivon = IVONSettings(beta1: try r.readDouble(what: "beta1"), beta2: try r.readDouble(what: "beta2"),
                                initialHessian: try r.readDouble(what: "h0"), learningRate: try r.readDouble(what: "learning rate"))
        let flags = FlagSettings(warmup: try r.readInt(what: "warmup"), mislabeledMargin: try r.readDouble(what: "margin"),
                                 memorizationQuantile: try r.readDouble(what: "memorization quantile"),
                                 curvatureQuantile: try r.readDouble(what: "curvature quantile"))
        let drift = DriftSettings(pageHinkleyDelta: try r.readDouble(what: "PH delta"), pageHinkleyThreshold: try r.readDouble(what: "PH threshold"),
                                  pageHinkleyMinimum: try r.readInt(what: "PH minimum"), adwinDelta: try r.readDouble(what: "ADWIN delta"))
        let seed = try r.readUInt64(what: "seed")
        self.init(model: model, inputDimension: d, classes: classes, noiseVariance: noise, family: family, curvature: curvature,
                  priorPrecision: prior, forgetting: forgetting, relinearizationWindow: window, perturbation: perturbation, memory: memory, inputCurvature: input,
                  ivon: ivon, flags: flags, drift: drift, seed: seed)
    }

    /// Names the settings in which two configurations differ, for error messages.
    static func difference(_ a: LearnerConfiguration, _ b: LearnerConfiguration) -> String {
        var out: [String] = []
        func check<T: Equatable>(_ name: String, _ x: T, _ y: T) { if x != y { out.append("\(name): expected \(x), snapshot has \(y)") } }
        check("model", a.model, b.model)
        check("input_dimension", a.inputDimension, b.inputDimension)
        check("classes", a.classes, b.classes)
        check("noise_variance", a.noiseVariance, b.noiseVariance)
        check("family", a.family, b.family)
        check("curvature", a.curvature, b.curvature)
        check("prior_precision", a.priorPrecision, b.priorPrecision)
        check("forgetting", a.forgetting, b.forgetting)
        check("relinearization_window", a.relinearizationWindow, b.relinearizationWindow)
        check("perturbation", a.perturbation, b.perturbation)
        check("memory", a.memory, b.memory)
        check("input_curvature", a.inputCurvature, b.inputCurvature)
        check("ivon", a.ivon, b.ivon)
        check("flags", a.flags, b.flags)
        check("drift", a.drift, b.drift)
        check("seed", a.seed, b.seed)
        return out.joined(separator: "; ")
    }
}
