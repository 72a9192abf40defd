/// What the learner needs from a Gaussian posterior family (spec §2–§3): absorb one example's
/// site, and turn the current posterior into leave-one-out outputs for an example.
///
/// Implementations keep their own state as flat arrays; the `Workspace` carries the per-example
/// quantities (`input` = x̄, `f`, `p`, `e`, `lambdaDiagonal`, `lambda`) between learner and family.
protocol PosteriorFamily: Sendable {
    /// The posterior mean θ, K rows of D weights (bias last).
    var mean: [Double] { get }

    /// Absorbs the site of `(x̄, y)` with weight `w`. On entry `workspace.f/p/e/lambdaDiagonal`
    /// hold the prequential quantities at the current mean (and `lambda` the full Λ).
    mutating func absorb(label y: Double, weight: Double, workspace: inout Workspace, random: inout RandomSource)

    /// Writes the prediction variance diagonal `V_kk` into `workspace.variance[k*K+k]` (and the
    /// full V where the family has it) and the perturbed outputs `f̃` into `workspace.fTilde`,
    /// for an example whose site was absorbed with effective weight `w`. On entry
    /// `workspace.f/p/e/lambdaDiagonal/lambda` hold the quantities at the current mean.
    /// Returns false when the corrected form was not defined and the first-order form was used.
    /// A family whose `absorb` set `workspace.arrivalReady` (scoring the arriving example from
    /// its own update pass) finishes from what it left there and clears the flag.
    func perturb(weight: Double, kind: PerturbationKind, workspace: inout Workspace) -> Bool

    func write(to writer: inout SnapshotWriter)

    /// Whether `propagatedRemovalShift` is implemented.
    var propagatesRemovals: Bool { get }

    /// Writes into `shift` (K values) `x̄ᵀΔ` for the removal `Δ` of `source`'s site followed
    /// through the updates of `later` (see `ForecastCalibration`). `scratch` holds K·D + 2K
    /// values. Returns false where the family does not implement it.
    func propagatedRemovalShift(source: RemovalSource, later: LaterSites, scratch: UnsafeMutablePointer<Double>,
                                into shift: UnsafeMutablePointer<Double>) -> Bool
}

extension PosteriorFamily {
    var propagatesRemovals: Bool { false }

    func propagatedRemovalShift(source: RemovalSource, later: LaterSites, scratch: UnsafeMutablePointer<Double>,
                                into shift: UnsafeMutablePointer<Double>) -> Bool { false }
}
