/// Produces valid wire lines spelled in as many legal JSON ways as practical — every number
/// format, escaped and raw strings, random whitespace, shuffled keys, nested unknown keys —
/// recording the number tokens it wrote so tests can check each value against
/// `Double(String)` as well as against Foundation.
struct WireLineGenerator {
    static let labels = ["cat", "dog", "bird", "über", "say \"hi\""]
    /// Keys the decoder interprets; generated unknown keys must never spell one of these.
    static let reservedKeys: Set<String> = ["id", "x", "y", "w", "ts"]

    /// One generated line and the JSON tokens that the decoder's fields must come from.
    struct Line {
        var text: String
        /// Number tokens of `x`, in order.
        var xTokens: [String]
        /// The `y` number token, or nil when `y` was a label string.
        var yToken: String?
        var yLabel: String?
        var idNumberToken: String?
        var weightToken: String?
        var timestampToken: String?
    }

    var rng: SplitMix64

    init(seed: UInt64) {
        rng = SplitMix64(seed: seed)
    }

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < p }
    mutating func pick<T>(_ items: [T]) -> T { items[int(0...items.count - 1)] }

    mutating func digits(_ count: Int, leadingNonZero: Bool) -> String {
        var s = ""
        for i in 0..<count {
            s.append(String(int((i == 0 && leadingNonZero ? 1 : 0)...9)))
        }
        return s
    }

    /// A JSON number token whose value is finite and, unless the token is a zero, nonzero:
    /// JSONDecoder, the reference, refuses tokens that underflow to 0.
    mutating func number() -> String {
        while true {
            let token = candidateNumber()
            let mantissa = token.prefix { $0 != "e" && $0 != "E" }
            guard let value = Double(token), value.isFinite else { continue }
            if value == 0 && mantissa.contains(where: { "123456789".contains($0) }) { continue }
            return token
        }
    }

    private mutating func candidateNumber() -> String {
        let sign = chance(0.4) ? "-" : ""
        switch int(0...11) {
        case 0:
            return String(int(-1000...1000))
        case 1:  // integers up to 19 digits: Foundation keeps these as Int64/UInt64
            return sign + digits(int(1...19), leadingNonZero: true)
        case 2:  // plain decimals
            let whole = chance(0.4) ? "0" : digits(int(1...6), leadingNonZero: true)
            return sign + whole + "." + digits(int(1...17), leadingNonZero: false)
        case 3:  // mantissa with exponent, any spelling
            var m = digits(int(1...17), leadingNonZero: true)
            if m.count > 1, chance(0.6) {
                m.insert(".", at: m.index(m.startIndex, offsetBy: 1))
            }
            let e = pick(["e", "E"])
            let es = pick(["", "+", "-"])
            let lead = chance(0.2) ? "00" : ""
            return sign + m + e + es + lead + String(int(0...330))
        case 4:  // shortest round-trip text of an arbitrary finite double (often 17 digits)
            let value = Double(bitPattern: rng.next())
            return value.isFinite ? value.description : "1.0"
        case 5:  // zeros in every spelling
            return pick(["-0", "-0.0", "-0e0", "0", "0.000", "0E-5", "-0.0E+10", "0e400"])
        case 6:  // extremes: subnormals, the smallest normal, the largest finite
            return sign + pick([
                "5e-324", "4.9406564584124654e-324", "2.4703282292062328e-324", "2.2250738585072014e-308",
                "2.2250738585072011e-308", "1.7976931348623157e308", "1.7976931348623158e+308",
                Double(bitPattern: rng.next() >> 12).description,  // a random subnormal
            ])
        case 7:  // 17 significant digits, decimal point anywhere, small exponent
            let d = digits(17, leadingNonZero: true)
            let point = int(1...16)
            let text = String(d.prefix(point)) + "." + String(d.dropFirst(point))
            return sign + text + (chance(0.5) ? "e" + String(int(-30...30)) : "")
        case 8:  // integers exactly halfway between two doubles (or one off), above 2^53
            let v = Double(UInt64.random(in: (1 << 53)...(1 << 62), using: &rng))
            let mid = UInt64(v) + UInt64(v.ulp) / 2
            return sign + String(mid &+ UInt64(bitPattern: Int64(int(-1...1))))
        case 9:  // short decimals with exponents, the typical hand-written form
            return sign + digits(int(1...3), leadingNonZero: true) + "." + digits(int(1...3), leadingNonZero: false)
                + "e" + String(int(-12...12))
        case 10:  // many significant digits (beyond 19): the text-based fallback
            return sign + "0." + digits(int(20...40), leadingNonZero: true)
        default:  // small fractions with leading zeros
            return sign + "0.0000" + digits(int(1...12), leadingNonZero: true)
        }
    }

    mutating func whitespace() -> String {
        chance(0.6) ? "" : pick([" ", "  ", "\t", "\n", "\r\n", " \t "])
    }

    /// Random string content: ASCII, characters that must be escaped, controls, BMP and
    /// astral-plane characters.
    mutating func stringContent(maxLength: Int = 12) -> String {
        let pool: [Unicode.Scalar] = [
            "a", "b", "Z", "0", "9", " ", "-", "_", "\"", "\\", "/", "\u{0}", "\u{1}", "\u{8}", "\u{9}",
            "\u{A}", "\u{C}", "\u{D}", "\u{1F}", "\u{7F}", "é", "ß", "ü", "中", "\u{2028}", "\u{FFFD}",
            "\u{FEFF}", "😀", "𝄞", "\u{10FFFF}",
        ]
        var s = String.UnicodeScalarView()
        for _ in 0..<int(0...maxLength) { s.append(pick(pool)) }
        return String(s)
    }

    /// `content` as a JSON string literal, each character spelled raw or escaped at random.
    mutating func jsonString(_ content: String) -> String {
        var out = "\""
        for scalar in content.unicodeScalars {
            let v = scalar.value
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "/" where chance(0.5): out += "\\/"
            case "\u{8}" where chance(0.5): out += "\\b"
            case "\u{C}" where chance(0.5): out += "\\f"
            case "\n" where chance(0.5): out += "\\n"
            case "\r" where chance(0.5): out += "\\r"
            case "\t" where chance(0.5): out += "\\t"
            default:
                if v < 0x20 || chance(0.2) {
                    for unit in String(scalar).utf16 { out += "\\u" + hex4(unit) }
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    private mutating func hex4(_ unit: UInt16) -> String {
        let hex = String(unit, radix: 16, uppercase: chance(0.5))
        return String(repeating: "0", count: 4 - hex.count) + hex
    }

    /// Any JSON value, nested at most `depth` levels.
    mutating func anyValue(depth: Int) -> String {
        switch int(0...(depth > 0 ? 7 : 4)) {
        case 0: return number()
        case 1: return jsonString(stringContent())
        case 2: return pick(["true", "false"])
        case 3: return "null"
        case 4: return jsonString("")
        case 5, 6:
            let items = (0..<int(0...4)).map { _ in whitespace() + anyValue(depth: depth - 1) + whitespace() }
            return "[" + items.joined(separator: ",") + (items.isEmpty ? whitespace() : "") + "]"
        default:
            let members = (0..<int(0...3)).map { _ in
                whitespace() + jsonString(stringContent(maxLength: 5)) + whitespace() + ":" + whitespace()
                    + anyValue(depth: depth - 1) + whitespace()
            }
            return "{" + members.joined(separator: ",") + (members.isEmpty ? whitespace() : "") + "}"
        }
    }

    mutating func key(_ name: String) -> String {
        chance(0.1) ? jsonString(name) : "\"" + name + "\""  // sometimes "\u0078" for "x"
    }

    mutating func line(dimension: Int? = nil) -> Line {
        var members: [String] = []
        var line = Line(text: "", xTokens: [])

        // id
        if chance(0.7) {
            members.append(key("id") + ":" + whitespace() + jsonString(stringContent()))
        } else {
            let token = String(Int64.random(in: -1_000_000_000_000...1_000_000_000_000, using: &rng))
            line.idNumberToken = token
            members.append(key("id") + ":" + whitespace() + token)
        }

        let xTokens = (0..<(dimension ?? int(0...70))).map { _ in number() }
        line.xTokens = xTokens
        members.append(
            key("x") + whitespace() + ":" + whitespace() + "[" + whitespace()
                + xTokens.map { $0 + whitespace() }.joined(separator: "," + whitespace()) + "]")

        // y: class index, label or any number
        switch int(0...2) {
        case 0: line.yToken = String(int(0...4))
        case 1: line.yLabel = pick(Self.labels)
        default: line.yToken = number()
        }
        members.append(key("y") + ":" + whitespace() + (line.yLabel.map { jsonString($0) } ?? line.yToken ?? "0"))

        if chance(0.3) {
            var token = number()
            if token.hasPrefix("-") { token.removeFirst() }
            line.weightToken = token
            members.append(key("w") + ":" + token)
        }
        if chance(0.3) {
            let token = number()
            line.timestampToken = token
            members.append(key("ts") + ":" + whitespace() + token)
        }
        for _ in 0..<int(0...3) {
            var name = stringContent(maxLength: 6)
            while Self.reservedKeys.contains(name) { name += "_" }
            members.append(jsonString(name) + whitespace() + ":" + whitespace() + anyValue(depth: 4))
        }

        members.shuffle(using: &rng)
        line.text = whitespace() + "{" + whitespace()
            + members.map { $0 + whitespace() }.joined(separator: "," + whitespace()) + "}" + whitespace()
        return line
    }
}
