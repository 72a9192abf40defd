/// Scratch buffers for one example, owned by the learner and reused so that the hot path
/// allocates nothing. Nothing in here is state: a snapshot never stores it.
///
/// The buffers are pointers into one allocation (`WorkspaceStorage`), not arrays: every access
/// to an array buffer inside the nested closures of the hot path retained and released it
/// (about 10 % of the default diagonal learner's `perf` samples at d = 64), and a pointer needs
/// neither that nor a uniqueness check. The price is that a copy of a `Workspace` aliases the same memory, so the
/// learner checks out its workspace only when it holds the sole reference to the storage
/// (`OnlineLearner.checkOutWorkspace`); a copied learner gets a fresh one on its first use.
///
/// The pointers that never change live in the storage object, not here: the learner moves its
/// workspace out and back on every example, and with all of them inline (370 bytes) that was
/// five or six `memcpy` calls per example, 6 % of the per-arrival path at d = 64 (`perf`,
/// gdb on `memmove`). Only the pointers the `full` family swaps stay in the value.
struct Workspace: @unchecked Sendable {
    /// Keeps the memory the pointers address alive (and tells whether a copy shares it).
    var storage: WorkspaceStorage
    /// x with the bias feature appended (D values).
    @inline(__always) var input: UnsafeMutablePointer<Double> { storage.input }
    @inline(__always) var f: UnsafeMutablePointer<Double> { storage.f }
    @inline(__always) var p: UnsafeMutablePointer<Double> { storage.p }
    @inline(__always) var e: UnsafeMutablePointer<Double> { storage.e }
    @inline(__always) var lambdaDiagonal: UnsafeMutablePointer<Double> { storage.lambdaDiagonal }
    /// Full K×K Λ, and K×K / K×(K+1) systems solved per example.
    @inline(__always) var lambda: UnsafeMutablePointer<Double> { storage.lambda }
    @inline(__always) var system: UnsafeMutablePointer<Double> { storage.system }
    @inline(__always) var rightHandSide: UnsafeMutablePointer<Double> { storage.rightHandSide }
    /// K×K prediction variance V.
    @inline(__always) var variance: UnsafeMutablePointer<Double> { storage.variance }
    @inline(__always) var fTilde: UnsafeMutablePointer<Double> { storage.fTilde }
    @inline(__always) var arrival: UnsafeMutablePointer<Double> { storage.arrival }
    @inline(__always) var pTilde: UnsafeMutablePointer<Double> { storage.pTilde }
    /// `G p` for the closed-form input curvature (K values).
    @inline(__always) var gramProduct: UnsafeMutablePointer<Double> { storage.gramProduct }
    /// Parameter-sized buffers: K×n projections for `full` ((L+1)·K×n with a relinearization
    /// window: `B_j = P₀ J_jᵀ` of every window site, then `C = M B`), samples for `ivon`.
    @inline(__always) var projections: UnsafeMutablePointer<Double> { storage.projections }
    @inline(__always) var projections2: UnsafeMutablePointer<Double> { storage.projections2 }
    @inline(__always) var parameters: UnsafeMutablePointer<Double> { storage.parameters }
    @inline(__always) var noise: UnsafeMutablePointer<Double> { storage.noise }
    @inline(__always) var siteStep: UnsafeMutablePointer<Double> { storage.siteStep }
    /// The `full` family's window problem over N = |W|·K outputs (capacity (L+1)·K): N×N
    /// `V_W = J_W P₀ J_Wᵀ`, the N×N system and right-hand side, the outputs `f₀ = J_W m₀`, the
    /// accepted and trial outputs and duals, the Newton step, `e` per site and the K×K `Λ` per
    /// site. Empty unless the window is in use.
    @inline(__always) var windowVariance: UnsafeMutablePointer<Double> { storage.windowVariance }
    @inline(__always) var windowSystem: UnsafeMutablePointer<Double> { storage.windowSystem }
    @inline(__always) var windowRightHandSide: UnsafeMutablePointer<Double> { storage.windowRightHandSide }
    @inline(__always) var windowPrior: UnsafeMutablePointer<Double> { storage.windowPrior }
    @inline(__always) var windowStep: UnsafeMutablePointer<Double> { storage.windowStep }
    @inline(__always) var windowE: UnsafeMutablePointer<Double> { storage.windowE }
    @inline(__always) var windowLambda: UnsafeMutablePointer<Double> { storage.windowLambda }
    /// Input-sized buffers for the finite-difference curvature estimator.
    @inline(__always) var probe: UnsafeMutablePointer<Double> { storage.probe }
    @inline(__always) var gradient: UnsafeMutablePointer<Double> { storage.gradient }
    @inline(__always) var gradient2: UnsafeMutablePointer<Double> { storage.gradient2 }
    /// Set by a family whose `absorb` already left the arriving example's outputs at the new
    /// mean in `f`, its prediction variance in `variance` and, in `arrival`, the per-output
    /// `Σ_j x̄_j²/S'_kj` of the precision without its site (the diagonal family); the learner
    /// then skips the forward pass, and the family's `perturb` finishes from those sums and
    /// clears it.
    var arrivalReady = false
    /// K-sized buffers of the `full` family's per-example site problem: the accepted and trial
    /// outputs f and dual variables u (θ = m − P Jᵀ u), and the Newton step.
    var siteOutput: UnsafeMutablePointer<Double>
    var siteOutputTrial: UnsafeMutablePointer<Double>
    var siteDual: UnsafeMutablePointer<Double>
    var siteDualTrial: UnsafeMutablePointer<Double>
    var windowOutput: UnsafeMutablePointer<Double>
    var windowOutputTrial: UnsafeMutablePointer<Double>
    var windowDual: UnsafeMutablePointer<Double>
    var windowDualTrial: UnsafeMutablePointer<Double>

    init(_ c: LearnerConfiguration) {
        storage = WorkspaceStorage(c)
        siteOutput = storage.initialSiteOutput
        siteOutputTrial = storage.initialSiteOutputTrial
        siteDual = storage.initialSiteDual
        siteDualTrial = storage.initialSiteDualTrial
        windowOutput = storage.initialWindowOutput
        windowOutputTrial = storage.initialWindowOutputTrial
        windowDual = storage.initialWindowDual
        windowDualTrial = storage.initialWindowDualTrial
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
/// last reference, and the fixed addresses of the buffers in it (see `Workspace` for what each
/// holds). A class only for that lifetime and for the workspace's cheap moves; the learner
/// never shares one between two users (see `Workspace`), which is why it may be
/// `@unchecked Sendable`.
final class WorkspaceStorage: @unchecked Sendable {
    let base: UnsafeMutablePointer<Double>
    let input: UnsafeMutablePointer<Double>
    let f: UnsafeMutablePointer<Double>
    let p: UnsafeMutablePointer<Double>
    let e: UnsafeMutablePointer<Double>
    let lambdaDiagonal: UnsafeMutablePointer<Double>
    let lambda: UnsafeMutablePointer<Double>
    let system: UnsafeMutablePointer<Double>
    let rightHandSide: UnsafeMutablePointer<Double>
    let variance: UnsafeMutablePointer<Double>
    let fTilde: UnsafeMutablePointer<Double>
    let arrival: UnsafeMutablePointer<Double>
    let pTilde: UnsafeMutablePointer<Double>
    let gramProduct: UnsafeMutablePointer<Double>
    let projections: UnsafeMutablePointer<Double>
    let projections2: UnsafeMutablePointer<Double>
    let parameters: UnsafeMutablePointer<Double>
    let noise: UnsafeMutablePointer<Double>
    let siteStep: UnsafeMutablePointer<Double>
    let windowVariance: UnsafeMutablePointer<Double>
    let windowSystem: UnsafeMutablePointer<Double>
    let windowRightHandSide: UnsafeMutablePointer<Double>
    let windowPrior: UnsafeMutablePointer<Double>
    let windowStep: UnsafeMutablePointer<Double>
    let windowE: UnsafeMutablePointer<Double>
    let windowLambda: UnsafeMutablePointer<Double>
    let probe: UnsafeMutablePointer<Double>
    let gradient: UnsafeMutablePointer<Double>
    let gradient2: UnsafeMutablePointer<Double>
    /// Where the buffers the `full` family swaps start out (the workspace holds the current ones).
    let initialSiteOutput: UnsafeMutablePointer<Double>
    let initialSiteOutputTrial: UnsafeMutablePointer<Double>
    let initialSiteDual: UnsafeMutablePointer<Double>
    let initialSiteDualTrial: UnsafeMutablePointer<Double>
    let initialWindowOutput: UnsafeMutablePointer<Double>
    let initialWindowOutputTrial: UnsafeMutablePointer<Double>
    let initialWindowDual: UnsafeMutablePointer<Double>
    let initialWindowDualTrial: UnsafeMutablePointer<Double>

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
        let raw = UnsafeMutableRawPointer.allocate(byteCount: layout.total * MemoryLayout<Double>.stride, alignment: 64)
        let start = raw.initializeMemory(as: Double.self, repeating: 0, count: layout.total)
        base = start
        input = start + offsets.input
        f = start + offsets.f
        p = start + offsets.p
        e = start + offsets.e
        lambdaDiagonal = start + offsets.lambdaDiagonal
        lambda = start + offsets.lambda
        self.system = start + offsets.system
        rightHandSide = start + offsets.rightHandSide
        variance = start + offsets.variance
        fTilde = start + offsets.fTilde
        arrival = start + offsets.arrival
        pTilde = start + offsets.pTilde
        gramProduct = start + offsets.gramProduct
        projections = start + offsets.projections
        projections2 = start + offsets.projections2
        parameters = start + offsets.parameters
        noise = start + offsets.noise
        initialSiteOutput = start + offsets.siteOutput
        initialSiteOutputTrial = start + offsets.siteOutputTrial
        initialSiteDual = start + offsets.siteDual
        initialSiteDualTrial = start + offsets.siteDualTrial
        siteStep = start + offsets.siteStep
        windowVariance = start + window.variance
        windowSystem = start + window.system
        windowRightHandSide = start + window.rightHandSide
        windowPrior = start + window.prior
        initialWindowOutput = start + window.output
        initialWindowOutputTrial = start + window.outputTrial
        initialWindowDual = start + window.dual
        initialWindowDualTrial = start + window.dualTrial
        windowStep = start + window.step
        windowE = start + window.e
        windowLambda = start + window.lambda
        probe = start + finite.probe
        gradient = start + finite.gradient
        gradient2 = start + finite.gradient2
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
