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

    init(configuration c: LearnerConfiguration) {
        rows = c.outputs
        columns = c.augmentedDimension
        forgetting = c.forgetting
        priorPrecision = c.priorPrecision
        mean = .init(repeating: 0, count: c.parameterCount)
        precision = .init(repeating: c.priorPrecision, count: c.parameterCount)
    }

    mutating func absorb(label y: Double, weight w: Double, workspace ws: inout Workspace, random: inout RandomSource) {
        let decay = SIMD4<Double>(repeating: forgetting)
        let refill = SIMD4<Double>(repeating: (1 - forgetting) * priorPrecision)
        let d = columns
        let stride = MemoryLayout<Double>.stride
        ws.input.withStart { x in
            mean.withMutableStart { m in
                precision.withMutableStart { s in
                    for k in 0..<rows {
                        let curvature = SIMD4<Double>(repeating: w * ws.lambdaDiagonal[k])
                        let error = SIMD4<Double>(repeating: w * ws.e[k])
                        let mk = UnsafeMutableRawPointer(m + k * d)
                        let sk = UnsafeMutableRawPointer(s + k * d)
                        let xr = UnsafeRawPointer(x)
                        var j = 0
                        while j + 4 <= d {
                            let o = j * stride
                            let xv = xr.loadUnaligned(fromByteOffset: o, as: SIMD4<Double>.self)
                            let mv = mk.loadUnaligned(fromByteOffset: o, as: SIMD4<Double>.self)
                            let sv = decay * sk.loadUnaligned(fromByteOffset: o, as: SIMD4<Double>.self)
                                + refill + curvature * xv * xv
                            sk.storeBytes(of: sv, toByteOffset: o, as: SIMD4<Double>.self)
                            mk.storeBytes(of: mv - (error * xv + refill * mv) / sv, toByteOffset: o, as: SIMD4<Double>.self)
                            j += 4
                        }
                        while j < d {
                            let i = k * d + j
                            let sv = forgetting * s[i] + refill[0] + curvature[0] * x[j] * x[j]
                            s[i] = sv
                            m[i] -= (error[0] * x[j] + refill[0] * m[i]) / sv
                            j += 1
                        }
                    }
                }
            }
        }
    }

    func perturb(weight w: Double, kind: PerturbationKind, workspace ws: inout Workspace) -> Bool {
        precision.withStart { s in
            DiagonalPerturbation.apply(
                precision: s, scale: 1, offset: 0, priorPrecision: priorPrecision,
                rows: rows, columns: columns, weight: w, kind: kind, workspace: &ws)
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
    }
}

/// The memory-perturbation step for a diagonal posterior with precision `scale·h + offset`.
///
/// `V` is diagonal: `V_kk = Σ_j x̄_j²/S_kj`. The corrected form removes the example's own GGN
/// site from the diagonal precision, `S' = S − wΛ_kk x̄_j²`, and takes the Newton step of the
/// objective without the example: `f̃_k = f_k + w e_k Σ_j x̄_j²/S'_kj`. Because the diagonal
/// family never couples outputs, this is the exact removal within the family; `S'` is kept at
/// least `min(S, δ)` since a posterior never has less precision than its prior.
enum DiagonalPerturbation {
    static func apply(
        precision h: UnsafePointer<Double>, scale: Double, offset: Double, priorPrecision: Double,
        rows: Int, columns d: Int, weight w: Double, kind: PerturbationKind, workspace ws: inout Workspace
    ) {
        ws.input.withStart { x in
            for k in 0..<rows {
                let removed = w * ws.lambdaDiagonal[k]
                var v = 0.0
                var vTilde = 0.0
                let hk = h + k * d
                for j in 0..<d {
                    let x2 = x[j] * x[j]
                    let s = scale * hk[j] + offset
                    v += x2 / s
                    if kind == .corrected {
                        vTilde += x2 / max(s - removed * x2, min(s, priorPrecision))
                    }
                }
                for l in 0..<rows { ws.variance[k * rows + l] = 0 }
                ws.variance[k * rows + k] = v
                ws.fTilde[k] = ws.f[k] + w * ws.e[k] * (kind == .corrected ? vTilde : v)
            }
        }
    }
}
