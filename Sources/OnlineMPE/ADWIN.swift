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
    public let maxBuckets: Int
    public var minimumWindow: Int
    public var minimumSubwindow: Int

    /// Row i holds buckets of 2^i values, oldest first, as a ring of `slots` entries in
    /// `buckets[i*slots ..< (i+1)*slots]` starting at `heads[i]` (`counts[i]` of them): a row
    /// never holds more than `maxBuckets + 1` buckets, and the merge of its two oldest is then
    /// an index step instead of shifting an array of arrays (which was most of ADWIN's cost).
    var buckets: [Bucket] = []
    var heads: [Int] = []
    var counts: [Int] = []
    var slots: Int { maxBuckets + 1 }
    var rowCount: Int { counts.count }
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

    /// Equal windows: the same settings, counters and buckets, wherever the rings start.
    public static func == (a: ADWIN, b: ADWIN) -> Bool {
        guard a.delta == b.delta, a.clock == b.clock, a.maxBuckets == b.maxBuckets, a.minimumWindow == b.minimumWindow,
              a.minimumSubwindow == b.minimumSubwindow, a.width == b.width, a.total == b.total,
              a.varianceSum == b.varianceSum, a.ticks == b.ticks, a.counts == b.counts else { return false }
        for i in 0..<a.rowCount {
            for j in 0..<a.counts[i] where a.bucket(i, j) != b.bucket(i, j) { return false }
        }
        return true
    }

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
        if rowCount == 0 { addRow() }
        if width > 0 {
            let n = Double(width)
            let diff = value - total / n
            varianceSum += n * diff * diff / (n + 1)
        }
        width += 1
        total += value
        append(Bucket(total: value, variance: 0), row: 0)
    }

    private mutating func addRow() {
        buckets.append(contentsOf: repeatElement(Bucket(total: 0, variance: 0), count: slots))
        heads.append(0)
        counts.append(0)
    }

    /// Where the `j`-th oldest bucket of row `i` is (`j < slots`): a wrap by one subtraction
    /// rather than `%`, an integer division per bucket visited.
    private func slot(_ i: Int, _ j: Int) -> Int {
        let k = heads[i] + j
        return i * slots + (k >= slots ? k - slots : k)
    }

    /// The `j`-th oldest bucket of row `i`.
    func bucket(_ i: Int, _ j: Int) -> Bucket { buckets[slot(i, j)] }

    private mutating func append(_ b: Bucket, row i: Int) {
        buckets[slot(i, counts[i])] = b
        counts[i] += 1
    }

    private mutating func removeOldest(row i: Int) -> Bucket {
        let b = bucket(i, 0)
        heads[i] = heads[i] + 1 == slots ? 0 : heads[i] + 1
        counts[i] -= 1
        return b
    }

    mutating func compress() {
        var i = 0
        while i < rowCount {
            if counts[i] <= maxBuckets { break }
            let a = removeOldest(row: i)
            let b = removeOldest(row: i)
            let n = Double(1 << i)
            let diff = a.total / n - b.total / n
            let merged = Bucket(total: a.total + b.total, variance: a.variance + b.variance + n * n * diff * diff / (2 * n))
            if i + 1 == rowCount { addRow() }
            append(merged, row: i + 1)
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
            search: for i in stride(from: rowCount - 1, through: 0, by: -1) {
                let size = Double(1 << i)
                for j in 0..<counts[i] {
                    n0 += size
                    t0 += bucket(i, j).total
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
        guard let top = counts.lastIndex(where: { $0 > 0 }) else { return }
        let bucket = removeOldest(row: top)
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
        while let last = counts.last, last == 0 {
            counts.removeLast()
            heads.removeLast()
            buckets.removeLast(slots)
        }
    }

    func write(to w: inout SnapshotWriter) {
        w.write(width)
        w.write(total)
        w.write(varianceSum)
        w.write(ticks)
        w.write(rowCount)
        for i in 0..<rowCount {
            w.write((0..<counts[i]).map { bucket(i, $0).total })
            w.write((0..<counts[i]).map { bucket(i, $0).variance })
        }
    }

    mutating func read(from r: inout SnapshotReader) throws(SnapshotError) {
        width = try r.readInt(what: "ADWIN width")
        total = try r.readDouble(what: "ADWIN total")
        varianceSum = try r.readDouble(what: "ADWIN variance")
        ticks = try r.readInt(what: "ADWIN ticks")
        let count = try r.readCount(what: "ADWIN rows", limit: 64)
        buckets = []
        heads = []
        counts = []
        for i in 0..<count {
            let totals = try r.readDoubles(limit: maxBuckets + 1, what: "ADWIN totals")
            let variances = try r.readDoubles(count: totals.count, what: "ADWIN variances")
            addRow()
            for (t, v) in zip(totals, variances) { append(Bucket(total: t, variance: v), row: i) }
        }
    }
}
