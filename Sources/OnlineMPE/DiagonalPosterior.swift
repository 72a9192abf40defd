/// Diagonal-precision Gaussian posterior with the deterministic GGN curvature of spec §2:
/// `S ← γS + (1−γ)δ + w·diag(JᵀΛJ)`, `m ← m − (wJᵀe + (1−γ)δm)/S`. Cost O(d·K) per example.
struct DiagonalPosterior: PosteriorFamily {
    let rows: Int
    let columns: Int
    let forgetting: Double
    let priorPrecision: Double
    private(set) var mean: [Double]
    /// Posterior precision per parameter, prior included.
    private(set) var precision: [Double]
    /// `1/precision`, kept because the update divides by the precision anyway and every
    /// perturbation needs the variance: derived state, recomputed on restore, never stored.
    private(set) var variance: [Double]

    init(configuration c: LearnerConfiguration) {
        rows = c.outputs
        columns = c.augmentedDimension
        forgetting = c.forgetting
        priorPrecision = c.priorPrecision
        mean = .init(repeating: 0, count: c.parameterCount)
        precision = .init(repeating: c.priorPrecision, count: c.parameterCount)
        variance = .init(repeating: 1 / c.priorPrecision, count: c.parameterCount)
    }

    mutating func absorb(label y: Double, weight w: Double, workspace ws: inout Workspace, random: inout RandomSource) {
        let decay = SIMD4<Double>(repeating: forgetting)
        let refill = SIMD4<Double>(repeating: (1 - forgetting) * priorPrecision)
        let d = columns
        let stride = MemoryLayout<Double>.stride
        ws.input.withStart { x in
            mean.withMutableStart { m in
                precision.withMutableStart { s in
                  variance.withMutableStart { v in
                    for k in 0..<rows {
                        let curvature = SIMD4<Double>(repeating: w * ws.lambdaDiagonal[k])
                        let error = SIMD4<Double>(repeating: w * ws.e[k])
                        let mk = UnsafeMutableRawPointer(m + k * d)
                        let sk = UnsafeMutableRawPointer(s + k * d)
                        let vk = UnsafeMutableRawPointer(v + k * d)
                        let xr = UnsafeRawPointer(x)
                        var j = 0
                        while j + 4 <= d {
                            let o = j * stride
                            let xv = xr.loadUnaligned(fromByteOffset: o, as: SIMD4<Double>.self)
                            let mv = mk.loadUnaligned(fromByteOffset: o, as: SIMD4<Double>.self)
                            let sv = decay * sk.loadUnaligned(fromByteOffset: o, as: SIMD4<Double>.self)
                                + refill + curvature * xv * xv
                            let rv = 1 / sv
                            sk.storeBytes(of: sv, toByteOffset: o, as: SIMD4<Double>.self)
                            vk.storeBytes(of: rv, toByteOffset: o, as: SIMD4<Double>.self)
                            mk.storeBytes(of: mv - (error * xv + refill * mv) * rv, toByteOffset: o, as: SIMD4<Double>.self)
                            j += 4
                        }
                        while j < d {
                            let i = k * d + j
                            let sv = forgetting * s[i] + refill[0] + curvature[0] * x[j] * x[j]
                            let rv = 1 / sv
                            s[i] = sv
                            v[i] = rv
                            m[i] -= (error[0] * x[j] + refill[0] * m[i]) * rv
                            j += 1
                        }
                    }
                  }
                }
            }
        }
    }

    func perturb(weight w: Double, kind: PerturbationKind, workspace ws: inout Workspace) -> Bool {
        precision.withStart { s in
            variance.withStart { v in
            DiagonalPerturbation.apply(
                precision: s, scale: 1, offset: 0, variance: v, priorPrecision: priorPrecision,
                rows: rows, columns: columns, weight: w, kind: kind, workspace: &ws)
            }
        }
        return true
    }

    func write(to writer: inout SnapshotWriter) {
        writer.write(mean)
        writer.write(precision)
    }

    init(configuration c: LearnerConfiguration, from reader: inout SnapshotReader) throws(SnapshotError) {
        self.init(configuration: c)
        mean = try reader.readDoubles(count: c.parameterCount, what: "posterior mean")
        precision = try reader.readDoubles(count: c.parameterCount, what: "posterior precision")
        guard precision.allSatisfy({ $0 >= priorPrecision && $0.isFinite }) else {
            throw .invalid(what: "posterior precision below the prior precision or not finite")
        }
        variance = precision.map { 1 / $0 }
    }
}

/// The memory-perturbation step for a diagonal posterior with precision `S = scale·h + offset`
/// and variance `σ² = 1/S` (kept by the family, so that `V` costs no division).
///
/// `V` is diagonal: `V_kk = Σ_j x̄_j² σ²_kj`. The corrected form removes the example's own GGN
/// site from the diagonal precision, `S' = S − wΛ_kk x̄_j²`, and takes the Newton step of the
/// objective without the example: `f̃_k = f_k + w e_k Σ_j x̄_j²/S'_kj`. Because the diagonal
/// family never couples outputs, this is the exact removal within the family; `S'` is kept at
/// least `δ`, since a posterior never has less precision than its prior (both diagonal families
/// keep `S ≥ δ`: GGN adds non-negative curvature to δ, IVON's `λh + δ` has `h ≥ 0`).
enum DiagonalPerturbation {
    static func apply(
        precision h: UnsafePointer<Double>, scale: Double, offset: Double, variance sigma2: UnsafePointer<Double>,
        priorPrecision: Double, rows: Int, columns d: Int, weight w: Double, kind: PerturbationKind,
        workspace ws: inout Workspace
    ) {
        let corrected = kind == .corrected
        let stride = MemoryLayout<Double>.stride
        let scale4 = SIMD4<Double>(repeating: scale)
        let offset4 = SIMD4<Double>(repeating: offset)
        let prior4 = SIMD4<Double>(repeating: priorPrecision)
        ws.input.withStart { x in
            let xr = UnsafeRawPointer(x)
            for k in 0..<rows {
                let removed = w * ws.lambdaDiagonal[k]
                let removed4 = SIMD4<Double>(repeating: removed)
                let hk = UnsafeRawPointer(h + k * d)
                let vk = UnsafeRawPointer(sigma2 + k * d)
                var v4 = SIMD4<Double>(repeating: 0)
                var vTilde4 = SIMD4<Double>(repeating: 0)
                var j = 0
                // Two loops rather than a branch per weight: this is the hottest loop of the
                // diagonal learner (arrival and every re-scored example).
                if corrected {
                    while j + 4 <= d {
                        let o = j * stride
                        let xv = xr.loadUnaligned(fromByteOffset: o, as: SIMD4<Double>.self)
                        let x2 = xv * xv
                        v4 += x2 * vk.loadUnaligned(fromByteOffset: o, as: SIMD4<Double>.self)
                        let without = scale4 * hk.loadUnaligned(fromByteOffset: o, as: SIMD4<Double>.self) + offset4 - removed4 * x2
                        vTilde4 += x2 / without.replacing(with: prior4, where: without .< prior4)
                        j += 4
                    }
                } else {
                    while j + 4 <= d {
                        let o = j * stride
                        let xv = xr.loadUnaligned(fromByteOffset: o, as: SIMD4<Double>.self)
                        v4 += xv * xv * vk.loadUnaligned(fromByteOffset: o, as: SIMD4<Double>.self)
                        j += 4
                    }
                }
                var v = v4.sum()
                var vTilde = vTilde4.sum()
                let hs = h + k * d
                let vs = sigma2 + k * d
                while j < d {
                    let x2 = x[j] * x[j]
                    v += x2 * vs[j]
                    if corrected { vTilde += x2 / max(scale * hs[j] + offset - removed * x2, priorPrecision) }
                    j += 1
                }
                for l in 0..<rows { ws.variance[k * rows + l] = 0 }
                ws.variance[k * rows + k] = v
                ws.fTilde[k] = ws.f[k] + w * ws.e[k] * (corrected ? vTilde : v)
            }
        }
    }
}
