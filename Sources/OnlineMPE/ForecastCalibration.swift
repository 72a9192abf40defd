/// The calibration of the diagonal family's leave-one-out forecast.
///
/// The diagonal GGN's `Ṽ_k = Σ_j x̄_j²/S'_kj` prices the removal of an example as if no later
/// example shared its input directions, and on correlated inputs (neighbouring pixels) it
/// overstates how far the removal moves the example's own prediction: 5.5× against the learner
/// re-run without the example on Fashion-MNIST (README, "rerun"), which biases the forecast
/// upwards by about 0.1 nats. What the online learner actually does with a removed example is
/// to start every later update from a mean shifted by the removal `Δ`; each later update `t`
/// then pulls the shift back along that example's input,
/// `Δ ← Δ − S⁻¹(w_t (Λ_t ⊗ x̄_t x̄_tᵀ) Δ + (1−γ)δ Δ)` (δ the prior precision), the
/// linearization of the update `m ← m − S⁻¹(w_t J_tᵀ e_t + (1−γ)δ m)` in its starting mean.
/// Followed through the examples learned since (all of them are in a window memory), `x̄ᵀΔ` is
/// the shift the learner re-run without the example would show, up to that linearization, Λ
/// taken at the current mean and `S` at its current value for every later step.
///
/// Following every remembered example costs O(N²dK) a re-scoring, so a few are followed (one
/// per age stratum of the memory, drawn from the learner's random stream) and the ratio of
/// their propagated to their diagonal shifts, both weighted by the example's error
/// `Σ_k e_k shift_k` (the shift's first-order effect on its NLL), is pooled across re-scorings.
/// The forecast then scales every remembered example's shift `f̃ − f` by that factor. Each
/// example's own scores (label quality, memorization, flags) keep the uncalibrated shift.
struct ForecastCalibration: Sendable, Equatable {
    /// Running means of the sampled propagated and diagonal shift sums.
    private(set) var numerator = 0.0
    private(set) var denominator = 0.0
    /// Re-scorings that contributed.
    private(set) var rounds = 0
    /// The running means become exponential ones after this many re-scorings, so the factor
    /// follows the model as the memory's make-up changes.
    static let horizon = 8.0

    mutating func add(propagated: Double, diagonal: Double) {
        guard propagated.isFinite, diagonal.isFinite, diagonal > 0 else { return }
        rounds += 1
        let rate = max(1 / Double(rounds), 1 / ForecastCalibration.horizon)
        numerator += rate * (propagated - numerator)
        denominator += rate * (diagonal - denominator)
    }

    /// The factor applied to the shifts: 1 before any sample. Later updates shrink a removal's
    /// effect and never reverse it, so the factor is kept in [0, 1].
    var factor: Double {
        guard rounds > 0, denominator > 0 else { return 1 }
        return min(max(numerator / denominator, 0), 1)
    }

    func write(to w: inout SnapshotWriter) {
        w.write(numerator)
        w.write(denominator)
        w.write(rounds)
    }

    mutating func read(from r: inout SnapshotReader) throws(SnapshotError) {
        numerator = try r.readDouble(what: "calibration numerator")
        denominator = try r.readDouble(what: "calibration denominator")
        rounds = try r.readInt(what: "calibration rounds")
        guard numerator.isFinite, denominator.isFinite, denominator >= 0, rounds >= 0 else {
            throw .invalid(what: "forecast calibration (\(numerator) / \(denominator) over \(rounds) re-scorings)")
        }
    }
}

/// A remembered example whose removal is followed (`PosteriorFamily.propagatedRemovalShift`):
/// its input x̄, effective site weight, and `e`, diag Λ at the current mean.
struct RemovalSource {
    let input: UnsafePointer<Double>
    let weight: Double
    let e: UnsafePointer<Double>
    let lambdaDiagonal: UnsafePointer<Double>
}

/// The examples learned after a `RemovalSource`, in arrival order, as memory slots: inputs
/// (`columns` per slot), effective weights, and p and diag Λ at the current mean (`outputs`
/// values at `slot · stride`). `softmax`: Λ = diag(p) − ppᵀ; otherwise Λ is the one value
/// diag Λ holds.
struct LaterSites {
    let slots: UnsafeBufferPointer<Int>
    let inputs: UnsafePointer<Double>
    let weights: UnsafePointer<Double>
    let p: UnsafePointer<Double>
    let lambdaDiagonal: UnsafePointer<Double>
    let softmax: Bool
    let stride: Int
}
