import AuditLog
import OnlineMPE

/// What the monitor checkpoints: the learner's snapshot and where the examples it may still
/// re-score came from (arrival step → message position). The positions make an alert raised
/// at a re-scoring after a restart carry the same id (topic/partition/offset) as in a run that
/// never stopped.
///
/// Layout: "MPEMON02", the learner snapshot's length (UInt64, little-endian) and bytes (it has
/// its own envelope and checksum), then the positions (step, topic, partition, offset, log
/// epoch) as an `OnlineMPE` snapshot envelope. "MPEMON01" checkpoints (written before log
/// epochs; the same without the epoch) are still read, with epoch 0. An empty learner snapshot
/// (length 0, no positions) is a checkpoint taken before the first example was learned.
struct MonitorCheckpoint {
    static let magic: [UInt8] = Array("MPEMON02".utf8)
    static let magicWithoutEpochs: [UInt8] = Array("MPEMON01".utf8)

    var learner: [UInt8]
    var positions: [Int: MessagePosition]

    func encoded() -> [UInt8] {
        var out = Self.magic
        var length = UInt64(learner.count).littleEndian
        withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
        out.append(contentsOf: learner)
        var writer = SnapshotWriter()
        writer.write(positions.count)
        for (step, position) in positions.sorted(by: { $0.key < $1.key }) {
            writer.write(step)
            writer.write(position.topic)
            writer.write(Int(position.partition))
            writer.write(Int(position.offset))
            writer.write(Int(position.epoch))
        }
        out.append(contentsOf: SnapshotEnvelope.seal(writer.bytes))
        return out
    }

    init(learner: [UInt8], positions: [Int: MessagePosition]) {
        self.learner = learner
        self.positions = positions
    }

    /// Decodes a checkpoint, refusing anything truncated, foreign or corrupt.
    init(decoding bytes: [UInt8]) throws {
        let header = Self.magic.count + 8
        guard bytes.count >= header else { throw CommandFailure("not a monitor checkpoint (too short)") }
        let magic = Array(bytes[0..<Self.magic.count])
        guard magic == Self.magic || magic == Self.magicWithoutEpochs else {
            throw CommandFailure("not a monitor checkpoint (bad magic)")
        }
        let hasEpochs = magic == Self.magic
        var length: UInt64 = 0
        for (i, byte) in bytes[Self.magic.count..<header].enumerated() { length |= UInt64(byte) << (8 * UInt64(i)) }
        guard length <= UInt64(bytes.count - header) else { throw CommandFailure("monitor checkpoint truncated") }
        let end = header + Int(length)
        learner = Array(bytes[header..<end])
        var reader = SnapshotReader(try SnapshotEnvelope.open(Array(bytes[end...])))
        let count = try reader.readCount(what: "positions", limit: 1 << 24)
        var positions: [Int: MessagePosition] = [:]
        positions.reserveCapacity(count)
        for _ in 0..<count {
            let step = try reader.readInt(what: "step")
            let topic = try reader.readString(what: "topic")
            let partition = try reader.readInt(what: "partition")
            let offset = try reader.readInt(what: "offset")
            let epoch = hasEpochs ? try reader.readInt(what: "epoch") : 0
            guard let p = Int32(exactly: partition) else { throw CommandFailure("monitor checkpoint: partition \(partition) out of range") }
            positions[step] = MessagePosition(topic: topic, partition: p, offset: Int64(offset), epoch: Int64(epoch))
        }
        self.positions = positions
    }
}
