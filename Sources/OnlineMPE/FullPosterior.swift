/// Full-covariance Gaussian posterior updated by the online Newton (Laplace filter) rule of
/// spec §2. Exact for `regression`: after any order of the same examples it equals the batch
/// posterior. Keeps the covariance `P = S⁻¹` (n×n, n = K·D), so it is for small models.
struct FullPosterior: PosteriorFamily {
    let rows: Int
    let columns: Int
    let forgetting: Double
    private(set) var mean: [Double]
    /// Row-major n×n covariance, kept symmetric by updating the upper triangle and mirroring.
    private(set) var covariance: [Double]

    var parameterCount: Int { rows * columns }

    init(configuration c: LearnerConfiguration) {
        rows = c.outputs
        columns = c.augmentedDimension
        forgetting = c.forgetting
        let n = c.parameterCount
        mean = .init(repeating: 0, count: n)
        covariance = .init(repeating: 0, count: n * n)
        let variance = 1 / c.priorPrecision
        for i in 0..<n { covariance[i * n + i] = variance }
    }

    /// A posterior with a given mean and covariance (for checks at a batch optimum).
    init(configuration c: LearnerConfiguration, mean: [Double], covariance: [Double]) {
        self.init(configuration: c)
        self.mean = mean
        self.covariance = covariance
    }

    /// `B = P Jᵀ` as K rows of n (row k is Σ_j x̄_j P[k·D+j, :], using P's symmetry) and
    /// `V = J P Jᵀ` (K×K).
    private func project(
        input x: UnsafePointer<Double>, covariance p: UnsafePointer<Double>,
        into b: UnsafeMutablePointer<Double>, variance v: UnsafeMutablePointer<Double>
    ) {
        let n = parameterCount
        for k in 0..<rows {
            let row = b + k * n
            row.update(repeating: 0, count: n)
            for j in 0..<columns where x[j] != 0 {
                DenseKernels.axpy(x[j], p + (k * columns + j) * n, row, n)
            }
        }
        for k in 0..<rows {
            for l in 0..<rows {
                v[k * rows + l] = DenseKernels.dot(b + l * n + k * columns, x, columns)
            }
        }
    }

    private func project(_ ws: inout Workspace) {
        let p = covariance
        ws.input.withStart { x in
            ws.projections.withMutableStart { b in
                ws.variance.withMutableStart { v in
                    p.withStart { p in project(input: x, covariance: p, into: b, variance: v) }
                }
            }
        }
    }

    mutating func absorb(label y: Double, weight w: Double, workspace ws: inout Workspace, random: inout RandomSource) {
        let n = parameterCount
        let k = rows
        if forgetting < 1 {
            // Exponentially weighted RLS: the whole precision is scaled by γ (see README).
            let s = 1 / forgetting
            covariance.withMutableStart { p in for i in 0..<(n * n) { p[i] *= s } }
        }
        project(&ws)
        // A = I + wΛV;  solve A [z | Z] = [e | wΛ]: z gives the mean step, Z = (I + wΛV)⁻¹wΛ
        // the rank-K covariance downdate.
        for r in 0..<k {
            for c in 0..<k {
                var s = 0.0
                for t in 0..<k { s += ws.lambda[r * k + t] * ws.variance[t * k + c] }
                ws.system[r * k + c] = (r == c ? 1 : 0) + w * s
            }
            ws.rightHandSide[r * (k + 1)] = ws.e[r]
            for c in 0..<k { ws.rightHandSide[r * (k + 1) + 1 + c] = w * ws.lambda[r * k + c] }
        }
        let solved = ws.system.withMutableStart { a in
            ws.rightHandSide.withMutableStart { rhs in DenseKernels.solve(a, rhs, n: k, m: k + 1) }
        }
        // I + wΛV is nonsingular for PSD Λ and V: a failure can only come from non-finite
        // values, which the learner rejects before they get here.
        guard solved else { return }
        let rhs = ws.rightHandSide
        ws.projections.withStart { b in
            ws.projections2.withMutableStart { c in
                mean.withMutableStart { m in
                    for r in 0..<k {
                        DenseKernels.axpy(-w * rhs[r * (k + 1)], b + r * n, m, n)
                        // C_r = Σ_l Z_rl B_l, Z symmetrized (symmetric in exact arithmetic).
                        let row = c + r * n
                        row.update(repeating: 0, count: n)
                        for l in 0..<k {
                            let z = 0.5 * (rhs[r * (k + 1) + 1 + l] + rhs[l * (k + 1) + 1 + r])
                            if z != 0 { DenseKernels.axpy(z, b + l * n, row, n) }
                        }
                    }
                }
                covariance.withMutableStart { p in
                    // P ← P − Bᵀ C on the upper triangle, then mirror, so P stays exactly symmetric.
                    for i in 0..<n {
                        let rowStart = p + i * n + i
                        for r in 0..<k {
                            let bi = b[r * n + i]
                            if bi != 0 { DenseKernels.axpy(-bi, c + r * n + i, rowStart, n - i) }
                        }
                        for j in (i + 1)..<n { p[j * n + i] = p[i * n + j] }
                    }
                }
            }
        }
    }

    func perturb(weight w: Double, kind: PerturbationKind, workspace ws: inout Workspace) -> Bool {
        let k = rows
        project(&ws)
        if kind == .corrected {
            // Removing the site wJᵀΛJ gives the leave-one-out output variance
            // Ṽ = (I − wVΛ)⁻¹ V (Woodbury), and then f̃ = f + w V (I − wΛV)⁻¹ e = f + w Ṽ e.
            // Ṽ must keep a positive diagonal; where it does not (Λ moved since the site was
            // absorbed), removal is not defined and the first-order form is used instead.
            for r in 0..<k {
                for c in 0..<k {
                    var s = 0.0
                    for t in 0..<k { s += ws.variance[r * k + t] * ws.lambda[t * k + c] }
                    ws.system[r * k + c] = (r == c ? 1 : 0) - w * s
                    ws.rightHandSide[r * k + c] = ws.variance[r * k + c]
                }
            }
            let solved = ws.system.withMutableStart { a in
                ws.rightHandSide.withMutableStart { rhs in DenseKernels.solve(a, rhs, n: k, m: k) }
            }
            var valid = solved
            for r in 0..<k where !(ws.rightHandSide[r * k + r] > 0 && ws.rightHandSide[r * k + r].isFinite) {
                valid = false
            }
            if valid {
                var finite = true
                for r in 0..<k {
                    var s = 0.0
                    for c in 0..<k { s += ws.rightHandSide[r * k + c] * ws.e[c] }
                    ws.fTilde[r] = ws.f[r] + w * s
                    finite = finite && ws.fTilde[r].isFinite
                }
                if finite { return true }
            }
        }
        for r in 0..<k {
            var s = 0.0
            for c in 0..<k { s += ws.variance[r * k + c] * ws.e[c] }
            ws.fTilde[r] = ws.f[r] + w * s
        }
        return kind == .firstOrder
    }

    func write(to writer: inout SnapshotWriter) {
        writer.write(mean)
        writer.write(covariance)
    }

    init(configuration c: LearnerConfiguration, from reader: inout SnapshotReader) throws(SnapshotError) {
        self.init(configuration: c)
        let n = c.parameterCount
        mean = try reader.readDoubles(count: n, what: "posterior mean")
        covariance = try reader.readDoubles(count: n * n, what: "posterior covariance")
    }
}
