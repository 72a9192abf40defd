import Foundation
import Testing

@testable import Stream

/// The canonical encoder: its exact text, and decode(encode(m)) == m bit for bit.
@Suite struct ExampleEncoderTests {
    @Test func canonicalForm() {
        let message = ExampleMessage(id: "a\"b\\c\n\u{1}é", x: [1, 0.5, -0.0, 1e-5, 1e16, .leastNonzeroMagnitude], y: 3)
        #expect(message.jsonLine == #"{"id":"a\"b\\c\n\u0001é","x":[1.0,0.5,-0.0,1e-05,1e+16,5e-324],"y":3}"#)
        let full = ExampleMessage(id: "7", x: [], y: -0.0, weight: 0.25, timestamp: 1_700_000_000.5)
        #expect(full.jsonLine == #"{"id":"7","x":[],"y":-0,"w":0.25,"ts":1700000000.5}"#)
        #expect(ExampleMessage(id: "r", x: [], y: 2.5).jsonLine == #"{"id":"r","x":[],"y":2.5}"#)
        #expect(ExampleMessage(id: "r", x: [], y: 1e300).jsonLine == #"{"id":"r","x":[],"y":1e+300}"#)
    }

    @Test func encodingAppendsToABuffer() {
        var buffer = Array("prefix\n".utf8)
        let message = ExampleMessage(id: "a", x: [1], y: 0)
        ExampleEncoder().encode(message, into: &buffer)
        #expect(buffer == Array("prefix\n".utf8) + message.jsonBytes())
    }

    @Test func nonFiniteValuesBecomeNullAndDoNotDecode() {
        let message = ExampleMessage(id: "a", x: [1, .nan], y: .infinity)
        #expect(message.jsonLine == #"{"id":"a","x":[1.0,null],"y":null}"#)
        #expect(throws: ExampleDecodeError.self) { try ExampleDecoder().decode(message.jsonBytes()) }
    }

    @Test func roundTripIsExact() throws {
        var rng = SplitMix64(seed: 31)
        var generator = WireLineGenerator(seed: 32)
        let decoder = ExampleDecoder()
        func anyFinite() -> Double {
            while true {
                let value = Double(bitPattern: rng.next())
                if value.isFinite { return value }
            }
        }
        for i in 0..<3_000 {
            let x = (0..<Int.random(in: 0...40, using: &rng)).map { _ in
                Bool.random(using: &rng) ? anyFinite() : Double(Int.random(in: -5...5, using: &rng)) / 4
            }
            let y: Double
            switch i % 4 {
            case 0: y = Double(Int.random(in: -1000...1000, using: &rng))
            case 1: y = Bool.random(using: &rng) ? -0.0 : 0x1p53 + 2
            case 2: y = anyFinite()
            default: y = Double(Int.random(in: 0...9, using: &rng)) + 0.5
            }
            let message = ExampleMessage(
                id: generator.stringContent(maxLength: 20),
                x: x,
                y: y,
                weight: Bool.random(using: &rng) ? 1 : abs(anyFinite()),
                timestamp: Bool.random(using: &rng) ? nil : anyFinite())
            let bytes = message.jsonBytes()
            let decoded = try decoder.decode(bytes)
            #expect(decoded == message)
            #expect(decoded.x.map(\.bitPattern) == message.x.map(\.bitPattern))
            #expect(decoded.y.bitPattern == message.y.bitPattern)
            #expect(decoded.weight.bitPattern == message.weight.bitPattern)
            #expect(decoded.timestamp?.bitPattern == message.timestamp?.bitPattern)
            #expect(Array(decoded.id.utf8) == Array(message.id.utf8))
            // The output is JSON for everyone else too.
            let reference = try #require(FoundationReference.decoded(bytes), "\(message.jsonLine)")
            FoundationReference.expectAgreement(decoded, with: reference, labels: [], line: message.jsonLine)
        }
    }
}
