/// Writes an `ExampleMessage` in the canonical wire form that `ExampleDecoder` reads back to an
/// equal message: for test data, dead-letter files and debug output, not a hot path.
///
/// Canonical form: `{"id":"…","x":[…],"y":…}` with `"w"` only when the weight is not 1 and `"ts"`
/// only when present, no whitespace, no trailing newline. Doubles use Swift's shortest
/// round-trip `description`; an integral `y` below 2^53 in magnitude is written without `.0`
/// (`-0` for negative zero, so even its sign survives). The id is always written as a string, so
/// a numeric id read as literal text comes back as the same text.
///
/// A non-finite number (which the decoder never produces) is written as `null`, keeping the line
/// valid JSON for whoever inspects it; such a line will not decode.
public struct ExampleEncoder: Sendable {
    public init() {}

    /// The canonical line for `message`, as UTF-8 bytes.
    public func encode(_ message: ExampleMessage) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(32 + message.id.utf8.count + message.x.count * 20)
        encode(message, into: &out)
        return out
    }

    /// Appends the canonical line for `message` to `out`, so many lines can share one buffer.
    public func encode(_ message: ExampleMessage, into out: inout [UInt8]) {
        out.append(contentsOf: #"{"id":"#.utf8)
        Self.appendString(message.id, to: &out)
        out.append(contentsOf: #","x":["#.utf8)
        for (i, value) in message.x.enumerated() {
            if i > 0 { out.append(ASCII.comma) }
            Self.appendNumber(value, to: &out)
        }
        out.append(contentsOf: #"],"y":"#.utf8)
        Self.appendLabel(message.y, to: &out)
        if message.weight != 1 {
            out.append(contentsOf: #","w":"#.utf8)
            Self.appendNumber(message.weight, to: &out)
        }
        if let timestamp = message.timestamp {
            out.append(contentsOf: #","ts":"#.utf8)
            Self.appendNumber(timestamp, to: &out)
        }
        out.append(ASCII.closeBrace)
    }

    private static func appendNumber(_ value: Double, to out: inout [UInt8]) {
        guard value.isFinite else {
            out.append(contentsOf: "null".utf8)
            return
        }
        // `description` is the shortest text that reads back to the same Double, and all its
        // finite forms ("1.0", "1e-05", "1e+16", "-0.0") are valid JSON numbers.
        out.append(contentsOf: value.description.utf8)
    }

    private static func appendLabel(_ value: Double, to out: inout [UInt8]) {
        // Below 2^53 every integral Double converts to Int64 and back exactly.
        guard value.isFinite, value == value.rounded(.towardZero), value.magnitude < 0x1p53 else {
            appendNumber(value, to: &out)
            return
        }
        if value == 0 && value.sign == .minus {
            out.append(contentsOf: "-0".utf8)
        } else {
            out.append(contentsOf: String(Int64(value)).utf8)
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// Writes a JSON string: quote, backslash and control characters escaped, the rest raw UTF-8.
    private static func appendString(_ string: String, to out: inout [UInt8]) {
        out.append(ASCII.quote)
        for b in string.utf8 {
            switch b {
            case ASCII.quote, ASCII.backslash:
                out.append(ASCII.backslash)
                out.append(b)
            case ASCII.lineFeed:
                out.append(contentsOf: #"\n"#.utf8)
            case ASCII.carriageReturn:
                out.append(contentsOf: #"\r"#.utf8)
            case ASCII.tab:
                out.append(contentsOf: #"\t"#.utf8)
            case 0x08:
                out.append(contentsOf: #"\b"#.utf8)
            case 0x0C:
                out.append(contentsOf: #"\f"#.utf8)
            case 0..<0x20:
                out.append(contentsOf: #"\u00"#.utf8)
                out.append(hexDigits[Int(b >> 4)])
                out.append(hexDigits[Int(b & 0xF)])
            default:
                out.append(b)
            }
        }
        out.append(ASCII.quote)
    }
}

extension ExampleMessage {
    /// This message in the canonical wire form; see `ExampleEncoder`.
    public func jsonBytes() -> [UInt8] {
        ExampleEncoder().encode(self)
    }

    /// This message in the canonical wire form as a `String`, for logs and debugging.
    public var jsonLine: String {
        String(decoding: jsonBytes(), as: UTF8.self)
    }
}
