import Foundation
import OnlineMPE
import Yams

/// A configuration problem found at start-up: names the key, what is allowed and what was given.
struct ConfigurationProblem: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// The YAML configuration file (see `config/mpe-monitor.yaml`), read strictly: an unknown or
/// misspelled key is an error naming the key and the keys allowed there, never silently ignored.
struct ConfigurationFile {
    /// Applies the file's `learner:` section on top of `base`.
    static func apply(path: String, to base: inout LearnerSettings) throws {
        if let node = try load(path: path), let learner = try node.child("learner") { try base.apply(learner) }
    }

    /// Applies the file's `kafka:` and `monitor:` sections on top of `base`.
    static func apply(path: String, to base: inout MonitorSettings) throws {
        if let node = try load(path: path) { try base.apply(file: node) }
    }

    /// The file's top-level mapping, checked for unknown sections; nil for an empty file.
    static func load(path: String) throws -> ConfigNode? {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationProblem(message: "cannot read configuration file \(path): \(error.localizedDescription)")
        }
        let root: Any?
        do {
            root = try Yams.load(yaml: text)
        } catch {
            throw ConfigurationProblem(message: "configuration file \(path) is not valid YAML: \(error)")
        }
        guard let top = root as? [String: Any] else {
            if root == nil { return nil }
            throw ConfigurationProblem(message: "configuration file \(path) must be a mapping with a `learner:` section")
        }
        let node = ConfigNode(path: "", value: top)
        try node.allowOnly(["learner", "kafka", "monitor"])
        return node
    }
}

/// One node of the parsed YAML with its dotted path, for precise error messages.
struct ConfigNode {
    let path: String
    let value: Any

    func key(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }

    var mapping: [String: Any]? { value as? [String: Any] }

    func allowOnly(_ keys: [String]) throws {
        guard let m = mapping else { throw ConfigurationProblem(message: "\(path) must be a mapping") }
        for k in m.keys.sorted() where !keys.contains(k) {
            throw ConfigurationProblem(message: "unknown configuration key \(key(k)); allowed here: \(keys.joined(separator: ", "))")
        }
    }

    func child(_ name: String) throws -> ConfigNode? {
        guard let v = mapping?[name], !(v is NSNull) else { return nil }
        return ConfigNode(path: key(name), value: v)
    }

    func double(_ name: String) throws -> Double? {
        guard let n = try child(name) else { return nil }
        if let d = n.value as? Double { return d }
        if let i = n.value as? Int { return Double(i) }
        throw ConfigurationProblem(message: "\(n.path) must be a number, got \(n.value)")
    }

    func int(_ name: String) throws -> Int? {
        guard let n = try child(name) else { return nil }
        if let i = n.value as? Int { return i }
        throw ConfigurationProblem(message: "\(n.path) must be an integer, got \(n.value)")
    }

    func bool(_ name: String) throws -> Bool? {
        guard let n = try child(name) else { return nil }
        if let b = n.value as? Bool { return b }
        throw ConfigurationProblem(message: "\(n.path) must be true or false, got \(n.value)")
    }

    func string(_ name: String) throws -> String? {
        guard let n = try child(name) else { return nil }
        if let s = n.value as? String { return s }
        throw ConfigurationProblem(message: "\(n.path) must be a string, got \(n.value)")
    }

    func strings(_ name: String) throws -> [String]? {
        guard let n = try child(name) else { return nil }
        if let list = n.value as? [Any] {
            return try list.map { item in
                if let s = item as? String { return s }
                if let i = item as? Int { return String(i) }
                throw ConfigurationProblem(message: "\(n.path) must be a list of strings")
            }
        }
        throw ConfigurationProblem(message: "\(n.path) must be a list of strings")
    }

    func choice<T: RawRepresentable & CaseIterable>(_ name: String, _ type: T.Type) throws -> T? where T.RawValue == String {
        guard let raw = try string(name) else { return nil }
        guard let v = T(rawValue: raw) else {
            throw ConfigurationProblem(message: "\(key(name)) = '\(raw)'; allowed: \(T.allCases.map(\.rawValue).joined(separator: " | "))")
        }
        return v
    }
}
