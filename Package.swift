// swift-tools-version: 6.1
import PackageDescription

// OnlineMPE is the pure math (no I/O); Stream is transport and message codec (no math).
// They never import each other: the mpe-monitor executable joins them.
let package = Package(
    name: "mpe-monitor",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "OnlineMPE", targets: ["OnlineMPE"]),
        .library(name: "Stream", targets: ["Stream"]),
        .executable(name: "mpe-monitor", targets: ["mpe-monitor"]),
        .executable(name: "mpe-bench", targets: ["mpe-bench"]),
        .executable(name: "kafka-bench", targets: ["kafka-bench"]),
        .library(name: "AuditLog", targets: ["AuditLog"]),
        .executable(name: "audit-bench", targets: ["audit-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        // The monitor's loop: consumer events merged with a periodic tick.
        .package(url: "https://github.com/apple/swift-async-algorithms", from: "1.1.4"),
    ],
    targets: [
        .target(name: "OnlineMPE"),
        // librdkafka through pkg-config; scripts/setup builds a release >= 2.2 into a cached
        // prefix and scripts/env points PKG_CONFIG_PATH at it (Debian 12's 2.0.2 cannot talk
        // to the test broker).
        .systemLibrary(name: "CRdkafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),
        .target(
            name: "Stream",
            dependencies: [
                "CRdkafka",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The SQLite audit log (GRDB). Storage only: it takes its own value types and imports
        // neither OnlineMPE nor Stream, so the pipeline maps learner output onto it and tests
        // can import it (an executable target's code is not importable).
        // GRDBSQLite: the C API, for binding the per-message examples insert directly.
        .target(
            name: "AuditLog",
            dependencies: [
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ]
        ),
        .executableTarget(
            name: "mpe-monitor",
            dependencies: [
                "OnlineMPE",
                "Stream",
                "AuditLog",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
            ]
        ),
        // Speed figures come from this release-built executable, never from timed unit tests.
        .executableTarget(name: "mpe-bench", dependencies: ["OnlineMPE"]),
        .executableTarget(
            name: "kafka-bench",
            dependencies: ["Stream", .product(name: "Logging", package: "swift-log")]
        ),
        // Audit-log throughput beside one raw sqlite3 prepared statement (GRDBSQLite exposes
        // the C API that `import GRDB` does not).
        .executableTarget(
            name: "audit-bench",
            dependencies: [
                "AuditLog",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ]
        ),
        // Fixtures: snapshots written by earlier builds, read through #filePath.
        .testTarget(name: "OnlineMPETests", dependencies: ["OnlineMPE"], exclude: ["Fixtures"]),
        .testTarget(
            name: "MonitorTests",
            dependencies: ["AuditLog", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .testTarget(
            name: "StreamTests",
            dependencies: [
                "Stream",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
