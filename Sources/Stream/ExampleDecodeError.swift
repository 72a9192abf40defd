/// Why a wire line could not become an `ExampleMessage`.
///
/// The `reason` is for code that counts or routes rejects (metrics, dead-letter queues); `detail`
/// and `description` are for the person reading the log line that says what was wrong with it.
public struct ExampleDecodeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of rejection, with the facts a log line or a metric needs.
    public enum Reason: Sendable, Equatable {
        /// The bytes are not a JSON text; `offset` is the 0-based byte offset where parsing stopped.
        case notJSON(offset: Int)
        /// A required field (`id`, `x` or `y`) is absent.
        case missingField(String)
        /// A field holds a JSON value of the wrong kind; `found` is "string", "number", "boolean",
        /// "null", "array" or "object". Elements of `x` are named like `x[3]`.
        case wrongType(field: String, found: String)
        /// `x` has `got` values where the decoder was configured to expect `expected`.
        case wrongDimension(expected: Int, got: Int)
        /// A number is syntactically fine but does not fit in a finite `Double`; `index` is set
        /// for elements of `x`.
        case nonFinite(field: String, index: Int?)
        /// `y` is a string that is not in the configured label list (or no list is configured).
        case unknownLabel(String)
        /// The input is longer than the decoder's `maxBytes`; nothing of it was parsed.
        case tooLarge(size: Int, limit: Int)
        /// `w` is a finite number below zero.
        case negativeWeight(Double)
        /// A field the decoder reads appears twice. Refused because readers disagree on which
        /// occurrence counts (Foundation's JSONSerialization takes the last, JSONDecoder the first).
        case duplicateField(String)
    }

    /// What was wrong, in a form code can switch on.
    public var reason: Reason
    /// Extra words for the log line, e.g. what the parser expected; may be empty.
    public var detail: String

    public init(_ reason: Reason, detail: String = "") {
        self.reason = reason
        self.detail = detail
    }

    /// One line for a log, e.g. `wrong dimension: x has 63 values, expected 64`.
    public var description: String {
        let head: String
        switch reason {
        case .notJSON(let offset):
            head = "not JSON at byte \(offset)"
        case .missingField(let field):
            head = "missing field \(field)"
        case .wrongType(let field, let found):
            head = "wrong type: \(field) is \(Self.withArticle(found))"
        case .wrongDimension(let expected, let got):
            head = "wrong dimension: x has \(got) value\(got == 1 ? "" : "s"), expected \(expected)"
        case .nonFinite(let field, let index):
            head = "non-finite value: \(field)\(index.map { "[\($0)]" } ?? "") is out of Double range"
        case .unknownLabel(let label):
            head = "unknown label \(label.debugDescription)"
        case .tooLarge(let size, let limit):
            head = "too large: \(size) bytes, limit \(limit)"
        case .negativeWeight(let weight):
            head = "negative weight: w is \(weight), must be >= 0"
        case .duplicateField(let field):
            head = "duplicate field \(field)"
        }
        guard !detail.isEmpty else { return head }
        // "y is a boolean, expected …" reads on; everything else takes the detail after a colon.
        if case .wrongType = reason { return "\(head), \(detail)" }
        return "\(head): \(detail)"
    }

    private static func withArticle(_ kind: String) -> String {
        guard let first = kind.first else { return kind }
        return ("aeiou".contains(first) ? "an " : "a ") + kind
    }
}
