import Foundation
import Testing

@testable import Stream

/// Hostile and broken input: every one must be rejected with the right reason, and none may
/// crash or hang the decoder.
@Suite struct AdversarialTests {
    let decoder = ExampleDecoder(labels: WireLineGenerator.labels)

    func reason(_ line: [UInt8], _ decoder: ExampleDecoder = ExampleDecoder()) -> ExampleDecodeError.Reason? {
        do {
            _ = try decoder.decode(line)
            return nil
        } catch {
            return error.reason
        }
    }

    func reason(_ line: String, _ decoder: ExampleDecoder = ExampleDecoder()) -> ExampleDecodeError.Reason? {
        reason(Array(line.utf8), decoder)
    }

    func isNotJSON(_ reason: ExampleDecodeError.Reason?) -> Bool {
        if case .notJSON = reason { return true }
        return false
    }

    @Test func everyTruncationIsRejected() throws {
        var generator = WireLineGenerator(seed: 11)
        var lines = (0..<40).map { _ in generator.line(dimension: Int.random(in: 0...6, using: &generator.rng)).text }
        lines.append(#"{"id":"\ud83d\ude00é中\"","x":[-0.0,1e-5,2E+3],"y":"über","w":0.5,"ts":-1,"k":{"a":[null,true,false]}}"#)
        var prefixes = 0
        for line in lines {
            var bytes = Array(line.utf8)
            while let last = bytes.last, [0x20, 0x09, 0x0A, 0x0D].contains(last) { bytes.removeLast() }
            #expect(reason(bytes, decoder) == nil, "the whole line must decode: \(line)")
            for length in 0..<bytes.count {
                let prefix = Array(bytes[..<length])
                if let accepted = try? decoder.decode(prefix) {
                    Issue.record("prefix of \(length) bytes accepted as \(accepted): \(line)")
                }
                prefixes += 1
            }
        }
        #expect(prefixes > 5_000)
    }

    @Test(arguments: ["id", "x", "y", "w", "ts"])
    func duplicateFieldsAreRejected(field: String) {
        let values = ["id": #""a""#, "x": "[1]", "y": "0", "w": "1", "ts": "5"]
        let others = values.filter { $0.key != field }.map { "\"\($0.key)\":\($0.value)" }
        let same = values[field] ?? "0"
        let line = "{\"\(field)\":\(same)," + others.joined(separator: ",") + ",\"\(field)\":\(same)}"
        #expect(reason(line) == .duplicateField(field))
    }

    @Test func duplicatesAreFoundThroughEscapedKeys() {
        #expect(reason(#"{"id":"a","x":[1],"\u0078":[2],"y":0}"#) == .duplicateField("x"))
    }

    @Test func duplicateUnknownKeysAreHarmless() throws {
        let message = try ExampleDecoder().decode(#"{"k":1,"id":"a","k":2,"x":[],"y":0,"k":{}}"#)
        #expect(message == ExampleMessage(id: "a", x: [], y: 0))
    }

    /// Why duplicates are refused rather than resolved: Foundation's own readers resolve them
    /// differently, so any choice would disagree with some producer's or consumer's reading.
    @Test func foundationReadersDisagreeOnDuplicateKeys() throws {
        struct Probe: Decodable { var y: Double }
        let line = Data(#"{"y":1,"y":2}"#.utf8)
        let serialized = try #require(try JSONSerialization.jsonObject(with: line) as? [String: Any])
        let decoded = try JSONDecoder().decode(Probe.self, from: line)
        #expect((serialized["y"] as? NSNumber)?.doubleValue == 2)  // last wins
        #expect(decoded.y == 1)  // first wins
        #expect(reason(#"{"id":"a","x":[],"y":1,"y":2}"#) == .duplicateField("y"))
    }

    @Test(arguments: ["NaN", "nan", "Infinity", "-Infinity", "inf", "-inf", "+Infinity", "NULL", "undefined"])
    func nonJSONLiteralsAreRejectedWherever(literal: String) {
        for line in [
            #"{"id":"a","x":[1,"# + literal + #"],"y":0}"#,
            #"{"id":"a","x":[],"y":"# + literal + #"}"#,
            #"{"id":"a","x":[],"y":0,"w":"# + literal + #"}"#,
            #"{"id":"a","x":[],"y":0,"ts":"# + literal + #"}"#,
            #"{"id":"a","x":[],"y":0,"extra":[{"v":"# + literal + #"}]}"#,
        ] {
            // "nan"/"null"-like words start like null, so some land as wrong types: rejected either way.
            let why = reason(line)
            #expect(why != nil, "\(line)")
            #expect(FoundationReference.serialized(Array(line.utf8)) == nil, "Foundation accepts \(line)")
        }
    }

    @Test func overflowingNumbersAreRejectedWhereverTheyAre() {
        #expect(reason(#"{"id":"a","x":[0,1e999],"y":0}"#) == .nonFinite(field: "x", index: 1))
        #expect(reason(#"{"id":"a","x":[],"y":-1e999}"#) == .nonFinite(field: "y", index: nil))
        #expect(reason(#"{"id":"a","x":[],"y":0,"w":1e999}"#) == .nonFinite(field: "w", index: nil))
        #expect(reason(#"{"id":"a","x":[],"y":0,"ts":1.8e308}"#) == .nonFinite(field: "ts", index: nil))
        #expect(reason(#"{"id":1e999,"x":[],"y":0}"#) == .nonFinite(field: "id", index: nil))
        #expect(reason(#"{"id":"a","x":[],"y":0,"big":{"deep":[1e999]}}"#) == .nonFinite(field: "big", index: nil))
        let digits = String(repeating: "9", count: 400)
        #expect(reason(#"{"id":"a","x":[],"y":0,"big":"# + digits + "}") == .nonFinite(field: "big", index: nil))
        // Foundation refuses these lines too.
        #expect(FoundationReference.serialized(Array(#"{"id":"a","x":[],"y":0,"big":{"deep":[1e999]}}"#.utf8)) == nil)
    }

    @Test func underflowBecomesZeroLikeDoubleFromString() throws {
        let message = try ExampleDecoder().decode(#"{"id":"a","x":[1e-400,-1e-400,2e-324],"y":0}"#)
        #expect(message.x.map(\.bitPattern) == [0.0, -0.0, 0.0].map(\.bitPattern))
    }

    @Test func tooLargeInputIsRejectedBeforeParsing() throws {
        let line = #"{"id":"a","x":[1,2,3],"y":0}"#
        let size = line.utf8.count
        let exact = ExampleDecoder(maxBytes: size)
        #expect(try exact.decode(line).x == [1, 2, 3])
        let small = ExampleDecoder(maxBytes: size - 1)
        let tooLarge = ExampleDecodeError.Reason.tooLarge(size: size, limit: size - 1)
        #expect(reason(line, small) == tooLarge)
        // Even garbage is only measured, and every entry point measures.
        #expect(reason(String(repeating: "\u{0}", count: size), small) == tooLarge)
        #expect(throws: ExampleDecodeError(tooLarge)) { try small.decode(line.utf8.lazy.map { $0 }) }
        #expect(throws: ExampleDecodeError(tooLarge)) { try small.decode(line) }
        let megabyte = #"{"id":"a","x":[],"y":0,"pad":""# + String(repeating: "p", count: 1 << 20) + #""}"#
        #expect(reason(megabyte) == .tooLarge(size: megabyte.utf8.count, limit: ExampleDecoder.defaultMaxBytes))
    }

    @Test(arguments: ["", " ", "\n\r\t ", "x", "{", "}", "{\"id\"", "\u{FEFF}{\"id\":\"a\",\"x\":[],\"y\":0}", "'a'"])
    func nonObjectsAreNotJSON(line: String) {
        #expect(isNotJSON(reason(line)), "\(line.debugDescription)")
    }

    @Test(arguments: [
        #"{"id":"a","x":[],"y":0}}"#, #"{"id":"a","x":[],"y":0}{"id":"b","x":[],"y":0}"#, #"{"id":"a","x":[],"y":0} x"#,
        #"{"id" "a","x":[],"y":0}"#, #"{"id":"a","x":[1 2],"y":0}"#, #"{id:"a","x":[],"y":0}"#,
        #"{'id':'a','x':[],'y':0}"#, #"{"id":"a","x":[],"y":0 /* c */}"#, #"{"id":"a","x":[],"y":0,"k":{"a"}}"#,
        #"{"id":"a","x":[],"y":0,"k":tru}"#, #"{"id":"a","x":[],"y":0,"k":nul}"#, #"{"id":"a","x":[],"y":0,"k":falsey}"#,
        #"{"id":"a","x":[,1],"y":0}"#, #"{,"id":"a","x":[],"y":0}"#,
    ])
    func structuralErrorsAreNotJSON(line: String) {
        #expect(isNotJSON(reason(line)), "\(line)")
        #expect(FoundationReference.serialized(Array(line.utf8)) == nil)
        #expect(FoundationReference.decoded(Array(line.utf8)) == nil)
    }

    /// RFC 8259 has no trailing commas. Foundation on Linux tolerates them (both readers), so
    /// here the decoder is deliberately stricter than the reference.
    @Test(arguments: [
        #"{"id":"a","x":[1,],"y":0}"#, #"{"id":"a","x":[],"y":0,}"#, #"{"id":"a","x":[],"y":0,"k":[1,]}"#,
        #"{"id":"a","x":[],"y":0,"k":{"a":1,}}"#,
    ])
    func trailingCommasAreNotJSON(line: String) {
        #expect(isNotJSON(reason(line)), "\(line)")
    }

    @Test(arguments: [
        [0x80], [0xBF], [0xC0, 0x80], [0xC1, 0xBF], [0xC2], [0xC2, 0x41], [0xE0, 0x80, 0x80], [0xE0, 0x9F, 0xBF],
        [0xE4, 0xB8], [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF], [0xF0, 0x80, 0x80, 0x80], [0xF0, 0x8F, 0xBF, 0xBF],
        [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80], [0xFE], [0xFF],
    ] as [[UInt8]])
    func invalidUTF8IsRejectedInEveryString(sequence: [UInt8]) {
        let places: [(String, String)] = [
            (#"{"id":"a"#, #"b","x":[],"y":0}"#),  // a decoded string
            (#"{"id":"a","x":[],"y":0,"k":""#, #""}"#),  // a skipped string
            (#"{"id":"a","x":[],"y":0,""#, #"":1}"#),  // a key
            (#"{"id":"a","x":[],"y":0,"k":["#, #"]}"#),  // outside any string
        ]
        for (head, tail) in places {
            let line = Array(head.utf8) + sequence + Array(tail.utf8)
            #expect(isNotJSON(reason(line)), "\(sequence) in \(head)…")
            #expect(FoundationReference.serialized(line) == nil, "Foundation accepts \(sequence) in \(head)…")
        }
    }

    @Test(arguments: [
        [0xC2, 0x80], [0xDF, 0xBF], [0xE0, 0xA0, 0x80], [0xED, 0x9F, 0xBF], [0xEE, 0x80, 0x80], [0xEF, 0xBF, 0xBF],
        [0xF0, 0x90, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF], [0x7F],
    ] as [[UInt8]])
    func validUTF8BoundariesAreAccepted(sequence: [UInt8]) throws {
        let line = Array(#"{"id":""#.utf8) + sequence + Array(#"","x":[],"y":0}"#.utf8)
        let message = try ExampleDecoder().decode(line)
        #expect(Array(message.id.utf8) == sequence)
    }

    @Test(arguments: [
        #"\x"#, #"\u12"#, #"\u12G4"#, #"\U0041"#, #"\ud800"#, #"\udc00"#, #"\ud800\u0041"#, #"\ud800x"#, #"\udbff\udbff"#,
        #"\'"#, #"\0"#, "\\", "\t", "\n", "\u{0}", "\u{1F}",
    ])
    func badEscapesAndControlCharactersAreRejected(content: String) {
        for line in [
            #"{"id":""# + content + #"","x":[],"y":0}"#,
            #"{"id":"a","x":[],"y":0,"k":[""# + content + #""]}"#,
        ] {
            #expect(isNotJSON(reason(line)), "\(line.debugDescription)")
            #expect(FoundationReference.serialized(Array(line.utf8)) == nil, "Foundation accepts \(line.debugDescription)")
        }
    }

    /// Nesting in an ignored key is bounded at 64 levels in all (the message object is level 1).
    @Test func nestingIsBoundedWithoutRecursingDeeply() throws {
        func line(depth: Int) -> String {
            var value = "1"
            for level in 0..<depth { value = level.isMultiple(of: 2) ? "[\(value)]" : "{\"k\":\(value)}" }
            return #"{"id":"a","x":[],"y":0,"deep":"# + value + "}"
        }
        let deepest = ExampleDecoder.maxNestingDepth - 1
        #expect(try ExampleDecoder().decode(line(depth: deepest)).id == "a")
        #expect(isNotJSON(reason(line(depth: deepest + 1))))
        // A megabyte of brackets: rejected at level 65, long before any stack trouble.
        let bombs = [
            #"{"id":"a","x":[],"y":0,"k":"# + String(repeating: "[", count: 1_000_000),
            #"{"id":"a","x":[],"y":0,"k":"# + String(repeating: #"{"a":"#, count: 200_000),
        ]
        for bomb in bombs {
            let why = reason(bomb, ExampleDecoder(maxBytes: 2 << 20))
            #expect(why == .notJSON(offset: 27 + (bomb.hasSuffix("[") ? 63 : 5 * 63)), "\(String(describing: why))")
        }
    }

    @Test func xMustBeAnArrayOfNumbersAtTheRightDepth() {
        #expect(reason(#"{"id":"a","x":[[1,2]],"y":0}"#) == .wrongType(field: "x[0]", found: "array"))
        #expect(reason(#"{"id":"a","x":1,"y":0}"#) == .wrongType(field: "x", found: "number"))
    }
}
