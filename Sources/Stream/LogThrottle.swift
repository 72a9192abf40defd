/// Decides when a recurring event is worth a log line: the first at once, then at most one per
/// `interval`, each carrying how many events it stands for. For failures that come by the
/// thousand (every delivery while a broker is unreachable), where a line each would bury the
/// log. A value type: callers that record from several threads keep it under their lock.
public struct LogThrottle: Sendable, Equatable {
    public let interval: Duration
    private var lastLogged: ContinuousClock.Instant?
    private var unlogged = 0

    public init(interval: Duration) {
        self.interval = interval
    }

    /// Counts one event. Returns how many events (this one included) a line logged now should
    /// report, or nil when the last line is more recent than `interval`.
    public mutating func record(now: ContinuousClock.Instant = .now) -> Int? {
        unlogged += 1
        if let lastLogged, now - lastLogged < interval { return nil }
        defer {
            lastLogged = now
            unlogged = 0
        }
        return unlogged
    }

    /// The events counted since the last line (for a closing line), and resets the count.
    public mutating func drain() -> Int {
        defer { unlogged = 0 }
        return unlogged
    }
}
