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
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
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
        .executableTarget(
            name: "mpe-monitor",
            dependencies: [
                "OnlineMPE",
                "Stream",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // Speed figures come from this release-built executable, never from timed unit tests.
        .executableTarget(name: "mpe-bench", dependencies: ["OnlineMPE"]),
        .executableTarget(
            name: "kafka-bench",
            dependencies: ["Stream", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(name: "OnlineMPETests", dependencies: ["OnlineMPE"]),
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
