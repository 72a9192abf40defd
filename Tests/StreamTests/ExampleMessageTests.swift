import Testing
@testable import Stream

@Test func defaultWeightIsOne() {
    #expect(ExampleMessage(id: "a", x: [1], y: 0).weight == 1)
}
