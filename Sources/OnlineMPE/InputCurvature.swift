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
            // G is symmetric bit for bit (`gram` writes both halves from one dot product), so
            // G_rc is read as G_cr: for a fixed c the values for consecutive r are contiguous,
            // and four rows r are summed at once, each lane over c in increasing order exactly
            // as the one-row-at-a-time loop would (the same result to the bit). In `perf annotate`
            // most of the scoring closure's samples sat on the scalar chains of dependent additions.
            var r = 0
            while r + 4 <= k {
                var s = SIMD4<Double>(repeating: 0)
                for c in 0..<k { s += load4(g + c * k + r) * p[c] }
                store4(s, gp + r)
                r += 4
            }
            while r < k {
                var s = 0.0
                for c in 0..<k { s += g[c * k + r] * p[c] }
                gp[r] = s
                r += 1
            }
            var total = 0.0
            r = 0
            while r + 4 <= k {
                var s = SIMD4<Double>(repeating: 0)
                let own = load4(gp + r)
                for c in 0..<k {
                    let column = load4(g + c * k + r)
                    s += p[c] * (column - gp[c]) * (column - own)
                }
                let w = load4(p + r) * s
                for lane in 0..<4 { total += w[lane] }
                r += 4
            }
            while r < k {
                var s = 0.0
                for c in 0..<k { s += p[c] * (g[c * k + r] - gp[c]) * (g[c * k + r] - gp[r]) }
                total += p[r] * s
                r += 1
            }
            return max(total, 0).squareRoot()
        }
    }

    @inline(__always)
    private static func load4(_ p: UnsafePointer<Double>) -> SIMD4<Double> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Double>.self)
    }

    @inline(__always)
    private static func store4(_ v: SIMD4<Double>, _ p: UnsafeMutablePointer<Double>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD4<Double>.self)
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
