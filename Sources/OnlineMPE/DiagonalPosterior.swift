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

    /// Absorbs the site and, in the same pass over the parameters, leaves in the workspace what
    /// scoring the arriving example needs (`Workspace.arrival`): the outputs at the new mean, the
    /// prediction variance `V_kk = Σ_j x̄_j²/S_kj`, and `Σ_j x̄_j²/S'_kj` with `S'` the precision
    /// just before this site was added. That `S'` is the corrected form's removal of the example's
    /// own site done exactly (the site added here is `wΛ_kk x̄_j²` at the arrival mean); re-scoring
    /// later can only take Λ at the mean of the moment. With γ = 1, `1/S'` is the variance being
    /// replaced, so the arriving example costs one division per weight instead of two, and one
    /// pass over the weights instead of three (update, forward pass, perturbation).
    mutating func absorb(label y: Double, weight w: Double, workspace ws: inout Workspace, random: inout RandomSource) {
        let decay = SIMD4<Double>(repeating: forgetting)
        let refill = SIMD4<Double>(repeating: (1 - forgetting) * priorPrecision)
        let forgets = forgetting < 1
        let d = columns
        let k = rows
        let stride = MemoryLayout<Double>.stride
        ws.input.withStart { x in
          ws.f.withMutableStart { f in
            ws.arrival.withMutableStart { removal in
              ws.variance.withMutableStart { outputVariance in
                mean.withMutableStart { m in
                  precision.withMutableStart { s in
                    variance.withMutableStart { v in
                      for r in 0..<k {
                        let curvature = SIMD4<Double>(repeating: w * ws.lambdaDiagonal[r])
                        let error = SIMD4<Double>(repeating: w * ws.e[r])
                        let mk = UnsafeMutableRawPointer(m + r * d)
                        let sk = UnsafeMutableRawPointer(s + r * d)
                        let vk = UnsafeMutableRawPointer(v + r * d)
                        let xr = UnsafeRawPointer(x)
                        var f4 = SIMD4<Double>(repeating: 0)
                        var v4 = SIMD4<Double>(repeating: 0)
                        var removed4 = SIMD4<Double>(repeating: 0)
                        var j = 0
                        while j + 4 <= d {
                            let o = j * stride
                            let xv = xr.loadUnaligned(fromByteOffset: o, as: SIMD4<Double>.self)
                            let x2 = xv * xv
                            let mv = mk.loadUnaligned(fromByteOffset: o, as: SIMD4<Double>.self)
                            let before = decay * sk.loadUnaligned(fromByteOffset: o, as: SIMD4<Double>.self) + refill
                            let sv = before + curvature * x2
                            let rv = 1 / sv
                            // Without forgetting `before` is the old precision and its reciprocal
                            // the stored variance, bit for bit.
                            removed4 += forgets ? x2 / before : x2 * vk.loadUnaligned(fromByteOffset: o, as: SIMD4<Double>.self)
                            sk.storeBytes(of: sv, toByteOffset: o, as: SIMD4<Double>.self)
                            vk.storeBytes(of: rv, toByteOffset: o, as: SIMD4<Double>.self)
                            let updated = mv - (error * xv + refill * mv) * rv
                            mk.storeBytes(of: updated, toByteOffset: o, as: SIMD4<Double>.self)
                            f4 += updated * xv
                            v4 += x2 * rv
                            j += 4
                        }
                        var fk = f4.sum()
                        var vkk = v4.sum()
                        var removedk = removed4.sum()
                        while j < d {
                            let i = r * d + j
                            let x2 = x[j] * x[j]
                            let before = forgetting * s[i] + refill[0]
                            let sv = before + curvature[0] * x2
                            let rv = 1 / sv
                            removedk += forgets ? x2 / before : x2 * v[i]
                            s[i] = sv
                            v[i] = rv
                            m[i] -= (error[0] * x[j] + refill[0] * m[i]) * rv
                            fk += m[i] * x[j]
                            vkk += x2 * rv
                            j += 1
                        }
                        f[r] = fk
                        removal[r] = removedk
                        for l in 0..<k { outputVariance[r * k + l] = 0 }
                        outputVariance[r * k + r] = vkk
                      }
                    }
                  }
                }
              }
            }
          }
        }
        ws.arrivalReady = true
    }

    func perturb(weight w: Double, kind: PerturbationKind, workspace ws: inout Workspace) -> Bool {
        if ws.arrivalReady {
            // The arriving example: `absorb` left V and the removal sums; no pass over the weights.
            ws.arrivalReady = false
            DiagonalPerturbation.finishArrival(weight: w, kind: kind, outputs: rows, workspace: &ws)
            return true
        }
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

    var propagatesRemovals: Bool { true }

    /// `x̄ᵀΔ` for the source's removal `Δ` followed through the later updates (see
    /// `ForecastCalibration`): `Δ₀ = w e_k x̄_j / S'_kj`, the corrected form's removal (its
    /// `x̄ᵀΔ₀` is the diagonal `f̃ − f`), then per later site `t`
    /// `Δ_kj ← Δ_kj − ((wΛ_t u)_k x̄_tj + (1−γ)δ Δ_kj)/S_kj` with `u_k = Σ_j Δ_kj x̄_tj` and δ
    /// the prior precision. One
    /// pass over the K×D shift per site: the pass that applies site t also sums `u` for the
    /// next one (and, after the last, the read-out against the source's own input).
    func propagatedRemovalShift(source: RemovalSource, later: LaterSites, scratch: UnsafeMutablePointer<Double>,
                                into shift: UnsafeMutablePointer<Double>) -> Bool {
        let k = rows
        let d = columns
        let delta = scratch
        var u = scratch + k * d
        var next = u + k
        let refill = SIMD4<Double>(repeating: (1 - forgetting) * priorPrecision)
        let refill1 = (1 - forgetting) * priorPrecision
        let stride = MemoryLayout<Double>.stride
        precision.withStart { s in
            variance.withStart { v in
                let x = source.input
                for r in 0..<k {
                    let removed = source.weight * source.lambdaDiagonal[r]
                    let g = source.weight * source.e[r]
                    for j in 0..<d {
                        let xj = x[j]
                        delta[r * d + j] = g * xj / max(s[r * d + j] - removed * xj * xj, priorPrecision)
                    }
                }
                // u for the first site to apply, or the read-out when there is none.
                let firstReadout = later.slots.first.map { later.inputs + $0 * d } ?? x
                for r in 0..<k { u[r] = DenseKernels.dot(UnsafePointer(delta + r * d), firstReadout, d) }
                var w4 = [Double](repeating: 0, count: k)
                for (index, slot) in later.slots.enumerated() {
                    let xt = UnsafeRawPointer(later.inputs + slot * d)
                    let readout = index + 1 < later.slots.count ? later.inputs + later.slots[index + 1] * d : x
                    let nr = UnsafeRawPointer(readout)
                    let wt = later.weights[slot]
                    let pt = later.p + slot * later.stride
                    // (wΛ_t u)_k: softmax Λ = diag(p) − ppᵀ; otherwise the one value of diag Λ.
                    if later.softmax {
                        var pu = 0.0
                        for l in 0..<k { pu += pt[l] * u[l] }
                        for r in 0..<k { w4[r] = wt * pt[r] * (u[r] - pu) }
                    } else {
                        for r in 0..<k { w4[r] = wt * later.lambdaDiagonal[slot * later.stride + r] * u[r] }
                    }
                    for r in 0..<k {
                        let pull = SIMD4<Double>(repeating: w4[r])
                        let dk = UnsafeMutableRawPointer(delta + r * d)
                        let vk = UnsafeRawPointer(v + r * d)
                        // Two accumulators: with one, the read-out's chain of dependent
                        // additions bounded the loop (`perf annotate`).
                        var acc = SIMD4<Double>(repeating: 0)
                        var acc2 = SIMD4<Double>(repeating: 0)
                        @inline(__always) func apply(_ o: Int) -> SIMD4<Double> {
                            let dl = dk.loadUnaligned(fromByteOffset: o, as: SIMD4<Double>.self)
                            let xv = xt.loadUnaligned(fromByteOffset: o, as: SIMD4<Double>.self)
                            let vv = vk.loadUnaligned(fromByteOffset: o, as: SIMD4<Double>.self)
                            let updated = dl.addingProduct(-(pull * xv).addingProduct(refill, dl), vv)
                            dk.storeBytes(of: updated, toByteOffset: o, as: SIMD4<Double>.self)
                            return updated * nr.loadUnaligned(fromByteOffset: o, as: SIMD4<Double>.self)
                        }
                        var j = 0
                        while j + 8 <= d {
                            acc += apply(j * stride)
                            acc2 += apply((j + 4) * stride)
                            j += 8
                        }
                        if j + 4 <= d {
                            acc += apply(j * stride)
                            j += 4
                        }
                        var sum = (acc + acc2).sum()
                        let xs = later.inputs + slot * d
                        while j < d {
                            let i = r * d + j
                            delta[i] -= (w4[r] * xs[j] + refill1 * delta[i]) * v[i]
                            sum += delta[i] * readout[j]
                            j += 1
                        }
                        next[r] = sum
                    }
                    swap(&u, &next)
                }
                for r in 0..<k { shift[r] = u[r] }
            }
        }
        return true
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
    /// `f̃_k = f_k + w e_k Σ_j x̄_j²/S'_kj` (corrected) or `f_k + w e_k V_kk` (first order) from
    /// the sums the diagonal family's `absorb` left in the workspace for the arriving example.
    static func finishArrival(weight w: Double, kind: PerturbationKind, outputs: Int, workspace ws: inout Workspace) {
        let corrected = kind == .corrected
        for k in 0..<outputs {
            let spread = corrected ? ws.arrival[k] : ws.variance[k * outputs + k]
            ws.fTilde[k] = ws.f[k] + w * ws.e[k] * spread
        }
    }

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
        // V is diagonal: its off-diagonal entries are zeroed once here, not row by row with a
        // bounds-checked store each (that loop was 8 % of this function).
        ws.variance.withMutableStart { $0.update(repeating: 0, count: rows * rows) }
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
                ws.variance[k * rows + k] = v
                ws.fTilde[k] = ws.f[k] + w * ws.e[k] * (corrected ? vTilde : v)
            }
        }
    }
}
