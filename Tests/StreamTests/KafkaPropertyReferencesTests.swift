import Foundation
import Stream
import Testing

/// `${env:…}` and `${file:…}` in property values, read from a real environment map and real
/// files in a temporary directory.
@Suite("KafkaPropertyReferences")
struct KafkaPropertyReferencesTests {
    let environment = ["KAFKA_PASSWORD": "s3cr3t", "USER_NAME": "monitor", "EMPTY": "", "NESTED": "${env:USER_NAME}"]

    func resolve(_ value: String, readFile: (String) throws -> String = KafkaPropertyReferences.readSecretFile) throws -> String {
        try KafkaPropertyReferences.resolve(value: value, property: "p", environment: environment, readFile: readFile)
    }

    /// A temporary directory removed when the test ends.
    final class Directory {
        let url: URL
        init() throws {
            url = FileManager.default.temporaryDirectory.appendingPathComponent("mpe-refs-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        }
        func write(_ name: String, _ text: String) throws -> String {
            let path = url.appendingPathComponent(name).path
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            return path
        }
        deinit { try? FileManager.default.removeItem(at: url) }
    }

    @Test("values without a reference pass unchanged, $ and braces included")
    func plainValues() throws {
        for value in ["", "SCRAM-SHA-512", "/etc/ssl/certs/ca.pem", "a$b", "{x}", "$ {env:X}", "100$", "pa$$word"] {
            #expect(try resolve(value) == value)
        }
    }

    @Test("${env:NAME} is replaced wherever it stands, several in one value, empty when set empty")
    func environmentReferences() throws {
        #expect(try resolve("${env:KAFKA_PASSWORD}") == "s3cr3t")
        #expect(try resolve("principal=${env:USER_NAME} pw=${env:KAFKA_PASSWORD}!") == "principal=monitor pw=s3cr3t!")
        #expect(try resolve("[${env:EMPTY}]") == "[]")
        // What a reference yields is not scanned again.
        #expect(try resolve("${env:NESTED}") == "${env:USER_NAME}")
        // `$${` is a literal `${`.
        #expect(try resolve("$${env:KAFKA_PASSWORD}") == "${env:KAFKA_PASSWORD}")
        #expect(try resolve("a$${b}c${env:USER_NAME}") == "a${b}cmonitor")
    }

    @Test("${file:PATH} reads the file, without one trailing line break")
    func fileReferences() throws {
        let dir = try Directory()
        let cases: [(String, String)] = [("secret", "secret"), ("secret\n", "secret"), ("secret\r\n", "secret"),
                                         ("two\n\n", "two\n"), ("line 1\nline 2\n", "line 1\nline 2"), ("", ""), ("é ✓\n", "é ✓")]
        for (i, (contents, expected)) in cases.enumerated() {
            let path = try dir.write("s\(i)", contents)
            #expect(try resolve("${file:\(path)}") == expected, "\(contents.debugDescription)")
            #expect(try resolve("k=${file:\(path)};") == "k=\(expected);")
        }
    }

    @Test("an unset variable, a missing file, an unknown or unclosed reference is refused, naming the property, never the value")
    func refusals() throws {
        let dir = try Directory()
        let missing = dir.url.appendingPathComponent("absent").path
        let invalid = try dir.write("latin1", "")
        try Data([0xFF, 0xFE, 0x41]).write(to: URL(fileURLWithPath: invalid))
        let cases: [(String, String)] = [
            ("${env:NOT_SET_ANYWHERE}", "environment variable NOT_SET_ANYWHERE (named by ${env:NOT_SET_ANYWHERE}) is not set"),
            ("${env:}", "${env:} names no environment variable"),
            ("${file:}", "${file:} names no file"),
            ("${file:\(missing)}", "cannot read \(missing) (named by ${file:\(missing)}): "),
            ("${file:\(invalid)}", "not UTF-8 text"),
            ("x${env:KAFKA_PASSWORD", "a reference opened with ${ is not closed with }"),
            ("${ENV:KAFKA_PASSWORD}", "unknown reference: expected ${env:NAME} or ${file:PATH} ($${ for a literal ${)"),
            ("hunter2${hunter2}", "unknown reference"),
        ]
        for (value, message) in cases {
            do {
                let v = try KafkaPropertyReferences.resolve(value: value, property: "sasl.password", environment: environment)
                Issue.record("\(value) resolved to \(v) instead of being refused")
            } catch {
                #expect(error.property == "sasl.password")
                #expect(error.description.hasPrefix("property 'sasl.password': "))
                #expect(error.message.contains(message), "\(error.message)")
                #expect(!error.description.contains("hunter2"), "the value is quoted: \(error)")
            }
        }
    }

    @Test("a map of properties: every value resolved, keys kept, the first bad property by name reported")
    func propertyMaps() throws {
        let dir = try Directory()
        let path = try dir.write("ca", "-----BEGIN CERTIFICATE-----\n")
        let resolved = try KafkaPropertyReferences.resolve(
            ["sasl.password": "${env:KAFKA_PASSWORD}", "ssl.ca.pem": "${file:\(path)}", "linger.ms": "5", "${env:USER_NAME}": "k"],
            environment: environment)
        #expect(resolved == ["sasl.password": "s3cr3t", "ssl.ca.pem": "-----BEGIN CERTIFICATE-----", "linger.ms": "5", "${env:USER_NAME}": "k"])
        // Twenty bad properties: a resolver that walked the dictionary's (per-process seeded)
        // order would name "bad.00" once in twenty runs, not every time.
        let bad = Dictionary(uniqueKeysWithValues: (0..<20).reversed().map { (String(format: "bad.%02d", $0), "${env:NO_\($0)}") })
        do {
            _ = try KafkaPropertyReferences.resolve(bad, environment: [:])
            Issue.record("twenty unset variables resolved")
        } catch {
            #expect(error.property == "bad.00")
            #expect(error.message == "environment variable NO_0 (named by ${env:NO_0}) is not set")
        }
    }
}
