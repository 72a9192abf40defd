import ArgumentParser
import Foundation
import Logging
import Stream

/// `mpe-monitor produce FILE --topic labels`: loads a JSON Lines file into Kafka, one message
/// per non-empty line, sent as written (so malformed lines reach the monitor's dead-letter path
/// too). For demos and tests.
struct ProduceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce",
        abstract: "Load a JSON Lines file into a Kafka topic, one message per line (for demos and tests)."
    )

    @Argument(help: "JSON Lines file of examples.")
    var file: String

    @Option(help: "Topic to write to.")
    var topic: String = "labels"

    @Option(help: "Bootstrap brokers, host:port[,host:port] (default: $MPE_BROKERS, else 127.0.0.1:9092).")
    var brokers: String?

    @Option(help: "Message key: 'none' (librdkafka spreads messages over partitions) or 'id' (the example's id, so an id always lands in the same partition).")
    var key: KeyMode = .none

    @Option(name: .customShort("X"), help: "A librdkafka property, key=value (repeatable), e.g. -X security.protocol=ssl.")
    var property: [String] = []

    @Option(help: "Send at most this many lines.")
    var limit: Int?

    @Option(help: "Seconds to wait at the end for every message to be acknowledged.")
    var flushTimeout: Double = 60

    @Flag(help: "No progress line.")
    var quiet = false

    enum KeyMode: String, ExpressibleByArgument, CaseIterable {
        case none, id
    }

    func run() async throws {
        let properties: [String: String]
        do {
            properties = try MonitorSettings.resolvingReferences(MonitorSettings.properties(fromOptions: property))
        } catch let problem as ConfigurationProblem {
            throw ValidationError(problem.message)
        }
        let brokerList = MonitorSettings.brokerList(brokers ?? ProcessInfo.processInfo.environment["MPE_BROKERS"] ?? "127.0.0.1:9092")
        var logger = Logger(label: "mpe-monitor.produce")
        logger.logLevel = .warning
        let producer: KafkaProducer
        do {
            producer = try KafkaProducer(configuration: KafkaProducerConfiguration(
                client: KafkaConfiguration(bootstrapServers: brokerList, properties: properties)), logger: logger)
        } catch {
            throw CommandFailure("\(error)")
        }
        // Fail fast on a wrong address; a missing topic is fine if the broker creates topics.
        do {
            _ = try await producer.partitionCount(topic: topic, timeout: .seconds(10))
        } catch let error where error.kind == .unknownTopic {
            FileHandle.standardError.write(Data("note: topic '\(topic)' does not exist yet; the broker may create it on first write\n".utf8))
        } catch {
            await producer.close(timeout: .seconds(1))
            throw CommandFailure("\(error)")
        }

        var reader = try JSONLinesReader(path: file)
        defer { reader.close() }
        let decoder = ExampleDecoder()
        let progress = ProgressLine(enabled: !quiet, unit: "lines")
        var sent = 0
        var sendError: (any Error)?
        let start = ContinuousClock.now
        while limit.map({ sent < $0 }) ?? true {
            let more = reader.next { line, _ in
                let value = Array(line)
                var messageKey: [UInt8]?
                if key == .id, let example = try? decoder.decode(line) { messageKey = Array(example.id.utf8) }
                do {
                    try producer.send(KafkaProducerMessage(topic: topic, key: messageKey, value: value))
                    sent += 1
                } catch {
                    sendError = error
                }
            }
            if !more || sendError != nil { break }
            progress.update(sent)
        }
        progress.finish(sent)
        var flushError: (any Error)?
        do {
            try await producer.flush(timeout: .milliseconds(Int64(flushTimeout * 1000)))
        } catch {
            flushError = error
        }
        let counts = producer.counts
        await producer.close(timeout: .seconds(1))
        let seconds = (ContinuousClock.now - start).seconds
        print("produced \(sent) lines of \(file) to \(topic) in \(String(format: "%.1f", seconds)) s: "
            + "acknowledged \(counts.acknowledged), failed \(counts.failed)")
        if let sendError { throw CommandFailure("stopped at line \(sent + 1): \(sendError)") }
        if let flushError { throw CommandFailure("\(flushError)") }
        if counts.failed > 0 { throw ExitCode(1) }
    }
}

/// A progress line on standard error, redrawn at most twice a second on a terminal and every
/// 100,000 items otherwise, so logs stay readable.
final class ProgressLine {
    let enabled: Bool
    let unit: String
    let terminal = isatty(2) != 0
    private var last = ContinuousClock.now
    private var lastCount = 0

    init(enabled: Bool, unit: String) {
        self.enabled = enabled
        self.unit = unit
    }

    func update(_ count: Int) {
        guard enabled else { return }
        if terminal {
            guard count & 1023 == 0, ContinuousClock.now - last > .milliseconds(500) else { return }
            last = ContinuousClock.now
            FileHandle.standardError.write(Data("\r\(count) \(unit)".utf8))
        } else if count - lastCount >= 100_000 {
            lastCount = count
            FileHandle.standardError.write(Data("\(count) \(unit)\n".utf8))
        }
    }

    func finish(_ count: Int) {
        if enabled && terminal { FileHandle.standardError.write(Data("\r\(count) \(unit)\n".utf8)) }
    }
}
