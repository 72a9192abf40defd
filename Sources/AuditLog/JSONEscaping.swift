/// JSON string literals, shared by the audit log's payloads and the executable's reports and
/// score files (one escaper, not two to keep in step).
public enum JSONEscaping {
    /// Appends `s` as a JSON string literal, with the escapes JSON requires. Most texts (ids,
    /// topics, reasons) need none: they are checked byte by byte and appended whole, which is
    /// an order of magnitude faster than appending scalar by scalar (alert payloads are built
    /// on the monitor's hot path).
    public static func append(_ s: String, to out: inout String) {
        out += "\""
        if s.utf8.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            out += s
        } else {
            for scalar in s.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case _ where scalar.value < 0x20:
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    /// `s` as a JSON string literal.
    public static func literal(_ s: String) -> String {
        var out = ""
        append(s, to: &out)
        return out
    }
}
