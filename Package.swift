// swift-tools-version: 6.1
import PackageDescription

// OnlineMPE is the pure math (no I/O); Stream is transport and message codec (no math).
// They never import each other: the mpe-monitor executable joins them.
let package = Package(
    name: "mpe-monitor",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "OnlineMPE", targets: ["OnlineMPE"]),
        .library(name: "Stream", targets: ["Stream"]),
        .executable(name: "mpe-monitor", targets: ["mpe-monitor"]),
        .executable(name: "mpe-bench", targets: ["mpe-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        .target(name: "OnlineMPE"),
        .target(name: "Stream"),
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
        .testTarget(name: "OnlineMPETests", dependencies: ["OnlineMPE"]),
        .testTarget(name: "StreamTests", dependencies: ["Stream"]),
    ],
    swiftLanguageModes: [.v6]
)
