/// Input-space loss curvature (spec §5, Garg et al.): how sharply the loss bends around an
/// example in input space, reported as `‖H_x‖_F` with `H_x = ∂²ℓ/∂x²` at the posterior mean.
///
/// For the linear models `H_x = W̃ᵀΛW̃` (W̃: the weights without the bias column), so
/// `‖H_x‖_F² = tr(ΛGΛG)` with the K×K Gram matrix `G = W̃W̃ᵀ` — O(K²) per example once G is
/// known. The finite-difference estimator `sqrt(mean_r ‖∇ℓ(x+hv_r) − ∇ℓ(x)‖²)/h` with Rademacher
/// `v_r` estimates the same quantity (Hutchinson: `E‖Hv‖² = ‖H‖_F²`) for any differentiable
/// model and is kept for nonlinear models and to check the closed form.
public enum InputCurvature {
    /// The Gram matrix `G = W̃W̃ᵀ` of the weight rows without the bias column.
    static func gram(weights: [Double], rows: Int, columns: Int, into g: inout [Double]) {
        let d = columns - 1
        weights.withStart { w in
            for k in 0..<rows {
                for l in k..<rows {
                    let v = DenseKernels.dot(w + k * columns, w + l * columns, d)
                    g[k * rows + l] = v
                    g[l * rows + k] = v
                }
            }
        }
    }

    /// `‖H_x‖_F` from the probabilities at the mean and the Gram matrix.
    /// `gp` is K values of caller-owned scratch for `Gp`.
    static func closedForm(kind: ModelKind, p: UnsafePointer<Double>, gram g: UnsafePointer<Double>, outputs k: Int, noiseVariance: Double, scratch gp: UnsafeMutablePointer<Double>) -> Double {
        switch kind {
        case .regression:
            return g[0] / noiseVariance
        case .logistic:
            return p[0] * (1 - p[0]) * g[0]
        case .softmax:
            // Λ = diag(p) − ppᵀ, so (ΛG)_kl = p_k (G_kl − (Gp)_l) and
            // tr((ΛG)²) = Σ_kl p_k p_l (G_kl − (Gp)_l)(G_lk − (Gp)_k): O(K²), no K×K product.
            for r in 0..<k {
                var s = 0.0
                for c in 0..<k { s += g[r * k + c] * p[c] }
                gp[r] = s
            }
            var total = 0.0
            for r in 0..<k {
                var s = 0.0
                // G is symmetric bit for bit (`gram` writes both halves from one dot product),
                // so G_lk is read from row k: contiguous, unlike the column.
                let row = g + r * k
                for c in 0..<k { s += p[c] * (row[c] - gp[c]) * (row[c] - gp[r]) }
                total += p[r] * s
            }
            return max(total, 0).squareRoot()
        }
    }

    /// The finite-difference Hutchinson estimate of `‖H_x‖_F` for any model whose input gradient
    /// `gradient(x, into: g)` can be evaluated.
    public static func finiteDifference(
        x: [Double], probes: Int, step h: Double, random: inout RandomSource,
        gradient: (UnsafePointer<Double>, UnsafeMutablePointer<Double>) -> Void
    ) -> Double {
        let d = x.count
        var base = [Double](repeating: 0, count: d)
        var shifted = [Double](repeating: 0, count: d)
        var probe = [Double](repeating: 0, count: d)
        var point = [Double](repeating: 0, count: d)
        x.withStart { xp in base.withMutableStart { gradient(xp, $0) } }
        var total = 0.0
        for _ in 0..<probes {
            probe.withMutableStart { random.fillRademacher($0, count: d) }
            for j in 0..<d { point[j] = x[j] + h * probe[j] }
            point.withStart { pp in shifted.withMutableStart { gradient(pp, $0) } }
            var s = 0.0
            for j in 0..<d {
                let diff = shifted[j] - base[j]
                s += diff * diff
            }
            total += s
        }
        return (total / Double(probes)).squareRoot() / h
    }
}
