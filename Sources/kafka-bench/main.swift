import Foundation
import Logging
import Stream

// Speed of the Stream layer on a real broker, for bench/kafka/run (release builds only):
//   kafka-bench fill     --brokers B --topic T --count N [--dimension D]   produce example messages
//   kafka-bench consume  --brokers B --topic T --count N [--decode | --foundation]
//   kafka-bench decode   --count N [--dimension D | --file JSONL]          decoder vs Foundation, no broker
// Rates count from the first message received to the N-th, so connection set-up is left out,
// as in bench/kafka/consume.c (the librdkafka C baseline the script runs beside this).

struct Options {
    var values: [String: String] = [:]
    var flags: Set<String> = []

    init(_ arguments: ArraySlice<String>) {
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            guard argument.hasPrefix("--") else { continue }
            let key = String(argument.dropFirst(2))
            if ["decode", "foundation"].contains(key) { flags.insert(key) } else { values[key] = iterator.next() ?? "" }
        }
    }

    func string(_ key: String, _ fallback: String) -> String { values[key] ?? fallback }
    func int(_ key: String, _ fallback: Int) -> Int { values[key].flatMap { Int($0) } ?? fallback }
}

/// The message shape of the d=64, K=10 workload: seeded, four decimals per feature, each
/// class a centre in [-1, 1]^d with uniform noise of width 1 around it (learnable, so flags
/// are as rare as in real data), and 5 % of the labels flipped at random.
func exampleMessage(_ i: Int, dimension: Int, random: inout SplitMix64) -> ExampleMessage {
    let y = Int(random.next() % 10)
    let x = (0..<dimension).map { j -> Double in
        var centre = SplitMix64(state: UInt64(y * 1_000_003 + j))
        let c = Double(Int(centre.next() % 20001) - 10000) / 10000
        let noise = Double(Int(random.next() % 10001) - 5000) / 10000
        return (min(max(c + noise, -1.5), 1.5) * 10000).rounded() / 10000
    }
    let label = random.next() % 20 == 0 ? Int(random.next() % 10) : y
    return ExampleMessage(id: "e\(i)", x: x, y: Double(label))
}

/// SplitMix64, seeded, so that every run sends the same messages (SystemRandomNumberGenerator
/// cannot be seeded). A few lines kept here rather than a dependency of this benchmark on OnlineMPE.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Foundation's decoder on the same shape: the reference the fast decoder is measured against.
struct FoundationExample: Decodable {
    let id: String
    let x: [Double]
    let y: Double
}

func seconds(since start: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }

func fill(_ options: Options, logger: Logger) async throws {
    let brokers = options.string("brokers", "127.0.0.1:9092")
    let topic = options.string("topic", "bench")
    let count = options.int("count", 1_000_000)
    let dimension = options.int("dimension", 64)
    let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(
        client: KafkaConfiguration(bootstrapServers: [brokers], properties: ["queue.buffering.max.messages": "500000"])),
        logger: logger)
    var random = SplitMix64(state: 42)
    let encoder = ExampleEncoder()
    let start = DispatchTime.now().uptimeNanoseconds
    var bytes = 0
    for i in 0..<count {
        let value = encoder.encode(exampleMessage(i, dimension: dimension, random: &random))
        bytes += value.count
        try producer.send(KafkaProducerMessage(topic: topic, partition: Int32(i % 3), value: value))
    }
    try await producer.flush(timeout: .seconds(120))
    let elapsed = seconds(since: start)
    let counts = producer.counts
    await producer.close()
    print("fill: \(count) messages (\(bytes / max(count, 1)) bytes each) in \(String(format: "%.2f", elapsed)) s, "
        + "\(Int(Double(count) / elapsed)) msg/s; acknowledged \(counts.acknowledged), failed \(counts.failed)")
    if counts.acknowledged != UInt64(count) { exit(1) }
}

func consume(_ options: Options, logger: Logger) async throws {
    let brokers = options.string("brokers", "127.0.0.1:9092")
    let topic = options.string("topic", "bench")
    let count = options.int("count", 1_000_000)
    let mode = options.flags.contains("foundation") ? "foundation" : options.flags.contains("decode") ? "decode" : "raw"
    let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(
        client: KafkaConfiguration(bootstrapServers: [brokers]), groupID: "kafka-bench-\(UUID().uuidString)",
        maxBatchSize: options.int("batch", 1000)), logger: logger)
    let partitions = try await consumer.partitionCount(topic: topic)
    var start: [KafkaTopicPartition: KafkaOffset] = [:]
    for p in 0..<partitions { start[KafkaTopicPartition(topic: topic, partition: Int32(p))] = .beginning }
    try consumer.assign(start)
    let decoder = ExampleDecoder(dimension: options.values["dimension"].flatMap { Int($0) })
    let json = JSONDecoder()
    var seen = 0
    var bytes = 0
    var rejected = 0
    var checksum = 0.0
    var first: UInt64 = 0
    loop: for await event in consumer.events {
        guard case .messages(let batch) = event else { continue }
        if first == 0 { first = DispatchTime.now().uptimeNanoseconds }
        for message in batch {
            switch mode {
            case "decode":
                message.withValue { value in
                    do { checksum += try decoder.decode(value).y } catch { rejected += 1 }
                }
            case "foundation":
                do { checksum += try json.decode(FoundationExample.self, from: Data(message.value)).y } catch { rejected += 1 }
            default:
                bytes &+= message.valueLength
            }
            seen += 1
            if seen >= count { break loop }
        }
    }
    let elapsed = seconds(since: first)
    await consumer.close()
    print("consume[\(mode)]: \(seen) messages in \(String(format: "%.3f", elapsed)) s, \(Int(Double(seen) / elapsed)) msg/s "
        + "(rejected \(rejected), checksum \(Int(checksum) + bytes % 7))")
}

/// Why a benchmark could not start.
enum BenchError: Error, CustomStringConvertible {
    case unreadable(String)
    var description: String {
        switch self {
        case .unreadable(let path): "cannot read JSON lines from \(path)"
        }
    }
}

func decodeOffline(_ options: Options) throws {
    let count = options.int("count", 200_000)
    var dimension = options.int("dimension", 64)
    let lines: [[UInt8]]
    if let path = options.values["file"] {
        // Real lines (Fashion-MNIST's are mostly "0," with four-decimal pixels between), cycled
        // up to `count`.
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw BenchError.unreadable(path) }
        let fileLines = text.split(separator: "\n").map { Array($0.utf8) }
        guard let first = fileLines.first else { throw BenchError.unreadable(path) }
        dimension = try ExampleDecoder().decode(first).x.count
        lines = (0..<count).map { fileLines[$0 % fileLines.count] }
    } else {
        var random = SplitMix64(state: 42)
        let encoder = ExampleEncoder()
        lines = (0..<count).map { encoder.encode(exampleMessage($0, dimension: dimension, random: &random)) }
    }
    let decoder = ExampleDecoder(dimension: dimension)
    var sum = 0.0
    // Best of five passes each: this machine's speed drifts by tens of percent within a minute,
    // and the fastest pass is the one least disturbed.
    var fast = 0.0
    for _ in 0..<5 {
        let start = DispatchTime.now().uptimeNanoseconds
        for line in lines { sum += try decoder.decode(line).y }
        fast = max(fast, Double(count) / seconds(since: start))
    }
    let json = JSONDecoder()
    // Foundation is some 30-50x slower: it reads about 1.28 M numbers a pass (20,000 lines at
    // d = 64, 1,632 of Fashion-MNIST's), at least 1,000 lines, so its five passes stay short.
    let foundationCount = min(count, max(1000, 1_280_000 / max(dimension, 1)))
    var foundation = 0.0
    for _ in 0..<5 {
        let start = DispatchTime.now().uptimeNanoseconds
        for line in lines.prefix(foundationCount) { sum += try json.decode(FoundationExample.self, from: Data(line)).y }
        foundation = max(foundation, Double(foundationCount) / seconds(since: start))
    }
    print("decode d=\(dimension): fast \(Int(fast)) lines/s, Foundation JSONDecoder \(Int(foundation)) lines/s, "
        + "ratio \(String(format: "%.1f", fast / foundation))x (checksum \(Int(sum)))")
}

var logger = Logger(label: "kafka-bench")
logger.logLevel = .warning
let arguments = CommandLine.arguments.dropFirst()
let options = Options(arguments.dropFirst())
do {
    switch arguments.first {
    case "fill": try await fill(options, logger: logger)
    case "consume": try await consume(options, logger: logger)
    case "decode": try decodeOffline(options)
    default:
        print("usage: kafka-bench fill|consume|decode [--brokers B] [--topic T] [--count N] [--dimension D] [--file JSONL] [--decode|--foundation]")
        exit(2)
    }
} catch {
    print("kafka-bench: \(error)")
    exit(1)
}
