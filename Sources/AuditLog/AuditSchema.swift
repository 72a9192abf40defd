import GRDB

/// The audit log's schema and its versioned migrations.
///
/// Conventions: times are Unix seconds (REAL, UTC; `datetime(time, 'unixepoch')` reads them);
/// scores are REAL and NULL when the learner produced NaN or ±∞; Kafka partitions and offsets
/// are INTEGER in columns named `partition` and `offset`. Uniqueness lives in separate
/// indexes rather than inline constraints so that a later migration can change it without
/// rebuilding a table of millions of rows.
///
/// Migration `v1`:
///
/// | table | kind | columns |
/// |---|---|---|
/// | `runs` | append-only, except `stopped_at` set once | `id`, `configuration` (JSON), `version`, `started_at`, `stopped_at` |
/// | `examples` | append-only; UNIQUE(topic, partition, offset) | `id`, `example_id`, `topic`, `partition`, `offset`, `given_label`, `predicted_label`, `prequential_probability`, `prequential_nll`, `label_quality`, `memorization`, `sensitivity`, `curvature`, `flagged` (0/1), `time` |
/// | `alerts` | append-only; UNIQUE(alert_id) | `id`, `alert_id`, `kind` (mislabeled, memorized, generalization-drift), `example_id`, `topic`, `partition`, `offset`, `given_label`, `predicted_label`, `label_quality`, `memorization`, `sensitivity`, `curvature`, `examples_seen`, `reason`, `time` |
/// | `alert_outbox` | `delivered_at` set once; delivered rows may be deleted | `alert_id` (PK, → alerts), `payload` (JSON), `delivered_at` |
/// | `generalization` | append-only | `id`, `examples_seen`, `memory_count`, `prequential_nll`, `prequential_error`, `recent_prequential_nll`, `recent_prequential_error`, `loo_nll`, `loo_error`, `loo_calibration` (the forecast calibration factor; NULL in rows from before it was recorded), `time` |
/// | `drift_events` | append-only | `id`, `detector`, `series`, `statistic`, `threshold`, `value`, `examples_seen`, `time` |
/// | `dead_letters` | append-only; UNIQUE(topic, partition, offset) | `id`, `topic`, `partition`, `offset`, `payload_prefix` (BLOB, ≤ 4096 bytes), `payload_length`, `reason`, `time` |
/// | `stream_events` | append-only | `id`, `kind`, `topic`, `partition`, `expected_offset`, `found_offset`, `message`, `time` |
/// | `partition_offsets` | mutable; PK(topic, partition) | `topic`, `partition`, `next_offset`, `updated_at` |
/// | `checkpoints` | immutable rows; old ones pruned | `id`, `created_at`, `examples_seen`, `offsets` (JSON `[{"topic","partition","next_offset"}]`), `snapshot` (BLOB) |
///
/// Migration `v2` (log epochs: a broker that lost its data hands out offsets from 0 again, so
/// a position is unique only within one generation of a partition's log): adds `epoch`
/// (INTEGER, 0 for rows written before) to `examples`, `dead_letters`, `alerts` (NULL for drift
/// alerts), `stream_events` (the epoch after the event) and `partition_offsets`; the unique
/// positions become (topic, partition, epoch, offset). Checkpoint offsets carry `"epoch"`.
///
/// Migration `v3` (cross-partition order): `processing_order` (append-only), `id`, `topic`,
/// `partition`, `epoch`, `first_offset`, `count`: the runs of consecutive messages of one
/// partition in the order the monitor processed them (`ProcessingRun`), so that a restart
/// re-learns what followed the checkpoint in the same interleaving. Indexed by position.
///
/// Migration `v4` (retention: one row per message cannot be kept for ever at thousands of
/// messages a second): `retention` (append-only), `id`, `table_name` (`examples`), `up_to_id`,
/// `rows_deleted`, `older_than` (the cut-off time asked for), `time`: one row per pruning step.
/// `examples` rows may then be deleted, but only those at or below the largest `up_to_id`
/// recorded, so every deletion leaves its record and nothing newer can go. `AuditLog.pruneExamples`
/// (and `mpe-monitor prune`, and the monitor's `examples_retention`) write both in one transaction.
///
/// Migration `v5` adds `generalization.loo_calibration`. Migration `v6` indexes `retention`
/// on (`table_name`, `up_to_id`), the bound the `examples` delete trigger reads per row.
///
/// Migration `v7` (dead letters get a retention too: each row holds up to 4 KiB of the refused
/// payload, so a flood of bad input grew the log by kilobytes a message for ever): `retention`
/// is rebuilt with `table_name` in (`examples`, `dead_letters`), its rows kept as they were,
/// and `dead_letters` rows may be deleted up to the largest `up_to_id` recorded for
/// `dead_letters`, as `examples` rows are for `examples`. Each table's bound is its own: a
/// record for one never lets rows of the other go.
///
/// Migration `v8` (the processing order is needed only after a checkpoint, yet it grew by a row
/// a batch for ever: at a trickle, when batches hold a message or two, tens of bytes a message
/// whatever the retention): `checkpoints.order_id`, the largest `processing_order` id as of the
/// checkpoint (NULL in checkpoints written before, read as 0). `processing_order` rows at or
/// below the smallest `order_id` of the kept checkpoints record only what came before every
/// checkpoint a restart could restore, and may be deleted; the monitor deletes them when it
/// prunes old checkpoints. Newer rows stay refused. The newest row never goes (an emptied
/// table would hand out ids from 1 again).
///
/// Migration `v9` (alerts may get a retention, off by default: about 310 bytes an alert with
/// its indexes, 14 bytes a message on a stream 4.4 % flagged, is what still grew without
/// bound once examples and dead letters had one): `retention` is rebuilt once more with
/// `table_name` in (`examples`, `dead_letters`, `alerts`), and `alerts` rows may be deleted up
/// to the largest `up_to_id` recorded for `alerts`.
///
/// Migration `v10` (`query suspects --since 1h` grouped the whole `examples` table by example
/// id, about 3 s per 5 M rows, before it looked at a row's time): `example_batches`, `first_id`
/// (PK), `time`: one row per written batch with example rows, where its rows begin and the
/// latest time among them, indexed by `time`. Reads since a time start at the first batch
/// that may hold a row of theirs. Derived, not history: rows go as retention prunes examples.
///
/// Migration `v11` (every time in the log was processing time, so "what did the data of last
/// Tuesday look like" could not be asked of a monitor that had been behind, or restarted onto
/// a backlog): `message_time` (REAL, NULL when the message had none, and in rows written
/// before) on `examples`, `dead_letters` and `alerts` (the example's): the message's Kafka
/// timestamp, set by its producer or, where the topic says so, by the broker. Retention
/// still counts from `time`.
///
/// Append-only is enforced by `BEFORE UPDATE` / `BEFORE DELETE` triggers that
/// `RAISE(ABORT, '<table> is append-only')`, so no code path (nor a hand-typed `sqlite3`
/// session) can rewrite history; the statement fails and nothing changes.
///
/// Views: `latest_generalization` (the newest generalization row), `top_suspects` (the latest
/// examples row of each example id, lowest label quality first, NULL quality left out),
/// `alerts_per_hour` (`hour` as `YYYY-MM-DD HH:00` UTC, `kind`, `alerts`).
enum AuditSchema {
    /// The tables of migration v1 whose rows are history: never updated, never deleted (v3 adds
    /// `processing_order` with the same triggers).
    static let appendOnlyTables = ["examples", "alerts", "generalization", "drift_events", "dead_letters", "stream_events"]

    /// The triggers that make `table` append-only.
    private static func appendOnly(_ table: String) -> String {
        """
        CREATE TRIGGER \(table)_no_update BEFORE UPDATE ON \(table)
        BEGIN SELECT RAISE(ABORT, '\(table) is append-only'); END;
        CREATE TRIGGER \(table)_no_delete BEFORE DELETE ON \(table)
        BEGIN SELECT RAISE(ABORT, '\(table) is append-only'); END;
        """
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: v1)
            for table in appendOnlyTables { try db.execute(sql: appendOnly(table)) }
        }
        migrator.registerMigration("v2") { db in
            // ADD COLUMN neither rewrites the rows nor fires the append-only triggers.
            try db.execute(sql: v2)
        }
        migrator.registerMigration("v3") { db in
            try db.execute(sql: v3)
            try db.execute(sql: appendOnly("processing_order"))
        }
        migrator.registerMigration("v4") { db in
            try db.execute(sql: v4)
            try db.execute(sql: appendOnly("retention"))
        }
        migrator.registerMigration("v5") { db in
            // ADD COLUMN neither rewrites the rows nor fires the append-only triggers.
            try db.execute(sql: "ALTER TABLE generalization ADD COLUMN loo_calibration REAL")
        }
        migrator.registerMigration("v6") { db in
            // The delete trigger of `examples` reads MAX(up_to_id) for every row it lets go;
            // without an index that is a scan of all retention records, one more per pruning
            // step, so pruning grew quadratic over a long run (bench/soak/run: 20,000 rows
            // behind 30,000 records, 68.94 s without the index, 0.21 s with it).
            try db.execute(sql: "CREATE INDEX retention_table_up_to ON retention (table_name, up_to_id)")
        }
        migrator.registerMigration("v7") { db in
            try db.execute(sql: v7)
            try db.execute(sql: appendOnly("retention"))
        }
        migrator.registerMigration("v8") { db in
            // ADD COLUMN neither rewrites the rows nor fires the checkpoints' update trigger.
            try db.execute(sql: v8)
        }
        migrator.registerMigration("v9") { db in
            try db.execute(sql: v9)
            try db.execute(sql: appendOnly("retention"))
        }
        migrator.registerMigration("v10") { db in
            try db.execute(sql: v10)
        }
        migrator.registerMigration("v11") { db in
            // ADD COLUMN neither rewrites the rows nor fires the append-only triggers.
            try db.execute(sql: """
                ALTER TABLE examples ADD COLUMN message_time REAL;
                ALTER TABLE dead_letters ADD COLUMN message_time REAL;
                ALTER TABLE alerts ADD COLUMN message_time REAL
                """)
        }
        return migrator
    }

    private static let v4 = """
        CREATE TABLE retention (
            id INTEGER PRIMARY KEY,
            table_name TEXT NOT NULL CHECK (table_name = 'examples'),
            up_to_id INTEGER NOT NULL CHECK (up_to_id >= 0),
            rows_deleted INTEGER NOT NULL CHECK (rows_deleted >= 0),
            older_than REAL NOT NULL,
            time REAL NOT NULL
        );
        DROP TRIGGER examples_no_delete;
        CREATE TRIGGER examples_no_delete BEFORE DELETE ON examples
        WHEN OLD.id > COALESCE((SELECT MAX(up_to_id) FROM retention WHERE table_name = 'examples'), 0)
        BEGIN SELECT RAISE(ABORT, 'examples is append-only (rows covered by a retention record may be pruned: mpe-monitor prune)'); END;
        """

    /// The bound a `processing_order` row may be deleted up to: the smallest `order_id` of
    /// the checkpoints kept (0 when there is none, or one from before v8). The delete trigger
    /// reads it for every row, so it must come from the index: `order_id` is stored after the
    /// snapshot, and reading it from the table walks each snapshot's overflow pages (30,000
    /// rows behind three 1.5 MB checkpoints: 47 s that way, 0.09 s from the index, by the
    /// sqlite3 shell).
    static let processingOrderBound = """
        SELECT CASE WHEN EXISTS (SELECT 1 FROM checkpoints WHERE order_id IS NULL) THEN 0 \
        ELSE COALESCE(MIN(order_id), 0) END FROM checkpoints
        """

    /// The newest run is never deleted: an `INTEGER PRIMARY KEY` without AUTOINCREMENT takes
    /// the largest id plus one, so an emptied table would hand out ids from 1 again, below the
    /// kept checkpoints' `order_id`, and the next pruning would delete runs a restart needs.
    private static let v8 = """
        ALTER TABLE checkpoints ADD COLUMN order_id INTEGER CHECK (order_id >= 0);
        CREATE INDEX checkpoints_order_id ON checkpoints (order_id);
        DROP TRIGGER processing_order_no_delete;
        CREATE TRIGGER processing_order_no_delete BEFORE DELETE ON processing_order
        WHEN OLD.id > (\(processingOrderBound)) OR OLD.id = (SELECT MAX(id) FROM processing_order)
        BEGIN SELECT RAISE(ABORT, 'processing_order is append-only (rows before every kept checkpoint but the newest may be pruned)'); END;
        """

    /// The delete trigger of a table under retention: rows at or below the largest `up_to_id`
    /// recorded for it may go, no other.
    private static func retainedDelete(_ table: String) -> String {
        """
        CREATE TRIGGER \(table)_no_delete BEFORE DELETE ON \(table)
        WHEN OLD.id > COALESCE((SELECT MAX(up_to_id) FROM retention WHERE table_name = '\(table)'), 0)
        BEGIN SELECT RAISE(ABORT, '\(table) is append-only (rows covered by a retention record may be pruned: mpe-monitor prune)'); END;
        """
    }

    /// `example_batches`: where each written batch's example rows begin (`first_id`), and the
    /// latest `time` among the rows from there to the next batch's first id. `query suspects
    /// --since` takes the smallest `first_id` whose `time` is not before the cut-off as a rowid
    /// bound, and so reads the rows written since rather than the whole table. The bound is
    /// exact even after a clock stepped back (a batch's `time` is the latest of its rows, and
    /// the cut-off is still applied to every row read). Not history: a row goes once retention
    /// has pruned every example row it covers. An index on `examples (time)` would do the same at
    /// a cost on every row (`audit-bench 300000 1000 full`: 511–531k rows/s without it, 413–429k
    /// with it); this costs one row a batch. A log being upgraded gets one row covering all its
    /// example rows, timed by their latest (one scan of the table, once).
    private static let v10 = """
        CREATE TABLE example_batches (
            first_id INTEGER PRIMARY KEY,
            time REAL NOT NULL
        );
        CREATE INDEX example_batches_time ON example_batches (time);
        INSERT INTO example_batches (first_id, time) SELECT MIN(id), MAX(time) FROM examples HAVING COUNT(*) > 0;
        """

    /// As v7: `retention` rebuilt for its CHECK, the triggers naming it dropped first and made
    /// again after; `alerts` loses its plain append-only delete trigger for a retained one.
    private static let v9 = """
        DROP TRIGGER examples_no_delete;
        DROP TRIGGER dead_letters_no_delete;
        DROP TRIGGER alerts_no_delete;
        DROP TRIGGER retention_no_update;
        DROP TRIGGER retention_no_delete;
        DROP INDEX retention_table_up_to;
        CREATE TABLE retention_v9 (
            id INTEGER PRIMARY KEY,
            table_name TEXT NOT NULL CHECK (table_name IN ('examples', 'dead_letters', 'alerts')),
            up_to_id INTEGER NOT NULL CHECK (up_to_id >= 0),
            rows_deleted INTEGER NOT NULL CHECK (rows_deleted >= 0),
            older_than REAL NOT NULL,
            time REAL NOT NULL
        );
        INSERT INTO retention_v9 (id, table_name, up_to_id, rows_deleted, older_than, time)
            SELECT id, table_name, up_to_id, rows_deleted, older_than, time FROM retention;
        DROP TABLE retention;
        ALTER TABLE retention_v9 RENAME TO retention;
        CREATE INDEX retention_table_up_to ON retention (table_name, up_to_id);
        \(retainedDelete("examples"))
        \(retainedDelete("dead_letters"))
        \(retainedDelete("alerts"))
        """

    /// A CHECK constraint cannot be altered, so `retention` is rebuilt (it holds one row per
    /// pruning step: small). The triggers that name it go first and come back after: a RENAME
    /// re-reads every trigger of the schema and refuses one that names a missing table.
    private static let v7 = """
        DROP TRIGGER examples_no_delete;
        DROP TRIGGER dead_letters_no_delete;
        DROP TRIGGER retention_no_update;
        DROP TRIGGER retention_no_delete;
        DROP INDEX retention_table_up_to;
        CREATE TABLE retention_v7 (
            id INTEGER PRIMARY KEY,
            table_name TEXT NOT NULL CHECK (table_name IN ('examples', 'dead_letters')),
            up_to_id INTEGER NOT NULL CHECK (up_to_id >= 0),
            rows_deleted INTEGER NOT NULL CHECK (rows_deleted >= 0),
            older_than REAL NOT NULL,
            time REAL NOT NULL
        );
        INSERT INTO retention_v7 (id, table_name, up_to_id, rows_deleted, older_than, time)
            SELECT id, table_name, up_to_id, rows_deleted, older_than, time FROM retention;
        DROP TABLE retention;
        ALTER TABLE retention_v7 RENAME TO retention;
        CREATE INDEX retention_table_up_to ON retention (table_name, up_to_id);
        CREATE TRIGGER examples_no_delete BEFORE DELETE ON examples
        WHEN OLD.id > COALESCE((SELECT MAX(up_to_id) FROM retention WHERE table_name = 'examples'), 0)
        BEGIN SELECT RAISE(ABORT, 'examples is append-only (rows covered by a retention record may be pruned: mpe-monitor prune)'); END;
        CREATE TRIGGER dead_letters_no_delete BEFORE DELETE ON dead_letters
        WHEN OLD.id > COALESCE((SELECT MAX(up_to_id) FROM retention WHERE table_name = 'dead_letters'), 0)
        BEGIN SELECT RAISE(ABORT, 'dead_letters is append-only (rows covered by a retention record may be pruned: mpe-monitor prune)'); END;
        """

    private static let v3 = """
        CREATE TABLE processing_order (
            id INTEGER PRIMARY KEY,
            topic TEXT NOT NULL,
            partition INTEGER NOT NULL,
            epoch INTEGER NOT NULL CHECK (epoch >= 0),
            first_offset INTEGER NOT NULL CHECK (first_offset >= 0),
            count INTEGER NOT NULL CHECK (count > 0)
        );
        CREATE INDEX processing_order_position ON processing_order (topic, partition, epoch, first_offset);
        """

    private static let v2 = """
        ALTER TABLE examples ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
        DROP INDEX examples_position;
        CREATE UNIQUE INDEX examples_position ON examples (topic, partition, epoch, offset);
        ALTER TABLE dead_letters ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
        DROP INDEX dead_letters_position;
        CREATE UNIQUE INDEX dead_letters_position ON dead_letters (topic, partition, epoch, offset);
        ALTER TABLE alerts ADD COLUMN epoch INTEGER;
        ALTER TABLE stream_events ADD COLUMN epoch INTEGER;
        ALTER TABLE partition_offsets ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0 CHECK (epoch >= 0);
        """

    private static let v1 = """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            configuration TEXT NOT NULL CHECK (json_valid(configuration)),
            version TEXT NOT NULL,
            started_at REAL NOT NULL,
            stopped_at REAL
        );
        -- A run's only change is its stop time, once.
        CREATE TRIGGER runs_update_once BEFORE UPDATE ON runs
        WHEN OLD.stopped_at IS NOT NULL OR NEW.stopped_at IS NULL
            OR NEW.id IS NOT OLD.id OR NEW.configuration IS NOT OLD.configuration
            OR NEW.version IS NOT OLD.version OR NEW.started_at IS NOT OLD.started_at
        BEGIN SELECT RAISE(ABORT, 'runs is append-only (only stopped_at may be set, once)'); END;
        CREATE TRIGGER runs_no_delete BEFORE DELETE ON runs
        BEGIN SELECT RAISE(ABORT, 'runs is append-only'); END;

        CREATE TABLE examples (
            id INTEGER PRIMARY KEY,
            example_id TEXT NOT NULL,
            topic TEXT NOT NULL,
            partition INTEGER NOT NULL,
            offset INTEGER NOT NULL,
            given_label REAL,
            predicted_label REAL,
            prequential_probability REAL,
            prequential_nll REAL,
            label_quality REAL,
            memorization REAL,
            sensitivity REAL,
            curvature REAL,
            flagged INTEGER NOT NULL CHECK (flagged IN (0, 1)),
            time REAL NOT NULL
        );
        CREATE UNIQUE INDEX examples_position ON examples (topic, partition, offset);

        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            alert_id TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('mislabeled', 'memorized', 'generalization-drift')),
            example_id TEXT,
            topic TEXT,
            partition INTEGER,
            offset INTEGER,
            given_label REAL,
            predicted_label REAL,
            label_quality REAL,
            memorization REAL,
            sensitivity REAL,
            curvature REAL,
            examples_seen INTEGER NOT NULL,
            reason TEXT NOT NULL,
            time REAL NOT NULL
        );
        CREATE UNIQUE INDEX alerts_alert_id ON alerts (alert_id);
        CREATE INDEX alerts_time ON alerts (time);

        CREATE TABLE alert_outbox (
            alert_id TEXT PRIMARY KEY NOT NULL REFERENCES alerts (alert_id),
            payload TEXT NOT NULL CHECK (json_valid(payload)),
            delivered_at REAL
        );
        CREATE INDEX alert_outbox_undelivered ON alert_outbox (alert_id) WHERE delivered_at IS NULL;
        -- Delivery is the outbox's only change, once; the payload never changes.
        CREATE TRIGGER alert_outbox_deliver_once BEFORE UPDATE ON alert_outbox
        WHEN OLD.delivered_at IS NOT NULL OR NEW.delivered_at IS NULL
            OR NEW.alert_id IS NOT OLD.alert_id OR NEW.payload IS NOT OLD.payload
        BEGIN SELECT RAISE(ABORT, 'alert_outbox: only delivered_at may be set, once'); END;
        CREATE TRIGGER alert_outbox_delete_delivered BEFORE DELETE ON alert_outbox
        WHEN OLD.delivered_at IS NULL
        BEGIN SELECT RAISE(ABORT, 'alert_outbox: an undelivered alert cannot be deleted'); END;

        CREATE TABLE generalization (
            id INTEGER PRIMARY KEY,
            examples_seen INTEGER NOT NULL,
            memory_count INTEGER NOT NULL,
            prequential_nll REAL,
            prequential_error REAL,
            recent_prequential_nll REAL,
            recent_prequential_error REAL,
            loo_nll REAL,
            loo_error REAL,
            time REAL NOT NULL
        );
        CREATE INDEX generalization_time ON generalization (time);

        CREATE TABLE drift_events (
            id INTEGER PRIMARY KEY,
            detector TEXT NOT NULL,
            series TEXT NOT NULL,
            statistic REAL,
            threshold REAL,
            value REAL,
            examples_seen INTEGER NOT NULL,
            time REAL NOT NULL
        );
        CREATE INDEX drift_events_time ON drift_events (time);

        CREATE TABLE dead_letters (
            id INTEGER PRIMARY KEY,
            topic TEXT NOT NULL,
            partition INTEGER NOT NULL,
            offset INTEGER NOT NULL,
            payload_prefix BLOB NOT NULL CHECK (length(payload_prefix) <= 4096),
            payload_length INTEGER NOT NULL CHECK (payload_length >= length(payload_prefix)),
            reason TEXT NOT NULL,
            time REAL NOT NULL
        );
        CREATE UNIQUE INDEX dead_letters_position ON dead_letters (topic, partition, offset);

        CREATE TABLE stream_events (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            topic TEXT,
            partition INTEGER,
            expected_offset INTEGER,
            found_offset INTEGER,
            message TEXT NOT NULL,
            time REAL NOT NULL
        );

        CREATE TABLE partition_offsets (
            topic TEXT NOT NULL,
            partition INTEGER NOT NULL,
            next_offset INTEGER NOT NULL CHECK (next_offset >= 0),
            updated_at REAL NOT NULL,
            PRIMARY KEY (topic, partition)
        ) WITHOUT ROWID;

        CREATE TABLE checkpoints (
            id INTEGER PRIMARY KEY,
            created_at REAL NOT NULL,
            examples_seen INTEGER NOT NULL,
            offsets TEXT NOT NULL CHECK (json_valid(offsets)),
            snapshot BLOB NOT NULL
        );
        CREATE TRIGGER checkpoints_immutable BEFORE UPDATE ON checkpoints
        BEGIN SELECT RAISE(ABORT, 'checkpoints are immutable'); END;

        CREATE VIEW latest_generalization AS
        SELECT * FROM generalization ORDER BY id DESC LIMIT 1;

        CREATE VIEW top_suspects AS
        SELECT e.* FROM examples e
        JOIN (SELECT MAX(id) AS id FROM examples GROUP BY example_id) latest ON latest.id = e.id
        WHERE e.label_quality IS NOT NULL
        ORDER BY e.label_quality ASC, e.id ASC;

        CREATE VIEW alerts_per_hour AS
        SELECT strftime('%Y-%m-%d %H:00', time, 'unixepoch') AS hour, kind, COUNT(*) AS alerts
        FROM alerts GROUP BY hour, kind ORDER BY hour, kind;
        """
}
