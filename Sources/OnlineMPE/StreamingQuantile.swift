/// The P² algorithm (Jain & Chlamtac 1985): a running estimate of one quantile of a stream in
/// constant memory (five markers), as a plain value type.
///
/// The five markers live in the first lanes of fixed-size vectors rather than arrays: two
/// estimators are updated per example, and array bounds and uniqueness checks were most of
/// their cost. Lanes 5–7 stay 0.
public struct StreamingQuantile: Sendable, Equatable {
    public let quantile: Double
    /// Marker heights; while fewer than five values were seen, the values themselves.
    var heights = SIMD8<Double>(repeating: 0)
    var positions = SIMD8<Double>(1, 2, 3, 4, 5, 0, 0, 0)
    var desired: SIMD8<Double>
    let increments: SIMD8<Double>
    public private(set) var count = 0

    public init(quantile: Double) {
        self.quantile = quantile
        desired = SIMD8(1, 1 + 2 * quantile, 1 + 4 * quantile, 3 + 2 * quantile, 5, 0, 0, 0)
        increments = SIMD8(0, quantile / 2, quantile, (1 + quantile) / 2, 1, 0, 0, 0)
    }

    /// The heights held so far (all five once warmed up).
    private var heldHeights: [Double] { (0..<min(count, 5)).map { heights[$0] } }

    /// The current estimate (exact order statistic while fewer than five values were seen).
    public var value: Double? {
        guard count > 0 else { return nil }
        if count < 5 {
            let sorted = heldHeights.sorted()
            let index = min(sorted.count - 1, Int((quantile * Double(sorted.count)).rounded(.down)))
            return sorted[index]
        }
        return heights[2]
    }

    public mutating func add(_ x: Double) {
        guard x.isFinite else { return }
        count += 1
        if count <= 5 {
            heights[count - 1] = x
            if count == 5 {
                let sorted = heldHeights.sorted()
                for i in 0..<5 { heights[i] = sorted[i] }
            }
            return
        }
        // Lanes are only ever addressed by constant indices and whole-vector operations: a lane
        // picked by a variable index sends the vector through the stack, and reading it back
        // stalled on the store (40 % of this function's samples before).
        let k: Int
        if x < heights[0] {
            heights[0] = x
            k = 0
        } else if x >= heights[4] {
            heights[4] = x
            k = 3
        } else {
            k = x < heights[1] ? 0 : x < heights[2] ? 1 : x < heights[3] ? 2 : 3
        }
        // Markers k+1…4 move up one; lanes 5–7 stay 0.
        positions += SIMD8(repeating: 0).replacing(with: 1, where: (StreamingQuantile.lanes .> Double(k)) .& (StreamingQuantile.lanes .< 5))
        desired += increments
        adjust(1)
        adjust(2)
        adjust(3)
    }

    private static let lanes = SIMD8<Double>(0, 1, 2, 3, 4, 5, 6, 7)

    /// Moves marker `i` one position toward its desired one when it is off by one or more and
    /// its neighbour leaves room (P²'s adjustment step).
    @inline(__always)
    private mutating func adjust(_ i: Int) {
        let d = desired[i] - positions[i]
        if (d >= 1 && positions[i + 1] - positions[i] > 1) || (d <= -1 && positions[i - 1] - positions[i] < -1) {
            let s: Double = d > 0 ? 1 : -1
            let candidate = parabolic(i, s)
            if heights[i - 1] < candidate && candidate < heights[i + 1] {
                heights[i] = candidate
            } else {
                heights[i] = linear(i, s)
            }
            positions[i] += s
        }
    }

    @inline(__always)
    private func parabolic(_ i: Int, _ s: Double) -> Double {
        let q = heights, n = positions
        return q[i] + s / (n[i + 1] - n[i - 1]) * (
            (n[i] - n[i - 1] + s) * (q[i + 1] - q[i]) / (n[i + 1] - n[i])
            + (n[i + 1] - n[i] - s) * (q[i] - q[i - 1]) / (n[i] - n[i - 1]))
    }

    @inline(__always)
    private func linear(_ i: Int, _ s: Double) -> Double {
        let (hj, nj) = s > 0 ? (heights[i + 1], positions[i + 1]) : (heights[i - 1], positions[i - 1])
        return heights[i] + s * (hj - heights[i]) / (nj - positions[i])
    }

    func write(to w: inout SnapshotWriter) {
        w.write(count)
        w.write(heldHeights)
        w.write((0..<5).map { positions[$0] })
        w.write((0..<5).map { desired[$0] })
    }

    mutating func read(from r: inout SnapshotReader) throws(SnapshotError) {
        count = try r.readInt(what: "quantile count")
        guard count >= 0 else { throw .invalid(what: "quantile count \(count)") }
        let held = try r.readDoubles(count: min(count, 5), what: "quantile heights")
        let p = try r.readDoubles(count: 5, what: "quantile positions")
        let d = try r.readDoubles(count: 5, what: "quantile desired")
        heights = SIMD8(repeating: 0)
        positions = SIMD8(repeating: 0)
        desired = SIMD8(repeating: 0)
        for i in 0..<5 {
            if i < held.count { heights[i] = held[i] }
            positions[i] = p[i]
            desired[i] = d[i]
        }
    }
}
