import Foundation

/// Resolves references to secrets in librdkafka property values, so that a password or a key
/// need be written neither in a configuration file nor on a command line (where `ps` and
/// `/proc/PID/cmdline` show it to every user of the machine):
///
/// - `${env:NAME}` is replaced by the environment variable `NAME` (refused if it is unset);
/// - `${file:PATH}` by the contents of the file at `PATH`, without one trailing line break (a
///   mounted Kubernetes or Docker secret, or a file written with `echo`);
/// - `$${` stands for a literal `${`.
///
/// A reference may stand anywhere in a value (`principal=${env:USER_NAME}`), and what it
/// yields is not scanned again. Any other `${…}` is refused rather than passed on, so a typo
/// (`${ENV:PASSWORD}`) is not sent to the broker as the password itself. librdkafka has no
/// such expansion of its own, and neither has any package in the mirror; the syntax follows
/// Apache Kafka's configuration providers (`${env:…}`, `${file:…}`).
public enum KafkaPropertyReferences {
    /// Every value of `properties` with its references resolved. Keys are left as they are.
    /// Properties are resolved in the order of their names, so the error reported for a
    /// configuration with several bad references is always the same one.
    public static func resolve(
        _ properties: [String: String],
        environment: [String: String],
        readFile: (String) throws -> String = readSecretFile
    ) throws(KafkaPropertyReferenceError) -> [String: String] {
        var resolved: [String: String] = [:]
        for key in properties.keys.sorted() {
            resolved[key] = try resolve(value: properties[key] ?? "", property: key, environment: environment, readFile: readFile)
        }
        return resolved
    }

    /// One value with its references resolved; `property` names it in errors.
    public static func resolve(
        value: String, property: String,
        environment: [String: String],
        readFile: (String) throws -> String = readSecretFile
    ) throws(KafkaPropertyReferenceError) -> String {
        // Fast path: most values (timeouts, mechanisms, paths) hold no reference at all.
        guard value.contains("${") else { return value }
        var out = ""
        var rest = Substring(value)
        while let dollar = rest.range(of: "${") {
            let before = rest[..<dollar.lowerBound]
            if before.hasSuffix("$") {
                // `$${`: a literal `${`, the escaping `$` dropped.
                out += before.dropLast()
                out += "${"
                rest = rest[dollar.upperBound...]
                continue
            }
            out += before
            let body = rest[dollar.upperBound...]
            guard let close = body.firstIndex(of: "}") else {
                throw KafkaPropertyReferenceError(property: property, message: "a reference opened with ${ is not closed with }")
            }
            let reference = body[..<close]
            if reference.hasPrefix("env:") {
                let name = String(reference.dropFirst(4))
                guard !name.isEmpty else {
                    throw KafkaPropertyReferenceError(property: property, message: "${env:} names no environment variable")
                }
                guard let v = environment[name] else {
                    throw KafkaPropertyReferenceError(property: property, message: "environment variable \(name) (named by ${env:\(name)}) is not set")
                }
                out += v
            } else if reference.hasPrefix("file:") {
                let path = String(reference.dropFirst(5))
                guard !path.isEmpty else {
                    throw KafkaPropertyReferenceError(property: property, message: "${file:} names no file")
                }
                do {
                    out += try readFile(path)
                } catch {
                    throw KafkaPropertyReferenceError(property: property, message: "cannot read \(path) (named by ${file:\(path)}): \(error)")
                }
            } else {
                // The reference itself is not quoted: it may be a secret pasted in by mistake.
                throw KafkaPropertyReferenceError(
                    property: property, message: "unknown reference: expected ${env:NAME} or ${file:PATH} ($${ for a literal ${)")
            }
            rest = body[body.index(after: close)...]
        }
        out += rest
        return out
    }

    /// The contents of a secret file as text, without one trailing `\n` or `\r\n`.
    public static func readSecretFile(_ path: String) throws -> String {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw SecretFileError(reason: error.localizedDescription)
        }
        guard var text = String(data: data, encoding: .utf8) else {
            throw SecretFileError(reason: "not UTF-8 text")
        }
        // "\r\n" is one Character in Swift, so one removal takes either ending.
        if text.last == "\n" || text.last == "\r\n" { text.removeLast() }
        return text
    }

    /// Why a secret file could not be read.
    struct SecretFileError: Error, CustomStringConvertible {
        let reason: String
        var description: String { reason }
    }
}

/// A property value whose reference could not be resolved: names the property and says why,
/// never quoting the value (it may hold a secret).
public struct KafkaPropertyReferenceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The librdkafka property whose value held the reference.
    public let property: String
    /// What is wrong with the reference, in words.
    public let message: String

    public var description: String { "property '\(property)': \(message)" }
}
