import Foundation
import OnlineMPE

/// One setting in which a restored learner differs from what the configuration asks for now.
///
/// A checkpoint holds the learner with the settings it was created with, and a restart
/// continues it bit for bit, so a setting changed in the configuration file between two runs
/// (a prior precision, a flag threshold, the memory size) does not apply to it. Listing the
/// differences keeps that from passing unnoticed: the monitor names them in its log and in the
/// run's row of the audit log.
struct LearnerConfigurationDifference: Equatable, Sendable {
    /// The setting as the configuration file spells it (`prior_precision`, `memory.capacity`).
    var key: String
    /// Its value in the restored learner.
    var checkpoint: String
    /// Its value in the configuration.
    var configured: String

    var text: String { "\(key) (checkpoint \(checkpoint), configured \(configured))" }

    /// The settings in which `configured` differs from `checkpoint`, by key. Compared through
    /// their Codable encodings, flattened to dotted keys, so that a setting added to
    /// `LearnerConfiguration` is compared without a line here; keys come out in snake case,
    /// the configuration file's spelling (its keys are the properties' names in snake case).
    static func between(checkpoint: LearnerConfiguration, configured: LearnerConfiguration) -> [LearnerConfigurationDifference] {
        guard checkpoint != configured else { return [] }
        let old = flattened(checkpoint), new = flattened(configured)
        return Set(old.keys).union(new.keys).sorted().compactMap { key in
            let a = old[key] ?? "none", b = new[key] ?? "none"
            return a == b ? nil : LearnerConfigurationDifference(key: key, checkpoint: a, configured: b)
        }
    }

    private static func flattened(_ configuration: LearnerConfiguration) -> [String: String] {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        guard let data = try? encoder.encode(configuration),
              let object = try? JSONSerialization.jsonObject(with: data) else { return [:] }
        var out: [String: String] = [:]
        func walk(_ value: Any, _ path: String) {
            if let dictionary = value as? [String: Any] {
                for (key, child) in dictionary { walk(child, path.isEmpty ? key : "\(path).\(key)") }
            } else if let number = value as? NSNumber, String(cString: number.objCType) == "c" {
                // JSONSerialization's booleans are NSNumbers ("c"), which would print as 1 and 0.
                out[path] = number.boolValue ? "true" : "false"
            } else {
                out[path] = "\(value)"
            }
        }
        walk(object, "")
        return out
    }
}
