/// Scratch buffers for one example, owned by the learner and reused so that the hot path
/// allocates nothing. Nothing in here is state: a snapshot never stores it.
///
/// The buffers are pointers into one allocation (`WorkspaceStorage`), not arrays: every access
/// to an array buffer inside the nested closures of the hot path retained and released it
/// (about 10 % of the default diagonal learner's `perf` samples at d = 64), and a pointer needs
/// neither that nor a uniqueness check. The price is that a copy of a `Workspace` aliases the same memory, so the
/// learner checks out its workspace only when it holds the sole reference to the storage
/// (`OnlineLearner.checkOutWorkspace`); a copied learner gets a fresh one on its first use.
struct Workspace: @unchecked Sendable {
    /// Keeps the memory the pointers address alive (and tells whether a copy shares it).
    var storage: WorkspaceStorage
    /// x with the bias feature appended (D values).
    let input: UnsafeMutablePointer<Double>
    let f: UnsafeMutablePointer<Double>
    let p: UnsafeMutablePointer<Double>
    let e: UnsafeMutablePointer<Double>
    let lambdaDiagonal: UnsafeMutablePointer<Double>
    /// Full K×K Λ, and K×K / K×(K+1) systems solved per example.
    let lambda: UnsafeMutablePointer<Double>
    let system: UnsafeMutablePointer<Double>
    let rightHandSide: UnsafeMutablePointer<Double>
    /// K×K prediction variance V.
    let variance: UnsafeMutablePointer<Double>
    let fTilde: UnsafeMutablePointer<Double>
    /// Set by a family whose `absorb` already left the arriving example's outputs at the new
    /// mean in `f`, its prediction variance in `variance` and, in `arrival`, the per-output
    /// `Σ_j x̄_j²/S'_kj` of the precision without its site (the diagonal family); the learner
    /// then skips the forward pass, and the family's `perturb` finishes from those sums and
    /// clears it.
    var arrivalReady = false
    let arrival: UnsafeMutablePointer<Double>
    let pTilde: UnsafeMutablePointer<Double>
    /// `G p` for the closed-form input curvature (K values).
    let gramProduct: UnsafeMutablePointer<Double>
    /// Parameter-sized buffers: K×n projections for `full` ((L+1)·K×n with a relinearization
    /// window: `B_j = P₀ J_jᵀ` of every window site, then `C = M B`), samples for `ivon`.
    let projections: UnsafeMutablePointer<Double>
    let projections2: UnsafeMutablePointer<Double>
    let parameters: UnsafeMutablePointer<Double>
    let noise: UnsafeMutablePointer<Double>
    /// K-sized buffers of the `full` family's per-example site problem: the accepted and trial
    /// outputs f and dual variables u (θ = m − P Jᵀ u), and the Newton step.
    var siteOutput: UnsafeMutablePointer<Double>
    var siteOutputTrial: UnsafeMutablePointer<Double>
    var siteDual: UnsafeMutablePointer<Double>
    var siteDualTrial: UnsafeMutablePointer<Double>
    let siteStep: UnsafeMutablePointer<Double>
    /// The `full` family's window problem over N = |W|·K outputs (capacity (L+1)·K): N×N
    /// `V_W = J_W P₀ J_Wᵀ`, the N×N system and right-hand side, the outputs `f₀ = J_W m₀`, the
    /// accepted and trial outputs and duals, the Newton step, `e` per site and the K×K `Λ` per
    /// site. Empty unless the window is in use.
    let windowVariance: UnsafeMutablePointer<Double>
    let windowSystem: UnsafeMutablePointer<Double>
    let windowRightHandSide: UnsafeMutablePointer<Double>
    let windowPrior: UnsafeMutablePointer<Double>
    var windowOutput: UnsafeMutablePointer<Double>
    var windowOutputTrial: UnsafeMutablePointer<Double>
    var windowDual: UnsafeMutablePointer<Double>
    var windowDualTrial: UnsafeMutablePointer<Double>
    let windowStep: UnsafeMutablePointer<Double>
    let windowE: UnsafeMutablePointer<Double>
    let windowLambda: UnsafeMutablePointer<Double>
    /// Input-sized buffers for the finite-difference curvature estimator.
    let probe: UnsafeMutablePointer<Double>
    let gradient: UnsafeMutablePointer<Double>
    let gradient2: UnsafeMutablePointer<Double>

    init(_ c: LearnerConfiguration) {
        let k = c.outputs
        let n = c.parameterCount
        let slots = FullPosterior.windowCapacity(c) + 1
        let big = c.family == .full ? slots * k * n : 0
        let windowed = c.family == .full && slots > 1
        let system = windowed ? slots * k : 0
        let sampled = c.curvature == .ivon ? n : 0
        var layout = WorkspaceLayout()
        let offsets = (
            input: layout.reserve(c.augmentedDimension), f: layout.reserve(k), p: layout.reserve(k), e: layout.reserve(k),
            lambdaDiagonal: layout.reserve(k), lambda: layout.reserve(k * k), system: layout.reserve(k * k),
            rightHandSide: layout.reserve(k * (k + 1)), variance: layout.reserve(k * k), fTilde: layout.reserve(k),
            arrival: layout.reserve(k), pTilde: layout.reserve(k), gramProduct: layout.reserve(k),
            projections: layout.reserve(big), projections2: layout.reserve(big),
            parameters: layout.reserve(sampled), noise: layout.reserve(sampled),
            siteOutput: layout.reserve(k), siteOutputTrial: layout.reserve(k), siteDual: layout.reserve(k),
            siteDualTrial: layout.reserve(k), siteStep: layout.reserve(k))
        let window = (
            variance: layout.reserve(system * system), system: layout.reserve(system * system),
            rightHandSide: layout.reserve(system * system), prior: layout.reserve(system), output: layout.reserve(system),
            outputTrial: layout.reserve(system), dual: layout.reserve(system), dualTrial: layout.reserve(system),
            step: layout.reserve(system), e: layout.reserve(system), lambda: layout.reserve(windowed ? slots * k * k : 0))
        let finite = (probe: layout.reserve(c.inputDimension), gradient: layout.reserve(c.inputDimension),
                      gradient2: layout.reserve(c.inputDimension))
        storage = WorkspaceStorage(count: layout.total)
        let base = storage.base
        input = base + offsets.input
        f = base + offsets.f
        p = base + offsets.p
        e = base + offsets.e
        lambdaDiagonal = base + offsets.lambdaDiagonal
        lambda = base + offsets.lambda
        self.system = base + offsets.system
        rightHandSide = base + offsets.rightHandSide
        variance = base + offsets.variance
        fTilde = base + offsets.fTilde
        arrival = base + offsets.arrival
        pTilde = base + offsets.pTilde
        gramProduct = base + offsets.gramProduct
        projections = base + offsets.projections
        projections2 = base + offsets.projections2
        parameters = base + offsets.parameters
        noise = base + offsets.noise
        siteOutput = base + offsets.siteOutput
        siteOutputTrial = base + offsets.siteOutputTrial
        siteDual = base + offsets.siteDual
        siteDualTrial = base + offsets.siteDualTrial
        siteStep = base + offsets.siteStep
        windowVariance = base + window.variance
        windowSystem = base + window.system
        windowRightHandSide = base + window.rightHandSide
        windowPrior = base + window.prior
        windowOutput = base + window.output
        windowOutputTrial = base + window.outputTrial
        windowDual = base + window.dual
        windowDualTrial = base + window.dualTrial
        windowStep = base + window.step
        windowE = base + window.e
        windowLambda = base + window.lambda
        probe = base + finite.probe
        gradient = base + finite.gradient
        gradient2 = base + finite.gradient2
    }

    /// A copy of `count` values of one buffer, for results that leave the learner.
    static func values(_ buffer: UnsafeMutablePointer<Double>, _ count: Int) -> [Double] {
        Array(UnsafeBufferPointer(start: buffer, count: count))
    }
}

/// Offsets of the workspace's buffers in its one allocation. Each starts on a 64-byte boundary
/// (the SIMD kernels load unaligned, but then no load straddles a cache line needlessly) and
/// gets at least one cache line: a buffer a family does not use (count 0) still owns an
/// element, so code that touches its first element (an empty array handed such code the
/// address of a local zero) cannot write into a neighbour.
struct WorkspaceLayout {
    private(set) var total = 0

    mutating func reserve(_ count: Int) -> Int {
        let start = total
        total += (max(count, 1) + 7) / 8 * 8
        return start
    }
}

/// The memory behind a `Workspace`: one zeroed, 64-byte aligned allocation, freed with the
/// last reference. A class only for that lifetime; the learner never shares one between two
/// users (see `Workspace`), which is why it may be `@unchecked Sendable`.
final class WorkspaceStorage: @unchecked Sendable {
    let base: UnsafeMutablePointer<Double>

    init(count: Int) {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Double>.stride, alignment: 64)
        base = raw.initializeMemory(as: Double.self, repeating: 0, count: count)
    }

    deinit { UnsafeMutableRawPointer(base).deallocate() }
}

extension UnsafeMutablePointer<Double> {
    /// The pointer itself: lets the code that reads a workspace buffer keep the shape it has
    /// for the learner's own arrays (`Array.withStart`).
    @inline(__always)
    func withStart<R>(_ body: (UnsafePointer<Double>) throws -> R) rethrows -> R { try body(UnsafePointer(self)) }

    /// Mutable counterpart of `withStart`.
    @inline(__always)
    func withMutableStart<R>(_ body: (UnsafeMutablePointer<Double>) throws -> R) rethrows -> R { try body(self) }
}
