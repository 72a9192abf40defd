import Glibc

/// The online Bayesian learner of mpe-monitor: test-then-train on every example, then the
/// memory-perturbation quantities, the flags, a periodically re-scored memory with the
/// leave-one-out forecast of generalization, and change detectors on both loss series.
///
/// A value type with no I/O: the caller feeds examples and decides what to do with reports.
/// `snapshot()` captures every bit of state, and `init(restoring:)` continues bit-identically.
public struct OnlineLearner: Sendable {
    /// The settings it was created with, but for the alert settings `adoptAlertSettings` may
    /// have replaced since.
    public private(set) var configuration: LearnerConfiguration
    let layer: OutputLayer
    var posterior: any PosteriorFamily
    var random: RandomSource
    var memory: ExampleMemory
    var rules: FlagRules
    var prequentialPageHinkley: PageHinkley
    var prequentialADWIN: ADWIN
    var looPageHinkley: PageHinkley
    var looADWIN: ADWIN
    /// Examples learned.
    public internal(set) var step = 0
    var prequentialNLLSum = 0.0
    var prequentialErrorSum = 0.0
    var recentNLL = 0.0
    var recentError = 0.0
    var correctedFallbacks = 0
    /// Gram matrix of the weight rows for the closed-form curvature, and when it was taken.
    var gram: [Double]
    var gramStep = -1
    public internal(set) var latestGeneralization: GeneralizationSnapshot?
    /// The forecast's calibration factor and its history (state: snapshotted).
    var calibration = ForecastCalibration()
    /// Per memory slot, what a re-scoring found (f, f̃, p, diag Λ, e: K values each) and the
    /// slot's effective weight, kept for the calibration and the calibrated forecast; and the
    /// shift being followed. Scratch, rebuilt by every re-scoring, never snapshotted.
    var forecastCache: [Double] = []
    var forecastWeights: [Double] = []
    var propagationScratch: [Double] = []
    /// Optional only so that `learn` can move it out and back (`take()`) with no reference
    /// counting on its two dozen buffers; it is nil only while checked out.
    var workspace: Workspace?

    /// The Gram matrix is refreshed this often (and at every re-scoring): it moves slowly, and
    /// refreshing it per example would cost more than the update itself.
    static let gramInterval = 16

    public init(configuration c: LearnerConfiguration) throws(ConfigurationError) {
        try c.validate()
        configuration = c
        layer = OutputLayer(c)
        switch (c.family, c.curvature) {
        case (.full, _): posterior = FullPosterior(configuration: c)
        case (.diagonal, .ggn): posterior = DiagonalPosterior(configuration: c)
        case (.diagonal, .ivon): posterior = IVONPosterior(configuration: c)
        }
        random = RandomSource(seed: c.seed)
        memory = ExampleMemory(capacity: c.memory.capacity, columns: c.augmentedDimension, policy: c.memory.policy)
        rules = FlagRules(settings: c.flags, model: c.model, classes: c.classes)
        prequentialPageHinkley = PageHinkley(delta: c.drift.pageHinkleyDelta, threshold: c.drift.pageHinkleyThreshold, minimumCount: c.drift.pageHinkleyMinimum)
        prequentialADWIN = ADWIN(delta: c.drift.adwinDelta)
        // The LOO series is per example too (each example's LOO NLL at the first re-scoring
        // after it arrived; see `rescore`), so it gets the prequential series' settings. An
        // earlier series of one memory average per re-scoring gave ~10 values on a 10k stream
        // and both detectors missed both measured changes (README, drift).
        looPageHinkley = PageHinkley(delta: c.drift.pageHinkleyDelta, threshold: c.drift.pageHinkleyThreshold, minimumCount: c.drift.pageHinkleyMinimum)
        looADWIN = ADWIN(delta: c.drift.adwinDelta)
        gram = .init(repeating: 0, count: c.outputs * c.outputs)
        workspace = Workspace(c)
    }

    /// The posterior mean θ: `outputs` rows of `inputDimension + 1` weights, bias last.
    public var mean: [Double] { posterior.mean }

    // MARK: Learning

    /// Scores `example` under the current posterior, learns it, and reports everything that
    /// followed. A refused example (wrong dimension, non-finite value, bad label or weight)
    /// changes nothing.
    public mutating func learn(_ example: LabeledExample) throws(ExampleError) -> ExampleReport {
        try validate(example)
        var ws = checkOutWorkspace()
        let report = learnValid(example, workspace: &ws)
        // Moved back, not copied (a `defer` here copies every buffer).
        workspace = consume ws
        return report
    }

    /// The learner's workspace, moved out (put it back with `workspace = consume ws`); a fresh
    /// one when another copy of this learner still shares it, since its buffers are pointers
    /// into memory that copies alias (see `Workspace`).
    private mutating func checkOutWorkspace() -> Workspace {
        if var ws = workspace.take(), isKnownUniquelyReferenced(&ws.storage) { return ws }
        return Workspace(configuration)
    }

    private mutating func learnValid(_ example: LabeledExample, workspace ws: inout Workspace) -> ExampleReport {
        let y = example.y
        let w = example.weight
        load(example.x, into: &ws)

        let nll = evaluateAtMean(label: y, workspace: &ws)
        let prequential = ws.p.withStart { p in
            PrequentialScore(labelProbability: layer.labelProbability(p: p, y: y), nll: nll,
                             error: layer.error(p: p, y: y), predicted: layer.predicted(p: p))
        }
        posterior.absorb(label: y, weight: w, workspace: &ws, random: &random)
        step += 1
        prequentialNLLSum += prequential.nll
        prequentialErrorSum += prequential.error
        let rate = 1 / Double(min(step, configuration.memory.capacity))
        recentNLL += rate * (prequential.nll - recentNLL)
        recentError += rate * (prequential.error - recentError)

        if step - gramStep >= OnlineLearner.gramInterval { refreshGram() }
        let scores = score(label: y, weight: w, workspace: &ws)
        rules.observe(label: y, scores: scores)
        var flags: [Flag] = []
        let earned = rules.evaluate(label: y, pTilde: ws.pTilde, outputs: configuration.outputs, scores: scores, already: 0, learned: step)
        var raised = 0
        for (kind, reason) in earned {
            raised |= kind.bit
            flags.append(Flag(kind: kind, step: step, exampleID: example.id, arrivalStep: step, givenLabel: y,
                              predictedLabel: scores.looPredicted, scores: scores, reason: reason))
        }
        if let slot = memory.slotForNext(random: &random) {
            ws.input.withStart { x in
                memory.store(slot: slot, id: example.id, input: x, label: y, weight: w, step: step,
                             prequential: prequential, scores: scores, raised: raised)
            }
        }

        var drift: [DriftEvent] = []
        if let s = prequentialPageHinkley.update(prequential.nll) {
            drift.append(DriftEvent(series: .prequentialNLL, detector: .pageHinkley, step: step, statistic: s,
                                    threshold: prequentialPageHinkley.threshold, value: prequential.nll))
        }
        // ADWIN cuts its window on any change, but only a rise in loss is drift worth an alert:
        // a falling loss is the model learning.
        if let s = prequentialADWIN.update(prequential.nll), s > 0 {
            drift.append(DriftEvent(series: .prequentialNLL, detector: .adwin, step: step, statistic: s,
                                    threshold: prequentialADWIN.delta, value: prequentialADWIN.mean))
        }

        var rescoring: Rescoring? = nil
        if step % configuration.memory.rescoreInterval == 0 {
            let result = rescore(workspace: &ws, scheduled: true)
            rescoring = result.rescoring
            flags.append(contentsOf: result.flags)
            drift.append(contentsOf: result.drift)
        }
        for event in drift {
            flags.append(Flag(kind: .generalizationDrift, step: step, exampleID: nil, arrivalStep: nil, givenLabel: nil,
                              predictedLabel: nil, scores: nil, drift: event,
                              reason: "\(event.detector.rawValue) detected a change in \(event.series.rawValue) (statistic \(short(event.statistic)), latest level \(short(event.value)))"))
        }
        return ExampleReport(step: step, prequential: prequential, scores: scores, flags: flags, drift: drift, rescoring: rescoring)
    }

    func validate(_ example: LabeledExample) throws(ExampleError) {
        let d = configuration.inputDimension
        guard example.x.count == d else { throw .wrongDimension(expected: d, got: example.x.count) }
        if !(OnlineLearner.squaredNorm(example.x) <= OnlineLearner.maximumSquaredNorm) {
            for (i, v) in example.x.enumerated() where !v.isFinite { throw .nonFiniteFeature(index: i) }
            let largest = example.x.indices.max { abs(example.x[$0]) < abs(example.x[$1]) } ?? 0
            throw .featuresTooLarge(index: largest, value: example.x[largest])
        }
        guard example.weight.isFinite, example.weight >= 0 else { throw .invalidWeight(example.weight) }
        let y = example.y
        switch configuration.model {
        case .regression:
            guard y.isFinite else { throw .invalidLabel("\(y) is not a finite number") }
            guard abs(y) <= OnlineLearner.maximumRegressionLabel else {
                throw .invalidLabel("\(y) exceeds \(OnlineLearner.maximumRegressionLabel) in magnitude (regression); scale the labels")
            }
        case .logistic:
            guard y == 0 || y == 1 else { throw .invalidLabel("\(y) is not 0 or 1 (logistic model)") }
        case .softmax:
            guard y.isFinite, y == y.rounded(), y >= 0, y < Double(configuration.classes) else {
                throw .invalidLabel("\(y) is not a class index in 0..<\(configuration.classes)")
            }
        }
    }

    /// The largest `‖x‖²` accepted (|x| up to about 1e30). Finite inputs far beyond it make
    /// products with the model's precisions and variances overflow (`x² · 1/S` as ∞ · 0), and the
    /// figures built from them NaN; below it the learner keeps every figure finite.
    public static let maximumSquaredNorm = 1e60
    /// Labels of the regression model are bounded the same way (|y| up to 1e30).
    public static let maximumRegressionLabel = 1e30

    /// `Σ x_j²` (the vectorized dot product): NaN or ∞ when any value is, so one comparison
    /// checks both finiteness and size without a branch per value.
    static func squaredNorm(_ x: [Double]) -> Double {
        x.withStart { DenseKernels.dot($0, $0, x.count) }
    }

    /// Copies x into the workspace with the bias feature appended.
    func load(_ x: [Double], into ws: inout Workspace) {
        let d = configuration.inputDimension
        ws.input.withMutableStart { dst in
            x.withStart { src in dst.update(from: src, count: d) }
            dst[d] = 1
        }
    }

    /// f, p, e, diag Λ (and full Λ for `full`) at the posterior mean for the loaded input;
    /// returns the NLL of `y`.
    func evaluateAtMean(label y: Double, workspace ws: inout Workspace) -> Double {
        let k = configuration.outputs
        let d = configuration.augmentedDimension
        let m = posterior.mean
        ws.input.withStart { x in
            m.withStart { w in ws.f.withMutableStart { f in DenseKernels.outputs(weights: w, input: x, rows: k, columns: d, into: f) } }
        }
        return evaluateOutputs(label: y, workspace: &ws)
    }

    /// p, e, diag Λ (and full Λ for `full`) from the outputs already in `workspace.f`; returns
    /// the NLL of `y`.
    func evaluateOutputs(label y: Double, workspace ws: inout Workspace) -> Double {
        let nll = ws.f.withStart { f in
            ws.p.withMutableStart { p in
                ws.e.withMutableStart { e in
                    ws.lambdaDiagonal.withMutableStart { l in layer.evaluate(f: f, y: y, p: p, e: e, lambdaDiagonal: l) }
                }
            }
        }
        if configuration.family == .full {
            ws.p.withStart { p in ws.lambda.withMutableStart { l in layer.fillLambda(p: p, into: l) } }
        }
        return nll
    }

    /// The memory-perturbation quantities of the loaded input with label y and site weight w.
    mutating func score(label y: Double, weight w: Double, workspace ws: inout Workspace) -> Sensitivities {
        let k = configuration.outputs
        // A family whose update pass already left f at the new mean spares the forward pass.
        if ws.arrivalReady {
            _ = evaluateOutputs(label: y, workspace: &ws)
        } else {
            _ = evaluateAtMean(label: y, workspace: &ws)
        }
        if !posterior.perturb(weight: w, kind: configuration.perturbation, workspace: &ws) {
            correctedFallbacks += 1
        }
        ws.fTilde.withStart { f in ws.pTilde.withMutableStart { p in layer.probabilities(f: f, into: p) } }
        var s = Sensitivities()
        ws.p.withStart { p in
            ws.pTilde.withStart { pt in
                let inSample = layer.labelProbability(p: p, y: y)
                s.labelQuality = layer.labelProbability(p: pt, y: y)
                s.memorization = inSample - s.labelQuality
                s.looNLL = layer.negativeLogLikelihood(p: pt, y: y)
                s.looError = layer.error(p: pt, y: y)
                s.looPredicted = layer.predicted(p: pt)
                s.predicted = layer.predicted(p: p)
                var deviation = 0.0
                switch configuration.model {
                case .regression: deviation = abs(ws.fTilde[0] - ws.f[0])
                case .logistic: deviation = 2 * abs(pt[0] - p[0])
                case .softmax: for c in 0..<k { deviation += abs(pt[c] - p[c]) }
                }
                s.deviation = deviation
                var sensitivity = 0.0
                var trace = 0.0
                for c in 0..<k {
                    let v = ws.variance[c * k + c]
                    sensitivity += abs(ws.e[c] * ws.lambdaDiagonal[c] * v)
                    trace += v
                }
                s.sensitivity = sensitivity
                s.predictionVariance = trace
                if configuration.inputCurvature.finiteDifference {
                    s.curvature = finiteDifferenceCurvature(label: y, workspace: &ws)
                } else {
                    s.curvature = ws.gramProduct.withMutableStart { scratch in
                        gram.withStart { g in
                            InputCurvature.closedForm(kind: configuration.model, p: p, gram: g, outputs: k, noiseVariance: configuration.noiseVariance, scratch: scratch)
                        }
                    }
                }
            }
        }
        return s
    }

    mutating func refreshGram() {
        InputCurvature.gram(weights: posterior.mean, rows: configuration.outputs, columns: configuration.augmentedDimension, into: &gram)
        gramStep = step
    }

    /// ∇_x ℓ(x, y) = W̃ᵀ e(x) at the posterior mean, for the linear models.
    public func inputGradient(x: UnsafePointer<Double>, label y: Double, into g: UnsafeMutablePointer<Double>) {
        let k = configuration.outputs
        let d = configuration.inputDimension
        let columns = d + 1
        var input = [Double](repeating: 1, count: columns)
        for j in 0..<d { input[j] = x[j] }
        var f = [Double](repeating: 0, count: k)
        var p = f, e = f, l = f
        let m = posterior.mean
        m.withStart { w in
            input.withStart { xi in f.withMutableStart { DenseKernels.outputs(weights: w, input: xi, rows: k, columns: columns, into: $0) } }
            f.withStart { fp in p.withMutableStart { pp in e.withMutableStart { ep in l.withMutableStart { lp in
                _ = layer.evaluate(f: fp, y: y, p: pp, e: ep, lambdaDiagonal: lp)
            } } } }
            for j in 0..<d {
                var s = 0.0
                for c in 0..<k { s += w[c * columns + j] * e[c] }
                g[j] = s
            }
        }
    }

    mutating func finiteDifferenceCurvature(label y: Double, workspace ws: inout Workspace) -> Double {
        let d = configuration.inputDimension
        let x = Workspace.values(ws.input, d)
        var r = random
        let settings = configuration.inputCurvature
        let value = InputCurvature.finiteDifference(x: x, probes: settings.probes, step: settings.step, random: &r) { point, g in
            inputGradient(x: point, label: y, into: g)
        }
        random = r
        return value
    }

    // MARK: Re-scoring and the forecast

    /// Re-scores the memory under the current posterior: the forecast, flags earned since
    /// arrival, and the LOO drift series. That series is each example's LOO NLL at the first
    /// scheduled re-scoring after its arrival, fed in arrival order: one value per example like
    /// the prequential series, but measured under a posterior that has since learned up to
    /// `rescore_interval` more examples, which is what a leave-one-out estimate of
    /// generalization is. An unscheduled re-scoring (`rescoreMemory`, at the end of a stream)
    /// leaves the detectors alone, so no example is fed twice.
    mutating func rescore(workspace ws: inout Workspace, scheduled: Bool) -> (rescoring: Rescoring, flags: [Flag], drift: [DriftEvent]) {
        refreshGram()
        let freshAfter = scheduled ? step - configuration.memory.rescoreInterval : Int.max
        var fresh: [(arrival: Int, nll: Double)] = []
        let gamma = configuration.forgetting
        let columns = configuration.augmentedDimension
        var looNLL = 0.0, looError = 0.0, arrivalNLL = 0.0, arrivalError = 0.0
        var examples: [RescoredExample] = []
        examples.reserveCapacity(memory.count)
        var flags: [Flag] = []
        let k = configuration.outputs
        let calibrating = configuration.memory.calibrationSamples > 0 && configuration.memory.policy == .window
            && posterior.propagatesRemovals && memory.count >= 2
        if calibrating && forecastCache.count != memory.capacity * 5 * k {
            forecastCache = .init(repeating: 0, count: memory.capacity * 5 * k)
            forecastWeights = .init(repeating: 0, count: memory.capacity)
            propagationScratch = .init(repeating: 0, count: k * columns + 2 * k)
        }
        for slot in 0..<memory.count {
            memory.inputs.withStart { src in ws.input.withMutableStart { $0.update(from: src + slot * columns, count: columns) } }
            let y = memory.labels[slot]
            // A site absorbed `age` updates ago has been discounted by γ^age since.
            let age = step - memory.arrivalSteps[slot]
            let weight = memory.weights[slot] * (gamma < 1 ? pow(gamma, Double(age)) : 1)
            var s = score(label: y, weight: weight, workspace: &ws)
            if calibrating {
                forecastWeights[slot] = weight
                forecastCache.withMutableStart { cache in
                    let c = cache + slot * 5 * k
                    c.update(from: ws.f, count: k)
                    (c + k).update(from: ws.fTilde, count: k)
                    (c + 2 * k).update(from: ws.p, count: k)
                    (c + 3 * k).update(from: ws.lambdaDiagonal, count: k)
                    (c + 4 * k).update(from: ws.e, count: k)
                }
            }
            memory.curvatureSum[slot] += s.curvature
            memory.curvatureCount[slot] += 1
            s.curvature = memory.curvatureSum[slot] / Double(memory.curvatureCount[slot])
            memory.latest[slot] = s
            looNLL += s.looNLL
            looError += s.looError
            if memory.arrivalSteps[slot] > freshAfter { fresh.append((memory.arrivalSteps[slot], s.looNLL)) }
            arrivalNLL += memory.arrivalNLL[slot]
            arrivalError += memory.arrivalError[slot]
            let id = memory.ids[slot]
            examples.append(RescoredExample(id: id, arrivalStep: memory.arrivalSteps[slot], label: y, scores: s))
            let earned = rules.evaluate(label: y, pTilde: ws.pTilde, outputs: configuration.outputs, scores: s, already: memory.raised[slot], learned: step)
            for (kind, reason) in earned {
                memory.raised[slot] |= kind.bit
                flags.append(Flag(kind: kind, step: step, exampleID: id, arrivalStep: memory.arrivalSteps[slot], givenLabel: y,
                                  predictedLabel: s.looPredicted, scores: s, reason: reason + " (re-scored)"))
            }
        }
        if calibrating {
            calibrate()
            let factor = calibration.factor
            if factor != 1 {
                // The forecast from the calibrated shifts `f + c·(f̃ − f)`; the examples' own
                // scores above keep the uncalibrated ones.
                looNLL = 0
                looError = 0
                forecastCache.withStart { cache in
                    for slot in 0..<memory.count {
                        let c = cache + slot * 5 * k
                        for r in 0..<k { ws.fTilde[r] = c[r] + factor * (c[k + r] - c[r]) }
                        ws.fTilde.withStart { f in ws.pTilde.withMutableStart { p in layer.probabilities(f: f, into: p) } }
                        let y = memory.labels[slot]
                        ws.pTilde.withStart { p in
                            looNLL += layer.negativeLogLikelihood(p: p, y: y)
                            looError += layer.error(p: p, y: y)
                        }
                    }
                }
            }
        }
        let n = Double(max(memory.count, 1))
        let snapshot = GeneralizationSnapshot(
            step: step, memoryCount: memory.count, looNLL: looNLL / n, looError: looError / n,
            memoryPrequentialNLL: arrivalNLL / n, memoryPrequentialError: arrivalError / n,
            prequentialNLL: prequentialNLLSum / Double(step), prequentialError: prequentialErrorSum / Double(step),
            recentPrequentialNLL: recentNLL, recentPrequentialError: recentError, correctedFallbacks: correctedFallbacks,
            looCalibration: calibrating ? calibration.factor : 1)
        latestGeneralization = snapshot
        var drift: [DriftEvent] = []
        fresh.sort { $0.arrival < $1.arrival }
        for value in fresh {
            if let s = looPageHinkley.update(value.nll) {
                drift.append(DriftEvent(series: .looNLL, detector: .pageHinkley, step: step, statistic: s, threshold: looPageHinkley.threshold, value: value.nll))
            }
            // As for the prequential series: only a rise in loss is drift.
            if let s = looADWIN.update(value.nll), s > 0 {
                drift.append(DriftEvent(series: .looNLL, detector: .adwin, step: step, statistic: s, threshold: looADWIN.delta, value: looADWIN.mean))
            }
        }
        return (Rescoring(generalization: snapshot, examples: examples), flags, drift)
    }

    /// Follows the removal of `memory.calibrationSamples` remembered examples, one drawn from
    /// each age stratum of the window, through the updates learned since, and adds their
    /// propagated and diagonal shifts to the calibration (see `ForecastCalibration`). Uses the
    /// values the re-scoring just cached.
    mutating func calibrate() {
        let order = arrivalOrder()
        let n = order.count
        let strata = min(configuration.memory.calibrationSamples, n)
        var propagated = 0.0
        var diagonal = 0.0
        for q in 0..<strata {
            let lo = q * n / strata
            let hi = (q + 1) * n / strata
            guard hi > lo else { continue }
            let a = lo + Int(random.next() % UInt64(hi - lo))
            guard let shifts = followedRemoval(order: order, position: a) else { return }
            for r in shifts.e.indices {
                propagated += shifts.e[r] * shifts.propagated[r]
                diagonal += shifts.e[r] * shifts.diagonal[r]
            }
        }
        calibration.add(propagated: propagated, diagonal: diagonal)
    }

    /// The window's slots in arrival order: a ring that starts at the oldest slot once full.
    func arrivalOrder() -> [Int] {
        let n = memory.count
        let start = n < memory.capacity ? 0 : memory.offered % memory.capacity
        return (0..<n).map { (start + $0) % memory.capacity }
    }

    /// For the example at arrival position `a` of `order`, as of the latest re-scoring (which
    /// must have filled the forecast cache): its removal's output shift followed through the
    /// examples after it, its diagonal shift `f̃ − f`, and its `e`; nil where the family does
    /// not follow removals.
    mutating func followedRemoval(order: [Int], position a: Int) -> (propagated: [Double], diagonal: [Double], e: [Double])? {
        let k = configuration.outputs
        let columns = configuration.augmentedDimension
        guard forecastCache.count == memory.capacity * 5 * k, a >= 0, a < order.count else { return nil }
        let source = order[a]
        let softmax = configuration.model == .softmax
        var propagated = [Double](repeating: 0, count: k)
        let followed = forecastCache.withStart { cache in
            memory.inputs.withStart { inputs in
                forecastWeights.withStart { weights in
                    propagationScratch.withMutableStart { scratch in
                        order.withUnsafeBufferPointer { all in
                            propagated.withUnsafeMutableBufferPointer { shift in
                                let c = cache + source * 5 * k
                                let later = LaterSites(
                                    slots: UnsafeBufferPointer(rebasing: all[(a + 1)...]), inputs: inputs, weights: weights,
                                    p: cache + 2 * k, lambdaDiagonal: cache + 3 * k, softmax: softmax, stride: 5 * k)
                                let removal = RemovalSource(input: inputs + source * columns, weight: weights[source],
                                                            e: c + 4 * k, lambdaDiagonal: c + 3 * k)
                                return shift.baseAddress.map {
                                    posterior.propagatedRemovalShift(source: removal, later: later, scratch: scratch, into: $0)
                                } ?? false
                            }
                        }
                    }
                }
            }
        }
        guard followed else { return nil }
        let base = source * 5 * k
        let diagonal = (0..<k).map { forecastCache[base + k + $0] - forecastCache[base + $0] }
        let e = Array(forecastCache[(base + 4 * k)..<(base + 5 * k)])
        return (propagated, diagonal, e)
    }

    /// Re-scores the memory under the current posterior now (as at the end of a stream) and
    /// records the forecast; the LOO drift detectors wait for the next scheduled re-scoring.
    public mutating func rescoreMemory() -> Rescoring {
        var ws = checkOutWorkspace()
        let rescoring = rescore(workspace: &ws, scheduled: false).rescoring
        workspace = consume ws
        return rescoring
    }

    /// Takes from `configured` the settings that only decide when an alert is raised: the
    /// flags' settings and the drift detectors' parameters, none of which any learned quantity
    /// depends on. So a learner restored after months of learning can be made more or less
    /// talkative without starting over. The Page–Hinkley sums and ADWIN windows are kept: a new
    /// δ or λ applies from here on. A streaming quantile follows the one level it was created
    /// for, so one asked for at another level starts afresh, from the examples in memory as
    /// last scored (in arrival order); below 100 values it flags nothing, as at the start of a
    /// stream. Everything else stays as it was created. `configured` is expected to be valid
    /// (`LearnerConfiguration.validate`).
    public mutating func adoptAlertSettings(from configured: LearnerConfiguration) {
        func restarted(_ q: Double, _ score: (Sensitivities) -> Double) -> StreamingQuantile {
            var estimate = StreamingQuantile(quantile: q)
            for slot in (0..<memory.count).sorted(by: { memory.arrivalSteps[$0] < memory.arrivalSteps[$1] }) {
                estimate.add(score(memory.latest[slot]))
            }
            return estimate
        }
        if configured.flags.memorizationQuantile != configuration.flags.memorizationQuantile {
            rules.memorization = restarted(configured.flags.memorizationQuantile) { $0.memorization }
        }
        if configured.flags.curvatureQuantile != configuration.flags.curvatureQuantile {
            rules.curvature = restarted(configured.flags.curvatureQuantile) { $0.curvature }
        }
        configuration.flags = configured.flags
        configuration.drift = configured.drift
        rules.settings = configuration.flags
        let d = configuration.drift
        func adopt(_ detector: inout PageHinkley) {
            detector.delta = d.pageHinkleyDelta
            detector.threshold = d.pageHinkleyThreshold
            detector.minimumCount = d.pageHinkleyMinimum
        }
        adopt(&prequentialPageHinkley)
        adopt(&looPageHinkley)
        prequentialADWIN.delta = d.adwinDelta
        looADWIN.delta = d.adwinDelta
    }

    /// The arrival steps of the examples the memory holds: the only earlier examples a
    /// re-scoring can flag. A window holds the last `capacity`; a reservoir holds some for as
    /// long as the stream runs, so whoever maps steps back to where examples came from must
    /// keep those, not just the recent ones.
    public var rememberedArrivalSteps: ArraySlice<Int> { memory.arrivalSteps[0..<memory.count] }

    /// The scores of every remembered example as of its latest re-scoring.
    public var rememberedScores: [RescoredExample] {
        (0..<memory.count).map { RescoredExample(id: memory.ids[$0], arrivalStep: memory.arrivalSteps[$0], label: memory.labels[$0], scores: memory.latest[$0]) }
    }

    // MARK: Prediction

    /// Class probabilities (softmax: K; logistic: P(y=1); regression: the predicted mean) at
    /// the posterior mean.
    public func predict(_ x: [Double]) throws(ExampleError) -> [Double] {
        // 0 is a valid label for every model: only the features are being checked.
        try validate(LabeledExample(id: "", x: x, y: 0))
        var ws = Workspace(configuration)
        load(x, into: &ws)
        _ = evaluateAtMean(label: 0, workspace: &ws)
        return Workspace.values(ws.p, configuration.outputs)
    }

    /// Mean plug-in NLL and error of labeled examples under the current posterior mean, the
    /// figures a held-out test set gives and the LOO forecast predicts.
    public func evaluate(_ examples: [LabeledExample]) throws(ExampleError) -> (nll: Double, error: Double) {
        var ws = Workspace(configuration)
        var nll = 0.0, error = 0.0
        for ex in examples {
            try validate(ex)
            load(ex.x, into: &ws)
            nll += evaluateAtMean(label: ex.y, workspace: &ws)
            error += ws.p.withStart { layer.error(p: $0, y: ex.y) }
        }
        let n = Double(max(examples.count, 1))
        return (nll / n, error / n)
    }
}

