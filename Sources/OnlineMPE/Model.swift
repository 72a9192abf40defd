/// Which likelihood the learner fits (spec §1).
public enum ModelKind: String, Sendable, CaseIterable, Codable {
    case regression, logistic, softmax
}
