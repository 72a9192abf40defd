import Foundation
import Testing

@testable import Stream

/// Foundation's readings of a wire line, used as references for the fast decoder.
///
/// Numbers are compared bit for bit against `JSONDecoder`, which rounds every number correctly
/// (as `Double(String)` does). `JSONSerialization` on Linux (swift-corelibs-foundation) does not:
/// it misreads a large share of 17-significant-digit numbers by an ulp, keeps "-0" as integer 0,
/// and drops U+FEFF at the start of raw runs in strings. So it is used for what it gets right — accepting or rejecting, strings, shapes — and for
/// its duplicate-key behaviour.
enum FoundationReference {
    /// A wire message as JSONDecoder reads it.
    struct Message: Decodable {
        enum ID: Decodable {
            case string(String)
            case number(Int64)

            init(from decoder: any Decoder) throws {
                let value = try decoder.singleValueContainer()
                if let number = try? value.decode(Int64.self) {
                    self = .number(number)
                } else {
                    self = .string(try value.decode(String.self))
                }
            }
        }

        enum Label: Decodable {
            case number(Double)
            case label(String)

            init(from decoder: any Decoder) throws {
                let value = try decoder.singleValueContainer()
                if let number = try? value.decode(Double.self) {
                    self = .number(number)
                } else {
                    self = .label(try value.decode(String.self))
                }
            }
        }

        var id: ID
        var x: [Double]
        var y: Label
        var w: Double?
        var ts: Double?
    }

    static func decoded(_ bytes: [UInt8]) -> Message? {
        try? JSONDecoder().decode(Message.self, from: Data(bytes))
    }

    /// The line as JSONSerialization reads it, or nil if it rejects it or it is not an object.
    static func serialized(_ bytes: [UInt8]) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(bytes), options: [])) as? [String: Any]
    }

    /// Records an issue for every field where `message` differs from JSONDecoder's `reference`;
    /// numbers must match bit for bit.
    static func expectAgreement(
        _ message: ExampleMessage, with reference: Message, labels: [String],
        line: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        func check(_ ok: Bool, _ what: String) {
            if !ok { Issue.record("\(what) differs from JSONDecoder for line: \(line)", sourceLocation: sourceLocation) }
        }
        switch reference.id {
        case .string(let id): check(Array(id.utf8) == Array(message.id.utf8), "id")
        case .number(let id): check(Int64(message.id) == id, "numeric id")
        }
        check(message.x.map(\.bitPattern) == reference.x.map(\.bitPattern), "x")
        switch reference.y {
        case .number(let y): check(message.y.bitPattern == y.bitPattern, "y")
        case .label(let label): check(labels.firstIndex(of: label).map(Double.init) == message.y, "y label")
        }
        check(message.weight.bitPattern == (reference.w ?? 1).bitPattern, "w")
        check(message.timestamp?.bitPattern == reference.ts?.bitPattern, "ts")
    }

    /// Records an issue where `message` differs from JSONSerialization's `reference` in what that
    /// reader gets right: id, number of features, label string.
    static func expectShapeAgreement(
        _ message: ExampleMessage, with reference: [String: Any], labels: [String],
        line: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        func check(_ ok: Bool, _ what: String) {
            if !ok { Issue.record("\(what) differs from JSONSerialization for line: \(line)", sourceLocation: sourceLocation) }
        }
        switch reference["id"] {
        case let id as String:
            // It drops U+FEFF where a raw run of a string starts (taking it for a byte order mark).
            func withoutBOM(_ s: String) -> [Unicode.Scalar] { s.unicodeScalars.filter { $0 != "\u{FEFF}" } }
            check(withoutBOM(id) == withoutBOM(message.id), "id")
        // Its doubles may be an ulp off, so a numeric id is only checked to be a number.
        case is NSNumber: check(Double(message.id) != nil, "numeric id")
        default: check(false, "id type")
        }
        check((reference["x"] as? [Any])?.count == message.x.count, "x count")
        if let label = reference["y"] as? String {
            check(labels.firstIndex(of: label).map(Double.init) == message.y, "y label")
        }
    }
}
