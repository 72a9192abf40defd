import Foundation
import Testing

@testable import Stream

/// Random bytes and random mutations of valid lines: the decoder must either decode or throw,
/// and whatever it accepts Foundation must accept too, with the same content.
@Suite struct FuzzTests {
    let decoder = ExampleDecoder(labels: WireLineGenerator.labels)

    /// Bytes that JSON gives meaning to, weighted in so random strings get past the first byte.
    static let alphabet = Array(#"{}[]:,"\ 0123456789-+.eEtrufalsnxyidw/bu"#.utf8) + [0x09, 0x0A, 0x0D, 0xC3, 0xA9, 0xF0, 0x9F]

    /// Checks an accepted line against Foundation; returns whether the decoder accepted it.
    @discardableResult
    func check(_ bytes: [UInt8]) -> Bool {
        let message: ExampleMessage
        do {
            message = try decoder.decode(bytes)
        } catch {
            return false
        }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let serialized = FoundationReference.serialized(bytes) else {
            Issue.record("accepted, but JSONSerialization rejects: \(Array(bytes)) \(text)")
            return true
        }
        FoundationReference.expectShapeAgreement(message, with: serialized, labels: WireLineGenerator.labels, line: text)
        // JSONDecoder is stricter (no underflow to 0, integer ids only); where it accepts, numbers
        // must agree bit for bit.
        if let decoded = FoundationReference.decoded(bytes) {
            FoundationReference.expectAgreement(message, with: decoded, labels: WireLineGenerator.labels, line: text)
        }
        return true
    }

    @Test func randomBytesNeverCrash() {
        var rng = SplitMix64(seed: 21)
        var accepted = 0
        let prefixes = [[], Array(#"{"id":"#.utf8), Array(#"{"id":"a","x":["#.utf8), Array(#"{"id":"a","x":[],"y":"#.utf8)]
        for _ in 0..<100_000 {
            var bytes = prefixes[Int.random(in: 0..<prefixes.count, using: &rng)]
            for _ in 0..<Int.random(in: 0...40, using: &rng) {
                bytes.append(
                    Int.random(in: 0..<10, using: &rng) < 7
                        ? Self.alphabet[Int.random(in: 0..<Self.alphabet.count, using: &rng)]
                        : UInt8.random(in: 0...255, using: &rng))
            }
            if check(bytes) { accepted += 1 }
        }
        // Random bytes essentially never form a message; a flood of acceptances would mean a bug.
        #expect(accepted < 100)
    }

    @Test func mutatedLinesNeverCrashAndAgreeWithFoundationWhenAccepted() {
        var generator = WireLineGenerator(seed: 22)
        var rng = SplitMix64(seed: 23)
        var accepted = 0
        var rejected = 0
        var lines: [[UInt8]] = []
        for _ in 0..<500 {
            lines.append(Array(generator.line(dimension: Int.random(in: 0...8, using: &rng)).text.utf8))
        }
        for _ in 0..<100_000 {
            var bytes = lines[Int.random(in: 0..<lines.count, using: &rng)]
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                mutate(&bytes, using: &rng)
            }
            if check(bytes) { accepted += 1 } else { rejected += 1 }
        }
        // Both outcomes must be common, or the mutations are not probing anything.
        #expect(accepted > 5_000)
        #expect(rejected > 20_000)
    }

    private func mutate(_ bytes: inout [UInt8], using rng: inout SplitMix64) {
        guard !bytes.isEmpty else {
            bytes.append(Self.alphabet[Int.random(in: 0..<Self.alphabet.count, using: &rng)])
            return
        }
        let at = Int.random(in: 0..<bytes.count, using: &rng)
        let symbol = Int.random(in: 0..<4, using: &rng) == 0
            ? UInt8.random(in: 0...255, using: &rng)
            : Self.alphabet[Int.random(in: 0..<Self.alphabet.count, using: &rng)]
        switch Int.random(in: 0..<7, using: &rng) {
        case 0: bytes[at] = symbol
        case 1: bytes.insert(symbol, at: at)
        case 2: bytes.remove(at: at)
        case 3:  // duplicate a span, e.g. a whole member
            let end = min(bytes.count, at + Int.random(in: 1...24, using: &rng))
            bytes.insert(contentsOf: bytes[at..<end], at: Int.random(in: 0...bytes.count, using: &rng))
        case 4:  // swap two bytes
            bytes.swapAt(at, Int.random(in: 0..<bytes.count, using: &rng))
        case 5:  // cut
            bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...8, using: &rng)))
        default:  // flip one bit
            bytes[at] ^= 1 << UInt8.random(in: 0...7, using: &rng)
        }
    }
}
