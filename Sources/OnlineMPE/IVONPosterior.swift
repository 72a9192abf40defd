import Glibc

/// Diagonal Gaussian posterior learned by IVON with batch size 1 (spec §2), for models whose
/// GGN diagonal is not available in closed form; here it runs on the same linear models so
/// that its variances can be compared with the GGN ones.
///
/// The posterior precision is `λ(h + δ/λ) = λh + δ`, with `λ` the effective sample size: the
/// number of examples seen, capped at the forgetting horizon `1/(1−γ)`. The step size is
/// `learningRate/λ`, which makes `learningRate = 1` an online Newton step.
struct IVONPosterior: PosteriorFamily {
    let rows: Int
    let columns: Int
    let priorPrecision: Double
    let settings: IVONSettings
    let horizon: Double
    let layer: OutputLayer
    private(set) var mean: [Double]
    /// Running per-example Hessian estimate `h` (started at `h0`, never 0).
    private(set) var hessian: [Double]
    /// Gradient momentum `g`.
    private(set) var momentum: [Double]
    /// Posterior variance `1/(λh + δ)` as of the last update (derived; recomputed on restore).
    private(set) var variance: [Double]
    private(set) var steps: Int

    init(configuration c: LearnerConfiguration) {
        rows = c.outputs
        columns = c.augmentedDimension
        priorPrecision = c.priorPrecision
        settings = c.ivon
        horizon = c.forgetting < 1 ? 1 / (1 - c.forgetting) : .infinity
        layer = OutputLayer(c)
        mean = .init(repeating: 0, count: c.parameterCount)
        hessian = .init(repeating: c.ivon.initialHessian, count: c.parameterCount)
        momentum = .init(repeating: 0, count: c.parameterCount)
        steps = 0
        variance = []
        refreshVariance()
    }

    mutating func refreshVariance() {
        let lambda = effectiveSampleSize
        variance = hessian.map { 1 / (lambda * $0 + priorPrecision) }
    }

    /// The effective sample size λ after `steps` examples.
    var effectiveSampleSize: Double { min(Double(max(steps, 1)), horizon) }

    mutating func absorb(label y: Double, weight w: Double, workspace ws: inout Workspace, random: inout RandomSource) {
        steps += 1
        let n = rows * columns
        let lambda = effectiveSampleSize
        let decay = priorPrecision / lambda  // δ/λ: the per-example share of the prior
        let beta1 = settings.beta1
        let beta2 = settings.beta2
        let step = settings.learningRate / lambda
        let bias = 1 - pow(beta1, Double(steps))
        let d = columns
        ws.noise.withMutableStart { eps in random.fillNormal(eps, count: n) }
        // θ = m + σ ε with σ = 1/√(λh + δ); f(θ) and e(θ) at the sample.
        ws.parameters.withMutableStart { theta in
            ws.noise.withStart { eps in
                mean.withStart { m in
                    hessian.withStart { h in
                        for i in 0..<n { theta[i] = m[i] + eps[i] / (lambda * h[i] + priorPrecision).squareRoot() }
                    }
                }
            }
        }
        ws.parameters.withStart { theta in
            ws.input.withStart { x in
                ws.f.withMutableStart { f in DenseKernels.outputs(weights: theta, input: x, rows: rows, columns: d, into: f) }
            }
        }
        // The sampled e(θ) goes into fTilde/pTilde as scratch; e/p/Λ at the mean stay intact.
        ws.f.withStart { f in
            ws.pTilde.withMutableStart { p in
                ws.fTilde.withMutableStart { e in
                    ws.variance.withMutableStart { lam in _ = layer.evaluate(f: f, y: y, p: p, e: e, lambdaDiagonal: lam) }
                }
            }
        }
        ws.input.withStart { x in
            ws.noise.withStart { eps in
                mean.withMutableStart { m in
                    hessian.withMutableStart { h in
                        momentum.withMutableStart { g in
                            for k in 0..<rows {
                                let ek = w * ws.fTilde[k]
                                for j in 0..<d {
                                    let i = k * d + j
                                    let sigmaInverse = (lambda * h[i] + priorPrecision).squareRoot()
                                    let gHat = ek * x[j]
                                    // ĥ = ĝ (θ−m)/σ² = ĝ ε/σ
                                    let hHat = gHat * eps[i] * sigmaInverse
                                    g[i] = beta1 * g[i] + (1 - beta1) * gHat
                                    let gap = h[i] - hHat
                                    var hNew = beta2 * h[i] + (1 - beta2) * hHat
                                        + 0.5 * (1 - beta2) * (1 - beta2) * gap * gap / (h[i] + decay)
                                    // IVON keeps h + δ/λ positive, but δ/λ shrinks as λ grows: keep
                                    // h itself non-negative, as a GGN diagonal is.
                                    hNew = max(hNew, 0)
                                    h[i] = hNew
                                    m[i] -= step * (g[i] / bias + decay * m[i]) / (hNew + decay)
                                }
                            }
                        }
                    }
                }
            }
        }
        refreshVariance()
    }

    func perturb(weight w: Double, kind: PerturbationKind, workspace ws: inout Workspace) -> Bool {
        let lambda = effectiveSampleSize
        hessian.withStart { h in
            variance.withStart { v in
                DiagonalPerturbation.apply(
                    precision: h, scale: lambda, offset: priorPrecision, variance: v, priorPrecision: priorPrecision,
                    rows: rows, columns: columns, weight: w, kind: kind, workspace: &ws)
            }
        }
        return true
    }

    func write(to writer: inout SnapshotWriter) {
        writer.write(mean)
        writer.write(hessian)
        writer.write(momentum)
        writer.write(steps)
    }

    init(configuration c: LearnerConfiguration, from reader: inout SnapshotReader) throws(SnapshotError) {
        self.init(configuration: c)
        mean = try reader.readDoubles(count: c.parameterCount, what: "posterior mean")
        hessian = try reader.readDoubles(count: c.parameterCount, what: "IVON Hessian")
        momentum = try reader.readDoubles(count: c.parameterCount, what: "IVON momentum")
        steps = try reader.readInt(what: "IVON steps")
        guard steps >= 0, hessian.allSatisfy({ $0 >= 0 && $0.isFinite }) else { throw .invalid(what: "IVON Hessian or step count out of range") }
        refreshVariance()
    }
}
