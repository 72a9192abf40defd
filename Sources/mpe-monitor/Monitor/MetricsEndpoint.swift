import Hummingbird
import Metrics
import Prometheus
import ServiceLifecycle

/// The monitor's metrics (swift-metrics), served in Prometheus' text format on
/// `GET /metrics` by a small Hummingbird application that runs as one more service, beside
/// the probes `GET /healthz` (200 while the monitor makes progress, 503 once it has stalled)
/// and `GET /readyz` (200 while it runs its loop and has not stalled), each with a JSON body
/// saying what was judged (`MonitorHealth`).
enum MetricsEndpoint {
    /// Installs the Prometheus backend for swift-metrics and returns the HTTP service.
    static func start(host: String, port: Int, health: MonitorHealth) -> any Service {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let router = Router()
        router.get("metrics") { _, _ -> String in registry.emitToString() }
        router.get("healthz") { _, _ in probe(health.report(), ok: \.live) }
        router.get("readyz") { _, _ in probe(health.report(), ok: \.ready) }
        return Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "mpe-monitor"))
    }

    private static func probe(_ report: MonitorHealth.Report, ok: KeyPath<MonitorHealth.Report, Bool>) -> Response {
        Response(status: report[keyPath: ok] ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: report.json)))
    }
}

/// The monitor's instruments. Without `--metrics-port` swift-metrics keeps its no-op
/// backend, so recording costs next to nothing.
struct MonitorMetrics {
    let messages = Counter(label: "mpe_messages_total")
    let learned = Counter(label: "mpe_examples_learned_total")
    let deadLetters = Counter(label: "mpe_dead_letters_total")
    let mislabeled = Counter(label: "mpe_alerts_total", dimensions: [("kind", "mislabeled")])
    let memorized = Counter(label: "mpe_alerts_total", dimensions: [("kind", "memorized")])
    let drift = Counter(label: "mpe_alerts_total", dimensions: [("kind", "generalization-drift")])
    /// Example rows deleted under `examples_retention`.
    let pruned = Counter(label: "mpe_examples_pruned_total")
    /// Dead letters deleted under `dead_letter_retention`.
    let prunedDeadLetters = Counter(label: "mpe_dead_letters_pruned_total")
    /// Alerts deleted under `alert_retention`.
    let prunedAlerts = Counter(label: "mpe_alerts_pruned_total")
    /// Alerts and dead letters the broker did not acknowledge in `message.timeout.ms`, or the
    /// producer refused to take: an alert among them stays in the outbox and is sent again.
    let alertDeliveriesFailed = Counter(label: "mpe_deliveries_failed_total", dimensions: [("what", "alert")])
    let deadLetterDeliveriesFailed = Counter(label: "mpe_deliveries_failed_total", dimensions: [("what", "dead-letter")])
    /// Messages sent to the alerts and dead-letter topics whose delivery report has not come.
    let deliveriesOutstanding = Gauge(label: "mpe_deliveries_outstanding")
    /// Alerts whose delivery failed, waiting for the next `alert_resend_interval`: above zero
    /// for long, the alerts topic is unreachable and owners hear nothing.
    let alertsAwaitingResend = Gauge(label: "mpe_alerts_awaiting_resend")
    /// Messages processed since the newest checkpoint: what a restart would learn again.
    let messagesSinceCheckpoint = Gauge(label: "mpe_messages_since_checkpoint")
    /// Seconds since the newest checkpoint (since the start, before the first): past
    /// `monitor.checkpoint_max_age` plus a tick only while nothing has been learned since.
    let checkpointAge = Gauge(label: "mpe_checkpoint_age_seconds")
    /// Seconds from the Kafka timestamp of the newest message of the last durable batch to
    /// its commit: how far behind the data the audit log and alerts are. Under a backlog it is
    /// the backlog's age, caught up the time from producer to audit log; where lag in
    /// messages means little across topics of different rates, this is what to alert on.
    /// Unchanged while no message arrives (negative only when the producer's clock is ahead).
    let messageAge = Gauge(label: "mpe_message_age_seconds")
    /// The audit log's database file and its write-ahead log, in bytes (read every 2 s): the
    /// disk the log takes, and a WAL far past `AuditLog.Options.walSizeLimit` says another
    /// connection holds a read transaction open, so SQLite cannot checkpoint it.
    let auditDatabaseBytes = Gauge(label: "mpe_audit_log_bytes", dimensions: [("file", "database")])
    let auditWALBytes = Gauge(label: "mpe_audit_log_bytes", dimensions: [("file", "wal")])
    let lag = Gauge(label: "mpe_consumer_lag")
    let prequentialNLL = Gauge(label: "mpe_prequential_nll")
    let looNLL = Gauge(label: "mpe_loo_predicted_nll")
    let looError = Gauge(label: "mpe_loo_predicted_error")
    let batchSeconds = Timer(label: "mpe_batch_duration_seconds")
}

extension MonitorMetrics {
    /// Adds a batch whose write is durable to the counters.
    func count(_ counts: BatchCounts) {
        messages.increment(by: counts.messages)
        learned.increment(by: counts.learned)
        deadLetters.increment(by: counts.deadLetters)
        mislabeled.increment(by: counts.mislabeled)
        memorized.increment(by: counts.memorized)
        drift.increment(by: counts.drift)
    }
}
