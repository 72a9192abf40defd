import Synchronization

/// Whether the monitor is making progress, for `GET /healthz` (liveness) and `GET /readyz`
/// (readiness) on the metrics port, e.g. a Kubernetes probe.
///
/// A monitor can be up and stuck: an audit-log write that does not return (a hung network
/// file system, another process holding the database's write lock) leaves the process alive
/// and its HTTP port answering, while on an idle topic the lag gauge stays flat and nothing
/// else tells anyone. The loop marks each pass (it passes at least every 2 s: it also wakes on
/// a timer), and each batch write its start and end; a pass or a write older than
/// `stallTimeout` makes the monitor not live. A broker outage does not: the loop keeps
/// passing, and a restart would not bring the broker back.
final class MonitorHealth: Sendable {
    /// Where the monitor is in its life: it is ready only while running.
    enum Phase: String, Sendable {
        /// Restoring the checkpoint, sending the outbox's undelivered alerts.
        case starting
        /// In the consume → learn → write loop.
        case running
        /// Draining after the loop ended (bounded by `monitor.shutdown_timeout`).
        case stopping
    }

    /// One answer of the probes, as of one instant.
    struct Report: Equatable, Sendable {
        var phase: Phase
        /// Seconds since the loop last passed (since the phase began while starting).
        var secondsSinceLoop: Double
        /// Seconds the batch write under way has taken so far (nil: none under way).
        var writeSeconds: Double?
        /// Why the monitor is not live (nil: it is).
        var stall: String?
        var stallTimeout: Double

        var live: Bool { stall == nil }
        var ready: Bool { live && phase == .running }

        /// The probes' body: what was judged and on what figures.
        var json: String {
            JSONText.object([
                ("status", JSONText.string(stall == nil ? "ok" : "stalled")),
                ("phase", JSONText.string(phase.rawValue)),
                ("ready", ready ? "true" : "false"),
                ("seconds_since_loop", JSONText.number(secondsSinceLoop)),
                ("write_seconds", writeSeconds.map(JSONText.number) ?? "null"),
                ("stall_timeout_seconds", JSONText.number(stallTimeout)),
                ("reason", stall.map(JSONText.string) ?? "null"),
            ]) + "\n"
        }
    }

    private struct State {
        var phase: Phase = .starting
        var loop: ContinuousClock.Instant
        var writeStarted: ContinuousClock.Instant?
    }

    let stallTimeout: Duration
    private let state: Mutex<State>

    init(stallTimeout: Duration, now: ContinuousClock.Instant = .now) {
        self.stallTimeout = stallTimeout
        state = Mutex(State(loop: now))
    }

    /// The loop has begun; it passes from now on.
    func running(at now: ContinuousClock.Instant = .now) { state.withLock { $0.phase = .running; $0.loop = now } }

    /// The loop has ended: draining, no longer ready.
    func stopping(at now: ContinuousClock.Instant = .now) { state.withLock { $0.phase = .stopping; $0.loop = now } }

    /// One pass of the loop (an event taken, or a tick).
    func loopPassed(at now: ContinuousClock.Instant = .now) { state.withLock { $0.loop = now } }

    /// A batch write begins (at most one is under way: the loop waits for it before the next).
    func writeBegan(at now: ContinuousClock.Instant = .now) { state.withLock { $0.writeStarted = now } }

    /// The batch write ended, committed or failed (a failure stops the loop, which says why).
    func writeEnded() { state.withLock { $0.writeStarted = nil } }

    func report(at now: ContinuousClock.Instant = .now) -> Report {
        let s = state.withLock { $0 }
        let sinceLoop = now - s.loop
        let writing = s.writeStarted.map { now - $0 }
        var stall: String?
        // Only the loop's own passes are judged: starting and stopping are bounded elsewhere
        // (the broker's metadata timeout, `monitor.shutdown_timeout`), and a restart then
        // would cut short what they are doing.
        if s.phase == .running {
            if let writing, writing > stallTimeout {
                stall = "a write to the audit log has been under way for \(Fmt.fixed(Self.seconds(writing), 1)) s"
            } else if sinceLoop > stallTimeout {
                stall = "the monitor's loop has not run for \(Fmt.fixed(Self.seconds(sinceLoop), 1)) s"
            }
        }
        return Report(phase: s.phase, secondsSinceLoop: Self.seconds(sinceLoop), writeSeconds: writing.map(Self.seconds),
                      stall: stall.map { "\($0) (monitor.stall_timeout \(Fmt.fixed(Self.seconds(stallTimeout), 0)) s)" },
                      stallTimeout: Self.seconds(stallTimeout))
    }

    /// To the millisecond: a probe's body is read by people too.
    private static func seconds(_ d: Duration) -> Double {
        (d.seconds * 1000).rounded() / 1000
    }
}
