import AuditLog

/// Minimal JSON text output for reports and score files: numbers in Swift's shortest
/// round-trip form (non-finite values, which the learner never produces, become null) and
/// strings with the escapes JSON requires.
enum JSONText {
    static func number(_ x: Double) -> String {
        guard x.isFinite else { return "null" }
        if x == x.rounded(), abs(x) < 1e15 { return String(Int64(x)) }
        return "\(x)"
    }

    static func string(_ s: String) -> String {
        JSONEscaping.literal(s)
    }

    static func object(_ fields: [(String, String)]) -> String {
        "{" + fields.map { "\(string($0.0)):\($0.1)" }.joined(separator: ",") + "}"
    }
}
