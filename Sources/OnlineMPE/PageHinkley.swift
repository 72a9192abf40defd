/// The Page–Hinkley test for an increase in the mean of a series (a loss going up), as a plain
/// value type: feed values, get a detection with its statistic, and it resets itself.
public struct PageHinkley: Sendable, Equatable {
    /// Magnitude of change tolerated before the cumulative sum grows.
    public var delta: Double
    /// Detection threshold `λ` on `cumulative − minimum`.
    public var threshold: Double
    /// Values seen before any detection is allowed.
    public var minimumCount: Int
    /// Fading factor on the cumulative sum (1: none).
    public var fading: Double

    public private(set) var count = 0
    public private(set) var mean = 0.0
    public private(set) var cumulative = 0.0
    public private(set) var minimum = 0.0

    public init(delta: Double, threshold: Double, minimumCount: Int, fading: Double = 0.9999) {
        self.delta = delta
        self.threshold = threshold
        self.minimumCount = minimumCount
        self.fading = fading
    }

    /// The current test statistic `cumulative − minimum`.
    public var statistic: Double { cumulative - minimum }

    /// Adds a value; returns the statistic if it crossed the threshold (and resets).
    public mutating func update(_ value: Double) -> Double? {
        count += 1
        mean += (value - mean) / Double(count)
        cumulative = fading * cumulative + (value - mean - delta)
        minimum = min(minimum, cumulative)
        guard count >= minimumCount, statistic > threshold else { return nil }
        let s = statistic
        reset()
        return s
    }

    public mutating func reset() {
        count = 0
        mean = 0
        cumulative = 0
        minimum = 0
    }

    func write(to w: inout SnapshotWriter) {
        w.write(count)
        w.write(mean)
        w.write(cumulative)
        w.write(minimum)
    }

    mutating func read(from r: inout SnapshotReader) throws(SnapshotError) {
        count = try r.readInt(what: "Page-Hinkley count")
        mean = try r.readDouble(what: "Page-Hinkley mean")
        cumulative = try r.readDouble(what: "Page-Hinkley sum")
        minimum = try r.readDouble(what: "Page-Hinkley minimum")
    }
}
