import AuditLog
import Foundation
import OnlineMPE

/// Where an example the learner took in at some step came from: its message's position and
/// Kafka timestamp, for the alerts a later re-scoring raises on it.
struct Arrival: Equatable {
    var position: MessagePosition
    /// Milliseconds since the epoch, as librdkafka gives them; nil when the message had none.
    var timestampMilliseconds: Int64?

    /// The timestamp as the audit log stores it (`message_time`).
    var messageTime: Date? { timestampMilliseconds.map { Date(timeIntervalSince1970: Double($0) / 1000) } }
}

/// What the monitor checkpoints: the learner's snapshot and where the examples it may still
/// re-score came from (arrival step → message position and timestamp). They make an alert
/// raised at a re-scoring after a restart carry the same id (topic/partition/offset) and
/// message time as in a run that never stopped.
///
/// Layout: "MPEMON03", the learner snapshot's length (UInt64, little-endian) and bytes (it has
/// its own envelope and checksum), then the arrivals (step, topic, partition, offset, log
/// epoch, timestamp in milliseconds or -1 for none, as Kafka writes "none") as an `OnlineMPE`
/// snapshot envelope. Older checkpoints are still read: "MPEMON02" without the timestamp
/// (none), "MPEMON01" (before log epochs) without the epoch too (0). An empty learner snapshot
/// (length 0, no arrivals) is a checkpoint taken before the first example was learned.
struct MonitorCheckpoint {
    static let magic: [UInt8] = Array("MPEMON03".utf8)
    static let magicWithoutTimestamps: [UInt8] = Array("MPEMON02".utf8)
    static let magicWithoutEpochs: [UInt8] = Array("MPEMON01".utf8)

    var learner: [UInt8]
    var arrivals: [Int: Arrival]

    func encoded() -> [UInt8] {
        var out = Self.magic
        var length = UInt64(learner.count).littleEndian
        withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
        out.append(contentsOf: learner)
        var writer = SnapshotWriter()
        writer.write(arrivals.count)
        for (step, arrival) in arrivals.sorted(by: { $0.key < $1.key }) {
            let position = arrival.position
            writer.write(step)
            writer.write(position.topic)
            writer.write(Int(position.partition))
            writer.write(Int(position.offset))
            writer.write(Int(position.epoch))
            writer.write(Int(arrival.timestampMilliseconds ?? -1))
        }
        out.append(contentsOf: SnapshotEnvelope.seal(writer.bytes))
        return out
    }

    init(learner: [UInt8], arrivals: [Int: Arrival]) {
        self.learner = learner
        self.arrivals = arrivals
    }

    /// Decodes a checkpoint, refusing anything truncated, foreign or corrupt.
    init(decoding bytes: [UInt8]) throws {
        let header = Self.magic.count + 8
        guard bytes.count >= header else { throw CommandFailure("not a monitor checkpoint (too short)") }
        let magic = Array(bytes[0..<Self.magic.count])
        guard magic == Self.magic || magic == Self.magicWithoutTimestamps || magic == Self.magicWithoutEpochs else {
            throw CommandFailure("not a monitor checkpoint (bad magic)")
        }
        let hasEpochs = magic != Self.magicWithoutEpochs
        let hasTimestamps = magic == Self.magic
        var length: UInt64 = 0
        for (i, byte) in bytes[Self.magic.count..<header].enumerated() { length |= UInt64(byte) << (8 * UInt64(i)) }
        guard length <= UInt64(bytes.count - header) else { throw CommandFailure("monitor checkpoint truncated") }
        let end = header + Int(length)
        learner = Array(bytes[header..<end])
        var reader = SnapshotReader(try SnapshotEnvelope.open(Array(bytes[end...])))
        let count = try reader.readCount(what: "arrivals", limit: 1 << 24)
        var arrivals: [Int: Arrival] = [:]
        arrivals.reserveCapacity(count)
        for _ in 0..<count {
            let step = try reader.readInt(what: "step")
            let topic = try reader.readString(what: "topic")
            let partition = try reader.readInt(what: "partition")
            let offset = try reader.readInt(what: "offset")
            let epoch = hasEpochs ? try reader.readInt(what: "epoch") : 0
            let timestamp = hasTimestamps ? try reader.readInt(what: "timestamp") : -1
            guard let p = Int32(exactly: partition) else { throw CommandFailure("monitor checkpoint: partition \(partition) out of range") }
            arrivals[step] = Arrival(position: MessagePosition(topic: topic, partition: p, offset: Int64(offset), epoch: Int64(epoch)),
                                     timestampMilliseconds: timestamp < 0 ? nil : Int64(timestamp))
        }
        self.arrivals = arrivals
    }
}
