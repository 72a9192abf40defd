/// A single-pass cursor over the bytes of one JSON text.
///
/// It validates as it goes (string escapes, UTF-8, number grammar, nesting) so that the decoder
/// never accepts what a conforming JSON parser would reject, yet it builds no tree: the decoder
/// pulls exactly the values it wants and the scanner skips the rest. Reads past the end yield 0,
/// a byte that is invalid at every position of a JSON text outside strings, so bounds checks
/// collapse into the ordinary "unexpected byte" checks.
struct JSONScanner {
    /// The byte that the scanner is looking at when it reports the end of the input.
    static let endOfInput: UInt8 = 0

    let base: UnsafeRawPointer
    let count: Int
    var pos: Int = 0

    init(base: UnsafeRawPointer, count: Int) {
        self.base = base
        self.count = count
    }

    var atEnd: Bool { pos >= count }

    @inline(__always)
    func byte(at index: Int) -> UInt8 {
        index < count ? base.load(fromByteOffset: index, as: UInt8.self) : Self.endOfInput
    }

    @inline(__always)
    func peek() -> UInt8 { byte(at: pos) }

    @inline(__always)
    mutating func skipWhitespace() {
        while pos < count {
            switch base.load(fromByteOffset: pos, as: UInt8.self) {
            case ASCII.space, ASCII.tab, ASCII.lineFeed, ASCII.carriageReturn: pos += 1
            default: return
            }
        }
    }

    /// Builds a syntax error; kept out of line so the hot paths stay small.
    @inline(never)
    func syntaxError(_ detail: String, at offset: Int) -> ExampleDecodeError {
        let found = offset < count ? "" : " (end of input)"
        return ExampleDecodeError(.notJSON(offset: offset), detail: detail + found)
    }

    @inline(never)
    func syntaxError(_ detail: String) -> ExampleDecodeError {
        syntaxError(detail, at: pos)
    }

    /// What kind of JSON value starts with `byte`, for wrong-type messages; nil if none does.
    static func valueKind(startingWith byte: UInt8) -> String? {
        switch byte {
        case ASCII.quote: "string"
        case ASCII.minus, ASCII.zero...ASCII.nine: "number"
        case UInt8(ascii: "t"), UInt8(ascii: "f"): "boolean"
        case UInt8(ascii: "n"): "null"
        case ASCII.openBracket: "array"
        case ASCII.openBrace: "object"
        default: nil
        }
    }

    // MARK: Strings

    /// Where a string's content lies (between the quotes) and whether it must be unescaped.
    struct StringToken {
        var start: Int
        var end: Int
        var hasEscapes: Bool
    }

    /// Scans a string starting at the opening quote under `pos`, validating escapes and UTF-8,
    /// and leaves `pos` after the closing quote.
    mutating func scanString() throws(ExampleDecodeError) -> StringToken {
        let open = pos
        pos += 1
        let start = pos
        var hasEscapes = false
        while true {
            guard pos < count else { throw syntaxError("unterminated string", at: open) }
            let b = base.load(fromByteOffset: pos, as: UInt8.self)
            if b == ASCII.quote {
                let token = StringToken(start: start, end: pos, hasEscapes: hasEscapes)
                pos += 1
                return token
            } else if b == ASCII.backslash {
                hasEscapes = true
                try scanEscape()
            } else if b < 0x20 {
                throw syntaxError("unescaped control character in string")
            } else if b < 0x80 {
                pos += 1
            } else {
                try scanUTF8Sequence(lead: b)
            }
        }
    }

    /// Validates the escape whose backslash is under `pos` and moves past it. Lone surrogates are
    /// rejected because no Swift `String` can hold them (Foundation rejects them too).
    private mutating func scanEscape() throws(ExampleDecodeError) {
        switch byte(at: pos + 1) {
        case ASCII.quote, ASCII.backslash, ASCII.slash,
            UInt8(ascii: "b"), UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            pos += 2
        case UInt8(ascii: "u"):
            let unit = try hex4(at: pos + 2)
            if (0xDC00...0xDFFF).contains(unit) {
                throw syntaxError("unpaired low surrogate escape")
            }
            if (0xD800...0xDBFF).contains(unit) {
                guard byte(at: pos + 6) == ASCII.backslash, byte(at: pos + 7) == UInt8(ascii: "u") else {
                    throw syntaxError("high surrogate escape not followed by a low surrogate")
                }
                let low = try hex4(at: pos + 8)
                guard (0xDC00...0xDFFF).contains(low) else {
                    throw syntaxError("high surrogate escape not followed by a low surrogate", at: pos + 6)
                }
                pos += 12
            } else {
                pos += 6
            }
        default:
            throw syntaxError("invalid escape sequence")
        }
    }

    /// The value of the four hex digits at `index`.
    func hex4(at index: Int) throws(ExampleDecodeError) -> UInt32 {
        var value: UInt32 = 0
        for i in index..<index + 4 {
            let b = byte(at: i)
            let digit: UInt8
            switch b {
            case ASCII.zero...ASCII.nine: digit = b &- ASCII.zero
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = b &- UInt8(ascii: "a") &+ 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = b &- UInt8(ascii: "A") &+ 10
            default: throw syntaxError("\\u escape needs four hex digits", at: i)
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    /// Validates one multi-byte UTF-8 sequence (no overlongs, no surrogates, at most U+10FFFF),
    /// per the well-formed byte sequence table of the Unicode standard.
    private mutating func scanUTF8Sequence(lead: UInt8) throws(ExampleDecodeError) {
        @inline(__always) func isContinuation(_ b: UInt8) -> Bool { b & 0xC0 == 0x80 }
        let b1 = byte(at: pos + 1)
        let length: Int
        switch lead {
        case 0xC2...0xDF:
            length = isContinuation(b1) ? 2 : 0
        case 0xE0:
            length = (0xA0...0xBF).contains(b1) && isContinuation(byte(at: pos + 2)) ? 3 : 0
        case 0xE1...0xEC, 0xEE...0xEF:
            length = isContinuation(b1) && isContinuation(byte(at: pos + 2)) ? 3 : 0
        case 0xED:
            length = (0x80...0x9F).contains(b1) && isContinuation(byte(at: pos + 2)) ? 3 : 0
        case 0xF0:
            length = (0x90...0xBF).contains(b1) && isContinuation(byte(at: pos + 2))
                && isContinuation(byte(at: pos + 3)) ? 4 : 0
        case 0xF1...0xF3:
            length = isContinuation(b1) && isContinuation(byte(at: pos + 2))
                && isContinuation(byte(at: pos + 3)) ? 4 : 0
        case 0xF4:
            length = (0x80...0x8F).contains(b1) && isContinuation(byte(at: pos + 2))
                && isContinuation(byte(at: pos + 3)) ? 4 : 0
        default:
            length = 0
        }
        guard length > 0 else { throw syntaxError("invalid UTF-8 in string") }
        pos += length
    }

    /// The content of a scanned string as a Swift `String`, with escapes decoded.
    func string(_ token: StringToken) -> String {
        let raw = UnsafeRawBufferPointer(start: base + token.start, count: token.end - token.start)
        guard token.hasEscapes else { return String(decoding: raw, as: UTF8.self) }
        // Every escape is at least as long as the UTF-8 it stands for, so the raw length bounds
        // the decoded one.
        return String(unsafeUninitializedCapacity: raw.count) { out in
            var i = 0
            var n = 0
            func put(_ b: UInt8) {
                out[n] = b
                n += 1
            }
            while i < raw.count {
                let b = raw[i]
                guard b == ASCII.backslash else {
                    put(b)
                    i += 1
                    continue
                }
                let e = raw[i + 1]
                i += 2
                switch e {
                case UInt8(ascii: "b"): put(0x08)
                case UInt8(ascii: "f"): put(0x0C)
                case UInt8(ascii: "n"): put(ASCII.lineFeed)
                case UInt8(ascii: "r"): put(ASCII.carriageReturn)
                case UInt8(ascii: "t"): put(ASCII.tab)
                case UInt8(ascii: "u"):
                    // scanString already checked the digits and the surrogate pairing.
                    var scalar = Self.hexValue(raw, at: i)
                    i += 4
                    if (0xD800...0xDBFF).contains(scalar) {
                        let low = Self.hexValue(raw, at: i + 2)
                        i += 6
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    if scalar < 0x80 {
                        put(UInt8(scalar))
                    } else if scalar < 0x800 {
                        put(UInt8(0xC0 | scalar >> 6))
                        put(UInt8(0x80 | scalar & 0x3F))
                    } else if scalar < 0x10000 {
                        put(UInt8(0xE0 | scalar >> 12))
                        put(UInt8(0x80 | scalar >> 6 & 0x3F))
                        put(UInt8(0x80 | scalar & 0x3F))
                    } else {
                        put(UInt8(0xF0 | scalar >> 18))
                        put(UInt8(0x80 | scalar >> 12 & 0x3F))
                        put(UInt8(0x80 | scalar >> 6 & 0x3F))
                        put(UInt8(0x80 | scalar & 0x3F))
                    }
                default: put(e)  // \" \\ \/
                }
            }
            return n
        }
    }

    /// Hex value of four digits already validated by `hex4(at:)`.
    private static func hexValue(_ raw: UnsafeRawBufferPointer, at index: Int) -> UInt32 {
        var value: UInt32 = 0
        for b in raw[index..<index + 4] {
            let digit: UInt8 =
                b <= ASCII.nine ? b &- ASCII.zero : (b | 0x20) &- UInt8(ascii: "a") &+ 10
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    /// Whether the scanned string equals `literal`, which must be plain ASCII without escapes.
    func stringEquals(_ token: StringToken, _ literal: StaticString) -> Bool {
        if token.hasEscapes { return string(token) == literal.description }
        let length = token.end - token.start
        guard length == literal.utf8CodeUnitCount else { return false }
        let raw = UnsafeRawBufferPointer(start: base + token.start, count: length)
        return raw.elementsEqual(UnsafeBufferPointer(start: literal.utf8Start, count: length))
    }

    // MARK: Skipping values

    /// Moves past one JSON value of any kind, validating it. `depth` is the nesting depth the value
    /// would open if it is a container (the message object itself is depth 1); beyond
    /// `maxDepth` it is rejected, which bounds this recursion. A number out of Double range throws
    /// `nonFinite` with an empty field name, for the caller to fill in.
    mutating func skipValue(depth: Int, maxDepth: Int) throws(ExampleDecodeError) {
        switch peek() {
        case ASCII.quote:
            _ = try scanString()
        case ASCII.minus, ASCII.zero...ASCII.nine:
            let number = try scanNumber()
            // An unused number is still refused if it overflows a Double, as everywhere else (and
            // as Foundation does); only tokens that might overflow pay for the conversion.
            if !number.significandIsExact || number.exponent > 288, !doubleValue(number).isFinite {
                throw ExampleDecodeError(.nonFinite(field: "", index: nil), detail: "unused value")
            }
        case UInt8(ascii: "t"):
            try expectLiteral("true")
        case UInt8(ascii: "f"):
            try expectLiteral("false")
        case UInt8(ascii: "n"):
            try expectLiteral("null")
        case ASCII.openBracket:
            guard depth <= maxDepth else { throw syntaxError("nesting deeper than \(maxDepth) levels") }
            pos += 1
            skipWhitespace()
            if peek() == ASCII.closeBracket {
                pos += 1
                return
            }
            while true {
                try skipValue(depth: depth + 1, maxDepth: maxDepth)
                skipWhitespace()
                switch peek() {
                case ASCII.comma:
                    pos += 1
                    skipWhitespace()
                case ASCII.closeBracket:
                    pos += 1
                    return
                default:
                    throw syntaxError("expected ',' or ']' in array")
                }
            }
        case ASCII.openBrace:
            guard depth <= maxDepth else { throw syntaxError("nesting deeper than \(maxDepth) levels") }
            pos += 1
            skipWhitespace()
            if peek() == ASCII.closeBrace {
                pos += 1
                return
            }
            while true {
                guard peek() == ASCII.quote else { throw syntaxError("expected a string key") }
                _ = try scanString()
                skipWhitespace()
                try expect(ASCII.colon, "expected ':' after key")
                skipWhitespace()
                try skipValue(depth: depth + 1, maxDepth: maxDepth)
                skipWhitespace()
                switch peek() {
                case ASCII.comma:
                    pos += 1
                    skipWhitespace()
                case ASCII.closeBrace:
                    pos += 1
                    return
                default:
                    throw syntaxError("expected ',' or '}' in object")
                }
            }
        default:
            throw syntaxError("expected a JSON value")
        }
    }

    @inline(__always)
    mutating func expect(_ b: UInt8, _ message: @autoclosure () -> String) throws(ExampleDecodeError) {
        guard peek() == b else { throw syntaxError(message()) }
        pos += 1
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(ExampleDecodeError) {
        let bytes = UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
        for (i, b) in bytes.enumerated() where byte(at: pos + i) != b {
            throw syntaxError("invalid literal, expected '\(literal)'", at: pos + i)
        }
        pos += bytes.count
    }
}

/// Byte values of the ASCII characters the scanner dispatches on.
enum ASCII {
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let lineFeed = UInt8(ascii: "\n")
    static let carriageReturn = UInt8(ascii: "\r")
    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")
    static let slash = UInt8(ascii: "/")
    static let minus = UInt8(ascii: "-")
    static let plus = UInt8(ascii: "+")
    static let dot = UInt8(ascii: ".")
    static let zero = UInt8(ascii: "0")
    static let one = UInt8(ascii: "1")
    static let nine = UInt8(ascii: "9")
    static let comma = UInt8(ascii: ",")
    static let colon = UInt8(ascii: ":")
    static let openBracket = UInt8(ascii: "[")
    static let closeBracket = UInt8(ascii: "]")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")
    static let lowerE = UInt8(ascii: "e")
    static let upperE = UInt8(ascii: "E")
}
