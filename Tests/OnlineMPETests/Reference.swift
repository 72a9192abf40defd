import Foundation
@testable import OnlineMPE

// Independent reference implementations for the checks of spec §6. Written plainly (no shared
// code with OnlineMPE) so that a mistake in the library cannot cancel out in the comparison.

/// Deterministic test randomness.
struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
    mutating func normal() -> Double {
        let u1 = max(uniform(), 1e-300), u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}

enum Reference {
    /// Solves A x = b for symmetric positive definite A (n×n row-major) by Cholesky.
    static func solveSPD(_ a: [Double], _ b: [Double], n: Int) -> [Double] {
        var l = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                var s = a[i * n + j]
                for k in 0..<j { s -= l[i * n + k] * l[j * n + k] }
                if i == j { l[i * n + i] = s.squareRoot() } else { l[i * n + j] = s / l[j * n + j] }
            }
        }
        var z = b
        for i in 0..<n {
            var s = z[i]
            for k in 0..<i { s -= l[i * n + k] * z[k] }
            z[i] = s / l[i * n + i]
        }
        var x = z
        for i in stride(from: n - 1, through: 0, by: -1) {
            var s = x[i]
            for k in (i + 1)..<n { s -= l[k * n + i] * x[k] }
            x[i] = s / l[i * n + i]
        }
        return x
    }

    static func inverseSPD(_ a: [Double], n: Int) -> [Double] {
        var inv = [Double](repeating: 0, count: n * n)
        for c in 0..<n {
            var e = [Double](repeating: 0, count: n)
            e[c] = 1
            let col = solveSPD(a, e, n: n)
            for r in 0..<n { inv[r * n + c] = col[r] }
        }
        return inv
    }

    static func augment(_ x: [Double]) -> [Double] { x + [1] }

    /// Batch Bayesian linear regression: precision δI + Σ x̄x̄ᵀ/s², mean from the normal equations.
    static func regressionPosterior(_ xs: [[Double]], _ ys: [Double], prior: Double, noise: Double) -> (mean: [Double], covariance: [Double]) {
        let n = xs[0].count + 1
        var s = [Double](repeating: 0, count: n * n)
        var b = [Double](repeating: 0, count: n)
        for i in 0..<n { s[i * n + i] = prior }
        for (x, y) in zip(xs, ys) {
            let a = augment(x)
            for r in 0..<n {
                b[r] += a[r] * y / noise
                for c in 0..<n { s[r * n + c] += a[r] * a[c] / noise }
            }
        }
        return (solveSPD(s, b, n: n), inverseSPD(s, n: n))
    }

    /// Class probabilities of a linear softmax (K rows of D weights) or logistic (1 row) model.
    static func probabilities(_ theta: [Double], _ x: [Double], classes k: Int, logistic: Bool) -> [Double] {
        let a = augment(x)
        let d = a.count
        if logistic {
            let f = zip(theta, a).map(*).reduce(0, +)
            let p = 1 / (1 + exp(-f))
            return [1 - p, p]
        }
        var f = (0..<k).map { c in (0..<d).map { theta[c * d + $0] * a[$0] }.reduce(0, +) }
        let peak = f.max() ?? 0
        f = f.map { exp($0 - peak) }
        let total = f.reduce(0, +)
        return f.map { $0 / total }
    }

    /// Gradient and Hessian of Σ_i −log p(y_i|x_i) + δ/2 ‖θ‖².
    static func gradientAndHessian(_ theta: [Double], _ xs: [[Double]], _ ys: [Int], prior: Double, classes k: Int, logistic: Bool) -> ([Double], [Double]) {
        let rows = logistic ? 1 : k
        let d = xs[0].count + 1
        let n = rows * d
        var g = theta.map { prior * $0 }
        var h = [Double](repeating: 0, count: n * n)
        for i in 0..<n { h[i * n + i] = prior }
        for (x, y) in zip(xs, ys) {
            let a = augment(x)
            let p = probabilities(theta, x, classes: k, logistic: logistic)
            var e = [Double](repeating: 0, count: rows)
            var lam = [Double](repeating: 0, count: rows * rows)
            if logistic {
                e[0] = p[1] - Double(y)
                lam[0] = p[1] * (1 - p[1])
            } else {
                for c in 0..<k {
                    e[c] = p[c] - (c == y ? 1 : 0)
                    for c2 in 0..<k { lam[c * k + c2] = (c == c2 ? p[c] : 0) - p[c] * p[c2] }
                }
            }
            for r in 0..<rows {
                for j in 0..<d { g[r * d + j] += e[r] * a[j] }
                for r2 in 0..<rows where lam[r * rows + r2] != 0 {
                    for j in 0..<d {
                        for j2 in 0..<d { h[(r * d + j) * n + r2 * d + j2] += lam[r * rows + r2] * a[j] * a[j2] }
                    }
                }
            }
        }
        return (g, h)
    }

    static func objective(_ theta: [Double], _ xs: [[Double]], _ ys: [Int], prior: Double, classes k: Int, logistic: Bool) -> Double {
        var total = 0.5 * prior * theta.map { $0 * $0 }.reduce(0, +)
        for (x, y) in zip(xs, ys) { total -= log(probabilities(theta, x, classes: k, logistic: logistic)[y]) }
        return total
    }

    /// The MAP of the batch objective by damped Newton with backtracking, to convergence.
    static func refit(_ xs: [[Double]], _ ys: [Int], prior: Double, classes k: Int, logistic: Bool, start: [Double]? = nil) -> [Double] {
        let n = (logistic ? 1 : k) * (xs[0].count + 1)
        var theta = start ?? [Double](repeating: 0, count: n)
        for _ in 0..<50 {
            let (g, h) = gradientAndHessian(theta, xs, ys, prior: prior, classes: k, logistic: logistic)
            let step = solveSPD(h, g, n: n)
            // Converged when the Newton decrement is at rounding level.
            let decrement = zip(g, step).map(*).reduce(0, +)
            if decrement < 1e-24 * Double(xs.count) { break }
            let f0 = objective(theta, xs, ys, prior: prior, classes: k, logistic: logistic)
            var t = 1.0
            var moved = false
            while t > 1e-8 {
                let candidate = zip(theta, step).map { $0 - t * $1 }
                if objective(candidate, xs, ys, prior: prior, classes: k, logistic: logistic) <= f0 {
                    theta = candidate
                    moved = true
                    break
                }
                t /= 2
            }
            if !moved || decrement < 1e-20 { break }
        }
        return theta
    }

    static func ranks(_ v: [Double]) -> [Double] {
        let order = v.indices.sorted { v[$0] < v[$1] }
        var r = [Double](repeating: 0, count: v.count)
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && v[order[j + 1]] == v[order[i]] { j += 1 }
            let average = Double(i + j) / 2
            for t in i...j { r[order[t]] = average }
            i = j + 1
        }
        return r
    }

    static func pearson(_ a: [Double], _ b: [Double]) -> Double {
        let n = Double(a.count)
        let ma = a.reduce(0, +) / n, mb = b.reduce(0, +) / n
        var sab = 0.0, saa = 0.0, sbb = 0.0
        for (x, y) in zip(a, b) {
            sab += (x - ma) * (y - mb)
            saa += (x - ma) * (x - ma)
            sbb += (y - mb) * (y - mb)
        }
        return sab / (saa * sbb).squareRoot()
    }

    static func spearman(_ a: [Double], _ b: [Double]) -> Double { pearson(ranks(a), ranks(b)) }
}

/// Small synthetic classification and regression problems.
enum Synthetic {
    static func classification(n: Int, d: Int, classes k: Int, seed: UInt64, separation: Double = 1.5) -> ([[Double]], [Int]) {
        var rng = SplitMix(state: seed)
        let centers = (0..<k).map { _ in (0..<d).map { _ in separation * rng.normal() } }
        var xs: [[Double]] = [], ys: [Int] = []
        for _ in 0..<n {
            let y = Int(rng.next() % UInt64(k))
            xs.append(centers[y].map { $0 + rng.normal() })
            ys.append(y)
        }
        return (xs, ys)
    }

    static func regression(n: Int, d: Int, seed: UInt64, noise: Double) -> ([[Double]], [Double]) {
        var rng = SplitMix(state: seed)
        let w = (0..<d).map { _ in rng.normal() }
        var xs: [[Double]] = [], ys: [Double] = []
        for _ in 0..<n {
            let x = (0..<d).map { _ in rng.normal() }
            xs.append(x)
            ys.append(zip(w, x).map(*).reduce(0.3, +) + noise.squareRoot() * rng.normal())
        }
        return (xs, ys)
    }
}

/// The committed digits data (scikit-learn's digits, features scaled to [0, 1]).
enum Digits {
    static var directory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("data/digits")
    }

    static func load(_ name: String) throws -> [(id: String, x: [Double], y: Int)] {
        let text = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
            let x = (object["x"] as? [NSNumber] ?? []).map(\.doubleValue)
            return (object["id"] as? String ?? "", x, (object["y"] as? NSNumber)?.intValue ?? -1)
        }
    }

    /// A small subset for full-covariance refits: three confusable classes, 8×8 pooled to 4×4.
    static func pooledSubset(classes: [Int], count: Int) throws -> ([[Double]], [Int]) {
        let rows = try load("train.jsonl").filter { classes.contains($0.y) }.prefix(count)
        let xs = rows.map { row -> [Double] in
            (0..<16).map { cell in
                let r = (cell / 4) * 2, c = (cell % 4) * 2
                return (row.x[r * 8 + c] + row.x[r * 8 + c + 1] + row.x[(r + 1) * 8 + c] + row.x[(r + 1) * 8 + c + 1]) / 4
            }
        }
        return (Array(xs), rows.map { classes.firstIndex(of: $0.y) ?? 0 })
    }
}
