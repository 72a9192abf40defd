/// Scratch buffers for one example, owned by the learner and reused so that the hot path
/// allocates nothing. Nothing in here is state: a snapshot never stores it.
struct Workspace: Sendable {
    /// x with the bias feature appended (D values).
    var input: [Double]
    var f: [Double]
    var p: [Double]
    var e: [Double]
    var lambdaDiagonal: [Double]
    /// Full K×K Λ, and K×K / K×(K+1) systems solved per example.
    var lambda: [Double]
    var system: [Double]
    var rightHandSide: [Double]
    /// K×K prediction variance V.
    var variance: [Double]
    var fTilde: [Double]
    /// Set by a family whose `absorb` already left the arriving example's outputs at the new
    /// mean in `f`, its prediction variance in `variance` and, in `arrival`, the per-output
    /// `Σ_j x̄_j²/S'_kj` of the precision without its site (the diagonal family); the learner
    /// then skips the forward pass, and the family's `perturb` finishes from those sums and
    /// clears it.
    var arrivalReady = false
    var arrival: [Double]
    var pTilde: [Double]
    /// `G p` for the closed-form input curvature (K values).
    var gramProduct: [Double]
    /// Parameter-sized buffers: K×n projections for `full` ((L+1)·K×n with a relinearization
    /// window: `B_j = P₀ J_jᵀ` of every window site, then `C = M B`), samples for `ivon`.
    var projections: [Double]
    var projections2: [Double]
    var parameters: [Double]
    var noise: [Double]
    /// K-sized buffers of the `full` family's per-example site problem: the accepted and trial
    /// outputs f and dual variables u (θ = m − P Jᵀ u), and the Newton step.
    var siteOutput: [Double]
    var siteOutputTrial: [Double]
    var siteDual: [Double]
    var siteDualTrial: [Double]
    var siteStep: [Double]
    /// The `full` family's window problem over N = |W|·K outputs (capacity (L+1)·K): N×N
    /// `V_W = J_W P₀ J_Wᵀ`, the N×N system and right-hand side, the outputs `f₀ = J_W m₀`, the
    /// accepted and trial outputs and duals, the Newton step, `e` per site and the K×K `Λ` per
    /// site. Empty unless the window is in use.
    var windowVariance: [Double]
    var windowSystem: [Double]
    var windowRightHandSide: [Double]
    var windowPrior: [Double]
    var windowOutput: [Double]
    var windowOutputTrial: [Double]
    var windowDual: [Double]
    var windowDualTrial: [Double]
    var windowStep: [Double]
    var windowE: [Double]
    var windowLambda: [Double]
    /// Input-sized buffers for the finite-difference curvature estimator.
    var probe: [Double]
    var gradient: [Double]
    var gradient2: [Double]

    init(_ c: LearnerConfiguration) {
        let k = c.outputs
        let n = c.parameterCount
        input = .init(repeating: 0, count: c.augmentedDimension)
        f = .init(repeating: 0, count: k)
        p = .init(repeating: 0, count: k)
        e = .init(repeating: 0, count: k)
        lambdaDiagonal = .init(repeating: 0, count: k)
        lambda = .init(repeating: 0, count: k * k)
        system = .init(repeating: 0, count: k * k)
        rightHandSide = .init(repeating: 0, count: k * (k + 1))
        variance = .init(repeating: 0, count: k * k)
        fTilde = .init(repeating: 0, count: k)
        arrival = .init(repeating: 0, count: k)
        pTilde = .init(repeating: 0, count: k)
        gramProduct = .init(repeating: 0, count: k)
        siteOutput = .init(repeating: 0, count: k)
        siteOutputTrial = .init(repeating: 0, count: k)
        siteDual = .init(repeating: 0, count: k)
        siteDualTrial = .init(repeating: 0, count: k)
        siteStep = .init(repeating: 0, count: k)
        let slots = FullPosterior.windowCapacity(c) + 1
        let big = c.family == .full ? slots * k * n : 0
        let windowed = c.family == .full && slots > 1
        let system = windowed ? slots * k : 0
        windowVariance = .init(repeating: 0, count: system * system)
        windowSystem = .init(repeating: 0, count: system * system)
        windowRightHandSide = .init(repeating: 0, count: system * system)
        windowPrior = .init(repeating: 0, count: system)
        windowOutput = .init(repeating: 0, count: system)
        windowOutputTrial = .init(repeating: 0, count: system)
        windowDual = .init(repeating: 0, count: system)
        windowDualTrial = .init(repeating: 0, count: system)
        windowStep = .init(repeating: 0, count: system)
        windowE = .init(repeating: 0, count: system)
        windowLambda = .init(repeating: 0, count: windowed ? slots * k * k : 0)
        projections = .init(repeating: 0, count: big)
        projections2 = .init(repeating: 0, count: big)
        let sampled = c.curvature == .ivon ? n : 0
        parameters = .init(repeating: 0, count: sampled)
        noise = .init(repeating: 0, count: sampled)
        probe = .init(repeating: 0, count: c.inputDimension)
        gradient = .init(repeating: 0, count: c.inputDimension)
        gradient2 = .init(repeating: 0, count: c.inputDimension)
    }
}
