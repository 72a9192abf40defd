/// Small dense linear-algebra kernels over raw buffers for the per-example hot path.
///
/// Hand-written rather than taken from a package: no BLAS/LAPACK binding is in the package
/// mirror, and the sizes here (vectors of d·K, K×K systems) are too small for a call into a
/// general library to pay for itself. Reductions keep four independent accumulators so that the
/// compiler can vectorize them while the summation order stays fixed (bit-reproducible runs).
enum DenseKernels {
    @inline(__always)
    static func dot(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, _ n: Int) -> Double {
        var s0 = SIMD4<Double>(repeating: 0)
        var s1 = SIMD4<Double>(repeating: 0)
        var i = 0
        let ra = UnsafeRawPointer(a)
        let rb = UnsafeRawPointer(b)
        let stride = MemoryLayout<Double>.stride
        while i + 8 <= n {
            s0 += ra.loadUnaligned(fromByteOffset: i * stride, as: SIMD4<Double>.self)
                * rb.loadUnaligned(fromByteOffset: i * stride, as: SIMD4<Double>.self)
            s1 += ra.loadUnaligned(fromByteOffset: (i + 4) * stride, as: SIMD4<Double>.self)
                * rb.loadUnaligned(fromByteOffset: (i + 4) * stride, as: SIMD4<Double>.self)
            i += 8
        }
        var total = (s0 + s1).sum()
        while i < n {
            total += a[i] * b[i]
            i += 1
        }
        return total
    }

    /// `y += alpha * x`.
    @inline(__always)
    static func axpy(_ alpha: Double, _ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>, _ n: Int) {
        let a = SIMD4<Double>(repeating: alpha)
        let stride = MemoryLayout<Double>.stride
        let rx = UnsafeRawPointer(x)
        let ry = UnsafeMutableRawPointer(y)
        var i = 0
        while i + 4 <= n {
            let v = ry.loadUnaligned(fromByteOffset: i * stride, as: SIMD4<Double>.self)
                + a * rx.loadUnaligned(fromByteOffset: i * stride, as: SIMD4<Double>.self)
            ry.storeBytes(of: v, toByteOffset: i * stride, as: SIMD4<Double>.self)
            i += 4
        }
        while i < n {
            y[i] += alpha * x[i]
            i += 1
        }
    }

    /// Model outputs `f_k = Σ_j θ[k·D + j] x̄_j` for a K×D row-major weight matrix.
    @inline(__always)
    static func outputs(
        weights: UnsafePointer<Double>, input: UnsafePointer<Double>,
        rows: Int, columns: Int, into f: UnsafeMutablePointer<Double>
    ) {
        for k in 0..<rows { f[k] = dot(weights + k * columns, input, columns) }
    }

    /// Solves `A X = B` in place for a small n×n row-major `A` (destroyed) and n×m `B`
    /// (overwritten by X), by Gaussian elimination with partial pivoting. Returns false when a
    /// pivot is below `1e-14` times the largest entry of A, i.e. A is numerically singular.
    /// Row operations go through `axpy`, so that the window systems of the `full` family
    /// (hundreds of rows) vectorize; per element the operations and their order are those of
    /// the plain loops, so the result does not depend on the vector width.
    static func solve(_ a: UnsafeMutablePointer<Double>, _ b: UnsafeMutablePointer<Double>, n: Int, m: Int) -> Bool {
        var scale = 0.0
        for i in 0..<(n * n) { scale = max(scale, abs(a[i])) }
        guard scale.isFinite, scale > 0 else { return false }
        let tiny = 1e-14 * scale
        for col in 0..<n {
            var pivot = col
            for r in (col + 1)..<n where abs(a[r * n + col]) > abs(a[pivot * n + col]) { pivot = r }
            if abs(a[pivot * n + col]) <= tiny { return false }
            if pivot != col {
                for c in 0..<n { swap(&a[col * n + c], &a[pivot * n + c]) }
                for c in 0..<m { swap(&b[col * m + c], &b[pivot * m + c]) }
            }
            let inv = 1 / a[col * n + col]
            for r in (col + 1)..<n {
                let factor = a[r * n + col] * inv
                if factor == 0 { continue }
                axpy(-factor, a + col * n + col, a + r * n + col, n - col)
                axpy(-factor, b + col * m, b + r * m, m)
            }
        }
        // Back substitution row by row: row `col` of X is (B_col − Σ_{k>col} A_col,k X_k) / A_col,col,
        // the sum taken in increasing k as in the element-wise form.
        for col in stride(from: n - 1, through: 0, by: -1) {
            let inv = 1 / a[col * n + col]
            let row = b + col * m
            for k in (col + 1)..<n {
                let factor = a[col * n + k]
                if factor != 0 { axpy(-factor, b + k * m, row, m) }
            }
            for c in 0..<m { row[c] *= inv }
        }
        return true
    }
}

extension Array where Element == Double {
    /// Runs `body` with the address of the first element. Empty arrays (buffers a family does
    /// not use) get the address of a local zero, so no caller needs to unwrap `baseAddress`.
    @inline(__always)
    mutating func withMutableStart<R>(_ body: (UnsafeMutablePointer<Double>) throws -> R) rethrows -> R {
        try withUnsafeMutableBufferPointer { buffer in
            if let base = buffer.baseAddress { return try body(base) }
            var zero = 0.0
            return try withUnsafeMutablePointer(to: &zero) { try body($0) }
        }
    }

    /// Read-only counterpart of `withMutableStart`.
    @inline(__always)
    func withStart<R>(_ body: (UnsafePointer<Double>) throws -> R) rethrows -> R {
        try withUnsafeBufferPointer { buffer in
            if let base = buffer.baseAddress { return try body(base) }
            var zero = 0.0
            return try withUnsafePointer(to: &zero) { try body($0) }
        }
    }
}
