import Glibc

/// ADWIN (Bifet & Gavaldà 2007): an adaptive window that drops its older part whenever the
/// means of the two parts differ by more than a Hoeffding/Bernstein bound at confidence `δ`.
/// The window is kept as an exponential histogram (buckets of 2^i values, at most
/// `maxBuckets` per size), so memory and time are O(log n). A plain value type.
public struct ADWIN: Sendable, Equatable {
    /// One bucket: the sum and the variance sum (Σ(x−mean)²) of 2^row values.
    struct Bucket: Sendable, Equatable {
        var total: Double
        var variance: Double
    }

    public var delta: Double
    /// Check for a cut every `clock` values, as the reference implementation does.
    public var clock: Int
    public var maxBuckets: Int
    public var minimumWindow: Int
    public var minimumSubwindow: Int

    /// rows[i] holds buckets of 2^i values, oldest first.
    var rows: [[Bucket]] = []
    public private(set) var width = 0
    public private(set) var total = 0.0
    public private(set) var varianceSum = 0.0
    var ticks = 0

    public init(delta: Double = 0.002, clock: Int = 32, maxBuckets: Int = 5, minimumWindow: Int = 10, minimumSubwindow: Int = 5) {
        self.delta = delta
        self.clock = clock
        self.maxBuckets = maxBuckets
        self.minimumWindow = minimumWindow
        self.minimumSubwindow = minimumSubwindow
    }

    public var mean: Double { width > 0 ? total / Double(width) : 0 }
    public var variance: Double { width > 0 ? varianceSum / Double(width) : 0 }

    /// Adds a value; if the window was cut (a change was detected), returns the mean of the
    /// newer part minus the mean of the older part at the cut: positive when the series rose.
    public mutating func update(_ value: Double) -> Double? {
        insert(value)
        compress()
        ticks += 1
        guard ticks % clock == 0, width > minimumWindow else { return nil }
        return detect()
    }

    mutating func insert(_ value: Double) {
        if rows.isEmpty { rows.append([]) }
        if width > 0 {
            let n = Double(width)
            let diff = value - total / n
            varianceSum += n * diff * diff / (n + 1)
        }
        width += 1
        total += value
        rows[0].append(Bucket(total: value, variance: 0))
    }

    mutating func compress() {
        var i = 0
        while i < rows.count {
            if rows[i].count <= maxBuckets { break }
            let a = rows[i].removeFirst()
            let b = rows[i].removeFirst()
            let n = Double(1 << i)
            let diff = a.total / n - b.total / n
            let merged = Bucket(total: a.total + b.total, variance: a.variance + b.variance + n * n * diff * diff / (2 * n))
            if i + 1 == rows.count { rows.append([]) }
            rows[i + 1].append(merged)
            i += 1
        }
    }

    mutating func detect() -> Double? {
        var detected: Double? = nil
        var again = true
        while again, width > minimumWindow {
            again = false
            var n0 = 0.0
            var t0 = 0.0
            let n = Double(width)
            let dd = log(2 * log(n) / delta)
            let v = variance
            // Walk from the oldest bucket: W0 = older part, W1 = the rest.
            search: for i in stride(from: rows.count - 1, through: 0, by: -1) {
                let size = Double(1 << i)
                for bucket in rows[i] {
                    n0 += size
                    t0 += bucket.total
                    let n1 = n - n0
                    guard n1 >= Double(minimumSubwindow) else { break search }
                    guard n0 >= Double(minimumSubwindow) else { continue }
                    let signed = (total - t0) / n1 - t0 / n0
                    let difference = abs(signed)
                    let m = 1 / (n0 - Double(minimumSubwindow) + 1) + 1 / (n1 - Double(minimumSubwindow) + 1)
                    let epsilon = (2 * m * v * dd).squareRoot() + 2.0 / 3.0 * dd * m
                    if difference > epsilon {
                        detected = signed
                        dropOldest()
                        again = true
                        break search
                    }
                }
            }
        }
        return detected
    }

    mutating func dropOldest() {
        guard let top = rows.indices.last(where: { !rows[$0].isEmpty }) else { return }
        let bucket = rows[top].removeFirst()
        let size = 1 << top
        let remaining = width - size
        let n = Double(size)
        if remaining > 0 {
            let r = Double(remaining)
            let meanRemaining = (total - bucket.total) / r
            let diff = bucket.total / n - meanRemaining
            varianceSum -= bucket.variance + n * r * diff * diff / (n + r)
            varianceSum = max(varianceSum, 0)
        } else {
            varianceSum = 0
        }
        width = remaining
        total -= bucket.total
        while let last = rows.last, last.isEmpty { rows.removeLast() }
    }

    func write(to w: inout SnapshotWriter) {
        w.write(width)
        w.write(total)
        w.write(varianceSum)
        w.write(ticks)
        w.write(rows.count)
        for row in rows {
            w.write(row.map(\.total))
            w.write(row.map(\.variance))
        }
    }

    mutating func read(from r: inout SnapshotReader) throws(SnapshotError) {
        width = try r.readInt(what: "ADWIN width")
        total = try r.readDouble(what: "ADWIN total")
        varianceSum = try r.readDouble(what: "ADWIN variance")
        ticks = try r.readInt(what: "ADWIN ticks")
        let count = try r.readCount(what: "ADWIN rows", limit: 64)
        rows = []
        for _ in 0..<count {
            let totals = try r.readDoubles(limit: maxBuckets + 1, what: "ADWIN totals")
            let variances = try r.readDoubles(count: totals.count, what: "ADWIN variances")
            rows.append(zip(totals, variances).map { Bucket(total: $0, variance: $1) })
        }
    }
}
