import Foundation
import Logging

/// A swift-log handler that writes each record to standard error as one JSON object a line
/// (`--log-format json`), for log collectors (Loki, Elasticsearch, Cloud Logging) that index
/// fields instead of parsing text: `time` (ISO 8601, UTC, milliseconds), `level`, `label`,
/// `source`, `message`, `metadata` (the logger's, the provider's and the call's, when any) and
/// `error` (when the record carries one).
///
/// Written by hand: swift-log ships only the text `StreamLogHandler`, and no package in the
/// offline mirror writes its records as JSON.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(label: String, metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider) {
        self.label = label
        self.metadataProvider = metadataProvider
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let explicit = event.metadata { merged.merge(explicit) { _, new in new } }
        var fields: [(String, String)] = [
            ("time", JSONText.string(Self.timestamp(Date()))),
            ("level", JSONText.string(event.level.rawValue)),
            ("label", JSONText.string(label)),
            ("source", JSONText.string(event.source)),
            ("message", JSONText.string(event.message.description)),
        ]
        if !merged.isEmpty { fields.append(("metadata", Self.json(.dictionary(merged)))) }
        if let error = event.error { fields.append(("error", JSONText.string(String(describing: error)))) }
        Self.writeLine(JSONText.object(fields) + "\n")
    }

    /// A metadata value as JSON: integers, finite doubles and booleans given as
    /// `.stringConvertible` as JSON numbers and booleans (so that a collector can compare them;
    /// swift-log has no number case), other values as strings, dictionaries as objects with
    /// sorted keys, arrays as arrays.
    static func json(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let s): JSONText.string(s)
        case .stringConvertible(let c):
            switch c {
            case let i as Int: String(i)
            case let i as Int64: String(i)
            case let d as Double where d.isFinite: JSONText.number(d)
            case let b as Bool: b ? "true" : "false"
            default: JSONText.string(c.description)
            }
        case .dictionary(let d): "{" + d.sorted { $0.key < $1.key }.map { JSONText.string($0.key) + ":" + json($0.value) }.joined(separator: ",") + "}"
        case .array(let a): "[" + a.map(json).joined(separator: ",") + "]"
        }
    }

    /// `2026-12-05T16:20:54.123Z`.
    static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    /// One `write(2)` for the whole line where the kernel takes it (records from several
    /// threads then never interleave within a line), continued where it took part of it.
    private static func writeLine(_ line: String) {
        var line = line
        line.withUTF8 { buffer in
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                let n = write(STDERR_FILENO, base + offset, buffer.count - offset)
                if n > 0 {
                    offset += n
                } else if n < 0 && errno == EINTR {
                    continue
                } else {
                    return   // standard error closed or full: a log line is not worth stopping for
                }
            }
        }
    }
}
