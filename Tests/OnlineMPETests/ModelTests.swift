import Testing
@testable import OnlineMPE

@Test func modelKindsRoundTrip() {
    #expect(ModelKind(rawValue: "softmax") == .softmax)
}
