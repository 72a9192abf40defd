import Foundation

/// A small JSON writer for the few JSON texts the log stores (alert payloads, checkpoint
/// offsets). Hand-written rather than `JSONEncoder` because the payload must be
/// byte-for-byte deterministic (fixed key order, explicit nulls) and must turn non-finite
/// numbers into `null` instead of throwing.
struct JSONText {
    private(set) var text = "{"
    private var first = true

    private mutating func key(_ name: String) {
        if !first { text += "," }
        first = false
        JSONEscaping.append(name, to: &text)
        text += ":"
    }

    mutating func field(_ name: String, _ value: String?) {
        key(name)
        if let value { JSONEscaping.append(value, to: &text) } else { text += "null" }
    }

    mutating func field(_ name: String, _ value: Int64?) {
        key(name)
        text += value.map { "\($0)" } ?? "null"
    }

    mutating func field(_ name: String, _ value: Double?) {
        key(name)
        text += JSONText.number(value)
    }

    mutating func finish() -> String {
        text += "}"
        return text
    }

    /// A finite number in Swift's shortest round-trip form (valid JSON: `0.1`, `1e-05`,
    /// `3.0`); `null` for nil, NaN and ±∞, as in the database.
    static func number(_ x: Double?) -> String {
        guard let x, x.isFinite else { return "null" }
        return "\(x)"
    }
}

extension AlertRecord {
    /// The JSON object published on the alerts topic (and stored in the outbox). Keys, in
    /// this order: `alert_id`, `kind`, `example_id`, `topic`, `partition`, `offset`, `epoch`
    /// (the partition's log epoch, 0 unless its log started over), `given_label`, `predicted_label`, `label_quality`, `memorization`, `sensitivity`,
    /// `curvature`, `examples_seen`, `reason`, `time` (Unix seconds, when raised),
    /// `message_time` (Unix seconds: the example's Kafka timestamp). Absent or non-finite
    /// values are `null`. The same alert always renders to the same bytes.
    public var jsonPayload: String {
        var json = JSONText()
        json.field("alert_id", alertID)
        json.field("kind", kind.rawValue)
        json.field("example_id", exampleID)
        json.field("topic", position?.topic)
        json.field("partition", position.map { Int64($0.partition) })
        json.field("offset", position?.offset)
        json.field("epoch", position?.epoch)
        json.field("given_label", givenLabel)
        json.field("predicted_label", predictedLabel)
        json.field("label_quality", labelQuality)
        json.field("memorization", memorization)
        json.field("sensitivity", sensitivity)
        json.field("curvature", curvature)
        json.field("examples_seen", Int64(examplesSeen))
        json.field("reason", reason)
        json.field("time", time.timeIntervalSince1970)
        json.field("message_time", messageTime?.timeIntervalSince1970)
        return json.finish()
    }
}

/// The checkpoint `offsets` column: `[{"topic":…,"partition":…,"next_offset":…,"epoch":…}, …]`
/// in topic/partition order (`epoch` absent in checkpoints written before log epochs: 0).
enum OffsetsJSON {
    private struct Entry: Codable {
        var topic: String
        var partition: Int32
        var next_offset: Int64
        var epoch: Int64?
    }

    static func encode(_ offsets: [TopicPartition: Int64], epochs: [TopicPartition: Int64]) -> String {
        let items = offsets.keys.sorted().map { key -> String in
            var json = JSONText()
            json.field("topic", key.topic)
            json.field("partition", Int64(key.partition))
            json.field("next_offset", offsets[key])
            json.field("epoch", epochs[key] ?? 0)
            return json.finish()
        }
        return "[" + items.joined(separator: ",") + "]"
    }

    static func decode(_ text: String) throws -> (offsets: [TopicPartition: Int64], epochs: [TopicPartition: Int64]) {
        let entries = try JSONDecoder().decode([Entry].self, from: Data(text.utf8))
        var offsets: [TopicPartition: Int64] = [:]
        var epochs: [TopicPartition: Int64] = [:]
        for entry in entries {
            let key = TopicPartition(topic: entry.topic, partition: entry.partition)
            offsets[key] = entry.next_offset
            epochs[key] = entry.epoch ?? 0
        }
        return (offsets, epochs)
    }
}
