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

    @Test func everyOutputIsFiniteForExtremeInputs() throws {
        for (model, family, curvature) in ExtremeInputTests.settings {
            for perturbation in PerturbationKind.allCases {
                let d = 4
                let c = LearnerConfiguration(model: model, inputDimension: d, classes: 3, family: family, curvature: curvature,
                                             perturbation: perturbation, memory: .init(capacity: 8, rescoreInterval: 5),
                                             flags: .init(warmup: 0))
                var learner = try OnlineLearner(configuration: c)
                let inputs: [[Double]] = [
                    [1e6, -1e6, 1e6, 3], [0, 0, 0, 0], [1, 1, 1, 1], [1, 1, 1, 1], [-1e6, 1e6, -1e6, 1e6],
                    [1e-300, -1e-300, Double.leastNonzeroMagnitude, 0], [1e6, 1e6, 1e6, 1e6], [2, 2, 2, 2], [1e6, -1e6, 1e6, 3],
                ]
                for (i, x) in (inputs + inputs + inputs).enumerated() {
                    let y: Double = model == .regression ? (i % 2 == 0 ? 1e6 : -3) : Double(i % (model == .softmax ? 3 : 2))
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
                let p = try learner.predict([1e6, 1e6, -1e6, 0])
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
