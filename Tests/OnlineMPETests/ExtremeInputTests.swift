import Testing
@testable import OnlineMPE

/// Spec §6: every figure finite for extreme inputs; bad input refused with a clear error.
@Suite struct ExtremeInputTests {
    static let settings: [(ModelKind, PosteriorFamilyKind, CurvatureEstimatorKind)] = [
        (.regression, .full, .ggn), (.regression, .diagonal, .ggn), (.regression, .diagonal, .ivon),
        (.logistic, .full, .ggn), (.logistic, .diagonal, .ggn), (.logistic, .diagonal, .ivon),
        (.softmax, .full, .ggn), (.softmax, .diagonal, .ggn), (.softmax, .diagonal, .ivon),
    ]

    func allFinite(_ s: Sensitivities) -> Bool {
        [s.labelQuality, s.memorization, s.sensitivity, s.deviation, s.curvature, s.looNLL, s.looError, s.looPredicted, s.predicted, s.predictionVariance].allSatisfy(\.isFinite)
    }

    /// At |x| = 1e6, and at the largest inputs the learner accepts (‖x‖² just under 1e60 with
    /// regression labels of 1e30).
    @Test(arguments: [1e6, 3.9e29])
    func everyOutputIsFiniteForExtremeInputs(scale: Double) throws {
        for (model, family, curvature) in ExtremeInputTests.settings {
            for perturbation in PerturbationKind.allCases {
                let d = 4
                let c = LearnerConfiguration(model: model, inputDimension: d, classes: 3, family: family, curvature: curvature,
                                             perturbation: perturbation, memory: .init(capacity: 8, rescoreInterval: 5),
                                             flags: .init(warmup: 0))
                var learner = try OnlineLearner(configuration: c)
                let big = scale
                let inputs: [[Double]] = [
                    [big, -big, big, 3], [0, 0, 0, 0], [1, 1, 1, 1], [1, 1, 1, 1], [-big, big, -big, big],
                    [1e-300, -1e-300, Double.leastNonzeroMagnitude, 0], [big, big, big, big], [2, 2, 2, 2], [big, -big, big, 3],
                ]
                for (i, x) in (inputs + inputs + inputs).enumerated() {
                    let label = scale > 1e6 ? OnlineLearner.maximumRegressionLabel : 1e6
                    let y: Double = model == .regression ? (i % 2 == 0 ? label : -3) : Double(i % (model == .softmax ? 3 : 2))
                    let report = try learner.learn(LabeledExample(id: "\(i)", x: x, y: y))
                    let where_ = "\(model) \(family) \(curvature) \(perturbation) example \(i)"
                    let finite = allFinite(report.scores)
                    #expect(finite, "\(where_): \(report.scores)")
                    #expect(report.prequential.nll.isFinite && report.prequential.labelProbability.isFinite, "\(where_)")
                    if let r = report.rescoring {
                        let rescoredFinite = r.examples.allSatisfy { allFinite($0.scores) }
                        #expect(rescoredFinite, "\(where_) re-scoring")
                        let g = r.generalization
                        let figures = [g.looNLL, g.looError, g.prequentialNLL, g.prequentialError, g.recentPrequentialNLL]
                        #expect(!figures.contains { !$0.isFinite }, "\(where_)")
                    }
                }
                #expect(!learner.mean.contains { !$0.isFinite }, "\(model) \(family) \(curvature): mean")
                let p = try learner.predict([big, big, -big, 0])
                #expect(!p.contains { !$0.isFinite })
            }
        }
    }

    @Test func probabilitiesAtZeroAndOneStayFinite() throws {
        // Drive a logistic model to certainty, then show it the opposite label.
        let c = LearnerConfiguration(model: .logistic, inputDimension: 1, family: .full, priorPrecision: 1e-6)
        var learner = try OnlineLearner(configuration: c)
        for i in 0..<200 { _ = try learner.learn(LabeledExample(id: "\(i)", x: [1e3], y: 1)) }
        let p = try learner.predict([1e6])
        #expect(p[0] == 1)
        let report = try learner.learn(LabeledExample(id: "odd", x: [1e6], y: 0))
        #expect(report.prequential.nll.isFinite && report.prequential.nll <= 23.1)
        let finite = allFinite(report.scores)
        #expect(finite)
        #expect(report.scores.labelQuality >= 1e-10)
    }

    @Test func badInputIsRefusedWithAClearErrorAndChangesNothing() throws {
        let c = LearnerConfiguration(model: .softmax, inputDimension: 3, classes: 4)
        var learner = try OnlineLearner(configuration: c)
        _ = try learner.learn(LabeledExample(id: "a", x: [1, 2, 3], y: 1))
        let before = learner.snapshot()
        let cases: [(LabeledExample, ExampleError)] = [
            (LabeledExample(id: "n", x: [1, .nan, 3], y: 0), .nonFiniteFeature(index: 1)),
            (LabeledExample(id: "i", x: [1, 2, .infinity], y: 0), .nonFiniteFeature(index: 2)),
            (LabeledExample(id: "d", x: [1, 2], y: 0), .wrongDimension(expected: 3, got: 2)),
            (LabeledExample(id: "y", x: [1, 2, 3], y: 4), .invalidLabel("4.0 is not a class index in 0..<4")),
            (LabeledExample(id: "f", x: [1, 2, 3], y: 1.5), .invalidLabel("1.5 is not a class index in 0..<4")),
            (LabeledExample(id: "w", x: [1, 2, 3], y: 1, weight: -1), .invalidWeight(-1)),
        ]
        for (example, expected) in cases {
            #expect(throws: expected) { try learner.learn(example) }
        }
        #expect(learner.snapshot() == before)
        #expect(ExampleError.nonFiniteFeature(index: 1).description == "non-finite value: x[1] is NaN or infinite")
    }

    /// The finiteness check runs four values at a time with a scalar tail: every position of
    /// both parts, each kind of non-finite value, the first of two, and the extreme finite
    /// values it must let through.
    @Test func everyNonFiniteFeatureIsFoundAtItsIndex() throws {
        let d = 11
        var learner = try OnlineLearner(configuration: LearnerConfiguration(model: .softmax, inputDimension: d, classes: 3))
        let base = (0..<d).map { Double($0) / 10 }
        for bad in [Double.nan, .infinity, -.infinity, -Double.signalingNaN] {
            for i in 0..<d {
                var x = base
                x[i] = bad
                #expect(throws: ExampleError.nonFiniteFeature(index: i)) { try learner.learn(LabeledExample(id: "b", x: x, y: 0)) }
                if i + 1 < d {
                    x[d - 1] = .nan
                    #expect(throws: ExampleError.nonFiniteFeature(index: i)) { try learner.learn(LabeledExample(id: "c", x: x, y: 0)) }
                }
            }
        }
        #expect(learner.step == 0)
        let extremes: [Double] = [.leastNonzeroMagnitude, -0.0, 1e29, -1e-300, 0, 1, 2, 3, 4, -1e29, 5]
        #expect(throws: Never.self) { try learner.validate(LabeledExample(id: "e", x: extremes, y: 1)) }
        // Finite but too large: refused with the index of the largest value (scalar part and tail).
        for (i, big) in [(2, 1e31), (9, -Double.greatestFiniteMagnitude)] {
            var x = extremes
            x[i] = big
            #expect(throws: ExampleError.featuresTooLarge(index: i, value: big)) { try learner.validate(LabeledExample(id: "t", x: x, y: 1)) }
        }
        // Many values each fine whose squares add up past the bound.
        #expect(throws: ExampleError.self) { try learner.validate(LabeledExample(id: "s", x: [Double](repeating: 4e29, count: d), y: 1)) }
        var regression = try OnlineLearner(configuration: LearnerConfiguration(model: .regression, inputDimension: 1))
        #expect(throws: ExampleError.invalidLabel("1e+31 exceeds 1e+30 in magnitude (regression); scale the labels")) {
            try regression.learn(LabeledExample(id: "r", x: [1], y: 1e31))
        }
    }

    @Test func invalidConfigurationNamesTheKey() {
        var c = LearnerConfiguration(inputDimension: 3)
        c.forgetting = 1.5
        #expect(throws: ConfigurationError(key: "forgetting", allowed: "a number in (0, 1]", got: "1.5")) { try OnlineLearner(configuration: c) }
        c = LearnerConfiguration(inputDimension: 3, family: .full, curvature: .ivon)
        #expect(throws: ConfigurationError.self) { try OnlineLearner(configuration: c) }
        c = LearnerConfiguration(inputDimension: 3, relinearizationWindow: -1)
        #expect(throws: ConfigurationError(key: "relinearization_window", allowed: "an integer from 0 to 256", got: "-1")) { try OnlineLearner(configuration: c) }
        // The window's joint system has (L + 1)·K rows: 17 · 300 is over the bound.
        c = LearnerConfiguration(inputDimension: 1, classes: 300, family: .full, relinearizationWindow: 16)
        #expect(throws: ConfigurationError.self) { try OnlineLearner(configuration: c) }
        // The diagonal family keeps no window, so the same setting is fine there.
        c.family = .diagonal
        #expect(throws: Never.self) { try c.validate() }
    }
}
