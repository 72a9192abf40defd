/// Turns one wire line — a JSON object `{"id": …, "x": […], "y": …}` with optional `"w"` and
/// `"ts"` — into an `ExampleMessage`, fast enough to sit on the ingest path.
///
/// Rules, beyond plain JSON (RFC 8259), that a sender can rely on:
/// - `id` is a string or a number; a number is kept as its literal text (`7`, `1e3`).
/// - `x` is an array of numbers; with `dimension` set its length must match.
/// - `y` is a number, or a string looked up in `labels` and replaced by its index.
/// - `w` (weight, default 1) must be finite and >= 0; `ts` is any finite number. Either may be
///   `null`, meaning absent.
/// - Unknown keys are skipped (still validated as JSON, nested at most `maxNestingDepth` deep).
/// - A field it reads (`id`, `x`, `y`, `w`, `ts`) may appear only once: a duplicate is rejected,
///   because JSON leaves its meaning open and Foundation's own readers disagree (JSONSerialization
///   keeps the last, JSONDecoder the first). Duplicate unknown keys are allowed; they change
///   nothing.
/// - Every number becomes the same `Double` that `Double(String)` gives for its text; a number
///   outside Double range is rejected as non-finite wherever it appears, even in an unknown key
///   (Foundation refuses such a line too). Numeric ids must be in range as well.
///
/// The scanner makes one pass over the bytes and builds no intermediate tree; only the id string
/// and the `x` array are allocated.
public struct ExampleDecoder: Sendable {
    /// 1 MiB: far above any sane line, low enough that a runaway sender cannot make one decode
    /// allocate much.
    public static let defaultMaxBytes = 1 << 20
    /// Containers nested deeper than this (the message object is level 1) are rejected, which
    /// bounds the skipper's recursion against hostile input.
    public static let maxNestingDepth = 64

    /// Required length of `x`, or nil to accept any length.
    public let dimension: Int?
    /// Class names in index order; a string `y` is replaced by its index here.
    public let labels: [String]?
    /// Longer inputs are rejected before any parsing.
    public let maxBytes: Int

    private let labelIndex: [String: Int]

    /// If `labels` holds a name twice, the first index is used.
    public init(dimension: Int? = nil, labels: [String]? = nil, maxBytes: Int = ExampleDecoder.defaultMaxBytes) {
        self.dimension = dimension
        self.labels = labels
        self.maxBytes = maxBytes
        var index: [String: Int] = [:]
        for (i, label) in (labels ?? []).enumerated() where index[label] == nil {
            index[label] = i
        }
        self.labelIndex = index
    }

    // MARK: Entry points
    // The closure-taking buffer APIs rethrow untyped errors, so the overloads carry the typed error
    // out of them in a Result.

    /// Decodes one message from UTF-8 bytes; surrounding whitespace (such as the line's newline)
    /// is allowed, anything else after the object is not. The bytes are not retained.
    public func decode(_ bytes: UnsafeRawBufferPointer) throws(ExampleDecodeError) -> ExampleMessage {
        guard bytes.count <= maxBytes else {
            throw ExampleDecodeError(.tooLarge(size: bytes.count, limit: maxBytes))
        }
        guard let base = bytes.baseAddress, bytes.count > 0 else {
            throw ExampleDecodeError(.notJSON(offset: 0), detail: "empty input")
        }
        var scanner = JSONScanner(base: base, count: bytes.count)
        return try decodeMessage(&scanner)
    }

    /// Decodes one message from UTF-8 bytes, without copying them.
    public func decode(_ bytes: [UInt8]) throws(ExampleDecodeError) -> ExampleMessage {
        try bytes.withUnsafeBytes { raw in
            Result { () throws(ExampleDecodeError) in try decode(raw) }
        }.get()
    }

    /// Decodes one message from UTF-8 bytes; contiguous collections (slices, `Data`, a string's
    /// `utf8`) are read in place, others are copied once.
    public func decode(_ bytes: some Collection<UInt8>) throws(ExampleDecodeError) -> ExampleMessage {
        let contiguous = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(ExampleDecodeError) in try decode(UnsafeRawBufferPointer(buffer)) }
        }
        if let contiguous { return try contiguous.get() }
        // Check the size before copying so that an oversized input is not duplicated first.
        let count = bytes.count
        guard count <= maxBytes else { throw ExampleDecodeError(.tooLarge(size: count, limit: maxBytes)) }
        return try decode(Array(bytes))
    }

    /// Decodes one message from a line of text (read through its UTF-8 view, in place for native
    /// strings).
    public func decode(_ line: String) throws(ExampleDecodeError) -> ExampleMessage {
        var line = line
        return try line.withUTF8 { utf8 in
            Result { () throws(ExampleDecodeError) in try decode(UnsafeRawBufferPointer(utf8)) }
        }.get()
    }

    // MARK: Message

    private enum Field: UInt8 {
        case id, x, y, weight, timestamp, other

        var name: String {
            switch self {
            case .id: "id"
            case .x: "x"
            case .y: "y"
            case .weight: "w"
            case .timestamp: "ts"
            case .other: "(unknown)"
            }
        }
    }

    private func decodeMessage(_ s: inout JSONScanner) throws(ExampleDecodeError) -> ExampleMessage {
        s.skipWhitespace()
        guard s.peek() == ASCII.openBrace else {
            if s.atEnd { throw s.syntaxError("no JSON value, only whitespace") }
            if let kind = JSONScanner.valueKind(startingWith: s.peek()) {
                // Only a complete JSON value is "the wrong type"; `not json` or `[1,` is not JSON.
                var probe = s
                try probe.skipValue(depth: 1, maxDepth: Self.maxNestingDepth)
                probe.skipWhitespace()
                if !probe.atEnd { throw probe.syntaxError("unexpected data after the JSON value") }
                throw ExampleDecodeError(.wrongType(field: "message", found: kind), detail: "expected an object")
            }
            throw s.syntaxError("expected '{'")
        }
        s.pos += 1

        var id: String?
        var x: [Double]?
        var y: Double?
        var weight: Double = 1
        var timestamp: Double?
        var seen: UInt8 = 0  // one bit per Field already read

        s.skipWhitespace()
        if s.peek() == ASCII.closeBrace {
            s.pos += 1
        } else {
            while true {
                guard s.peek() == ASCII.quote else { throw s.syntaxError("expected a string key") }
                let key = try s.scanString()
                s.skipWhitespace()
                try s.expect(ASCII.colon, "expected ':' after key")
                s.skipWhitespace()
                let field = field(of: key, in: s)
                if field != .other {
                    let bit: UInt8 = 1 << field.rawValue
                    guard seen & bit == 0 else { throw ExampleDecodeError(.duplicateField(field.name)) }
                    seen |= bit
                }
                switch field {
                case .id: id = try decodeID(&s)
                case .x: x = try decodeFeatures(&s)
                case .y: y = try decodeLabel(&s)
                case .weight: weight = try decodeWeight(&s)
                case .timestamp: timestamp = try decodeTimestamp(&s)
                case .other: try skipUnknown(&s, key: key)
                }
                s.skipWhitespace()
                let separator = s.peek()
                if separator == ASCII.comma {
                    s.pos += 1
                    s.skipWhitespace()
                } else if separator == ASCII.closeBrace {
                    s.pos += 1
                    break
                } else {
                    throw s.syntaxError("expected ',' or '}' after a value")
                }
            }
        }
        s.skipWhitespace()
        guard s.atEnd else { throw s.syntaxError("unexpected bytes after the object") }

        guard let id else { throw ExampleDecodeError(.missingField("id")) }
        guard let x else { throw ExampleDecodeError(.missingField("x")) }
        guard let y else { throw ExampleDecodeError(.missingField("y")) }
        if let dimension, x.count != dimension {
            throw ExampleDecodeError(.wrongDimension(expected: dimension, got: x.count))
        }
        return ExampleMessage(id: id, x: x, y: y, weight: weight, timestamp: timestamp)
    }

    @inline(__always)
    private func field(of key: JSONScanner.StringToken, in s: JSONScanner) -> Field {
        guard !key.hasEscapes else {
            // Rare: "\u0078" is the key "x" too.
            switch s.string(key) {
            case "id": return .id
            case "x": return .x
            case "y": return .y
            case "w": return .weight
            case "ts": return .timestamp
            default: return .other
            }
        }
        switch key.end - key.start {
        case 1:
            switch s.byte(at: key.start) {
            case UInt8(ascii: "x"): return .x
            case UInt8(ascii: "y"): return .y
            case UInt8(ascii: "w"): return .weight
            default: return .other
            }
        case 2:
            let first = s.byte(at: key.start)
            let second = s.byte(at: key.start + 1)
            if first == UInt8(ascii: "i") && second == UInt8(ascii: "d") { return .id }
            if first == UInt8(ascii: "t") && second == UInt8(ascii: "s") { return .timestamp }
            return .other
        default:
            return .other
        }
    }

    // MARK: Fields

    private func skipUnknown(_ s: inout JSONScanner, key: JSONScanner.StringToken) throws(ExampleDecodeError) {
        do {
            try s.skipValue(depth: 2, maxDepth: Self.maxNestingDepth)
        } catch {
            guard case .nonFinite = error.reason else { throw error }
            throw ExampleDecodeError(.nonFinite(field: s.string(key), index: nil), detail: error.detail)
        }
    }

    private func wrongType(_ field: String, _ s: JSONScanner, expected: String) -> ExampleDecodeError {
        guard let kind = JSONScanner.valueKind(startingWith: s.peek()) else {
            return s.syntaxError("expected a JSON value")
        }
        return ExampleDecodeError(.wrongType(field: field, found: kind), detail: "expected \(expected)")
    }

    private func decodeID(_ s: inout JSONScanner) throws(ExampleDecodeError) -> String {
        switch s.peek() {
        case ASCII.quote:
            return s.string(try s.scanString())
        case ASCII.minus, ASCII.zero...ASCII.nine:
            let token = try s.scanNumber()
            guard s.doubleValue(token).isFinite else { throw ExampleDecodeError(.nonFinite(field: "id", index: nil)) }
            return String(
                decoding: UnsafeRawBufferPointer(start: s.base + token.start, count: token.end - token.start),
                as: UTF8.self)
        default:
            throw wrongType("id", s, expected: "a string or a number")
        }
    }

    private func decodeFeatures(_ s: inout JSONScanner) throws(ExampleDecodeError) -> [Double] {
        guard s.peek() == ASCII.openBracket else { throw wrongType("x", s, expected: "an array of numbers") }
        if let dimension, dimension > 0 {
            let start = s.pos
            if let values = plainFeatures(&s, count: dimension) { return values }
            s.pos = start
        }
        s.pos += 1
        var values: [Double] = []
        values.reserveCapacity(dimension ?? 16)
        s.skipWhitespace()
        if s.peek() == ASCII.closeBracket {
            s.pos += 1
            return values
        }
        while true {
            if let value = s.plainDecimal() {
                values.append(value)  // finite: at most 19 digits and no exponent
            } else {
                let first = s.peek()
                guard first == ASCII.minus || ASCII.zero...ASCII.nine ~= first else {
                    throw wrongType("x[\(values.count)]", s, expected: "a number")
                }
                let value = s.doubleValue(try s.scanNumber())
                guard value.isFinite else { throw ExampleDecodeError(.nonFinite(field: "x", index: values.count)) }
                values.append(value)
            }
            s.skipWhitespace()
            let separator = s.peek()
            if separator == ASCII.comma {
                s.pos += 1
                s.skipWhitespace()
            } else if separator == ASCII.closeBracket {
                s.pos += 1
                return values
            } else {
                throw s.syntaxError("expected ',' or ']' in x")
            }
        }
    }

    /// The common `x` in one pass: exactly `count` plain decimals (`JSONScanner.plainDecimal`),
    /// written straight into the array's storage; nil for anything else (another length, an
    /// exponent, a syntax error), and the caller re-reads the array with the general loop, which
    /// gives every error its usual message. Appending one value at a time called the generic,
    /// unspecialized `Array.append` and cost about a third of decoding a 784-feature line.
    private func plainFeatures(_ s: inout JSONScanner, count: Int) -> [Double]? {
        var complete = false
        let values = [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
            s.pos += 1
            s.skipWhitespace()
            var i = 0
            while let value = s.plainDecimal() {
                buffer[i] = value
                i += 1
                s.skipWhitespace()
                let separator = s.peek()
                if separator == ASCII.comma, i < count {
                    s.pos += 1
                    s.skipWhitespace()
                } else {
                    if separator == ASCII.closeBracket, i == count {
                        s.pos += 1
                        complete = true
                    }
                    break
                }
            }
            initialized = i
        }
        return complete ? values : nil
    }

    private func decodeLabel(_ s: inout JSONScanner) throws(ExampleDecodeError) -> Double {
        switch s.peek() {
        case ASCII.minus, ASCII.zero...ASCII.nine:
            let value = s.doubleValue(try s.scanNumber())
            guard value.isFinite else { throw ExampleDecodeError(.nonFinite(field: "y", index: nil)) }
            return value
        case ASCII.quote:
            let label = s.string(try s.scanString())
            guard let index = labelIndex[label] else {
                throw ExampleDecodeError(
                    .unknownLabel(label),
                    detail: labels == nil ? "no label list is configured" : "not among the \(labelIndex.count) configured labels")
            }
            return Double(index)
        default:
            throw wrongType("y", s, expected: "a number or a label string")
        }
    }

    /// Parses `null` as "absent": returns true and moves past it if `null` is under the cursor.
    private func skipNull(_ s: inout JSONScanner) throws(ExampleDecodeError) -> Bool {
        guard s.peek() == UInt8(ascii: "n") else { return false }
        try s.skipValue(depth: 2, maxDepth: Self.maxNestingDepth)
        return true
    }

    private func decodeWeight(_ s: inout JSONScanner) throws(ExampleDecodeError) -> Double {
        if try skipNull(&s) { return 1 }
        let first = s.peek()
        guard first == ASCII.minus || ASCII.zero...ASCII.nine ~= first else {
            throw wrongType("w", s, expected: "a number")
        }
        let value = s.doubleValue(try s.scanNumber())
        guard value.isFinite else { throw ExampleDecodeError(.nonFinite(field: "w", index: nil)) }
        // -0 is not below zero; only a real negative weight is refused.
        guard value >= 0 else { throw ExampleDecodeError(.negativeWeight(value)) }
        return value
    }

    private func decodeTimestamp(_ s: inout JSONScanner) throws(ExampleDecodeError) -> Double? {
        if try skipNull(&s) { return nil }
        let first = s.peek()
        guard first == ASCII.minus || ASCII.zero...ASCII.nine ~= first else {
            throw wrongType("ts", s, expected: "a number")
        }
        let value = s.doubleValue(try s.scanNumber())
        guard value.isFinite else { throw ExampleDecodeError(.nonFinite(field: "ts", index: nil)) }
        return value
    }
}
