/// The leave-one-out view of one example under the current posterior, with the raw outputs
/// behind the scores (for checks against refits and for what-if queries).
public struct LeaveOneOutPrediction: Sendable, Equatable {
    public var scores: Sensitivities
    /// Model outputs at the posterior mean, and after removing the example's site.
    public var f: [Double]
    public var fTilde: [Double]
    /// Probabilities (softmax: K; logistic: P(y=1); regression: the mean) before and after.
    public var p: [Double]
    public var pTilde: [Double]
    /// The K×K prediction variance `V` (diagonal families: off-diagonals are 0).
    public var variance: [Double]
}

extension OnlineLearner {
    /// The memory-perturbation quantities of `example` as if its site (with its weight) were
    /// part of the current posterior. Changes nothing.
    public func leaveOneOut(_ example: LabeledExample) throws(ExampleError) -> LeaveOneOutPrediction {
        try validate(example)
        var copy = self
        var ws = Workspace(configuration)
        copy.load(example.x, into: &ws)
        let scores = copy.score(label: example.y, weight: example.weight, workspace: &ws)
        let k = configuration.outputs
        return LeaveOneOutPrediction(scores: scores, f: Workspace.values(ws.f, k), fTilde: Workspace.values(ws.fTilde, k),
                                     p: Workspace.values(ws.p, k), pTilde: Workspace.values(ws.pTilde, k),
                                     variance: Workspace.values(ws.variance, k * k))
    }
}
