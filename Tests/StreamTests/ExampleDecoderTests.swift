import Foundation
import Testing

@testable import Stream

/// The decoder's field rules and error reporting on hand-written lines.
@Suite struct ExampleDecoderTests {
    let labels = ["cat", "dog", "say \"hi\"", "über"]

    @Test func decodesAllFields() throws {
        let message = try ExampleDecoder().decode(#"{"id":"a-1","x":[1,-2.5,3e2],"y":2,"w":0.5,"ts":1700000000.25}"#)
        #expect(message == ExampleMessage(id: "a-1", x: [1, -2.5, 300], y: 2, weight: 0.5, timestamp: 1_700_000_000.25))
    }

    @Test func optionalFieldsDefaultAndNullMeansAbsent() throws {
        let plain = try ExampleDecoder().decode(#"{"id":"a","x":[],"y":0}"#)
        #expect(plain.weight == 1)
        #expect(plain.timestamp == nil)
        let nulls = try ExampleDecoder().decode(#"{"id":"a","x":[],"y":0,"w":null,"ts":null}"#)
        #expect(nulls == plain)
    }

    @Test(arguments: ["7", "-0", "1e3", "12.50", "-12345678901234567890"])
    func numericIDsKeepTheirLiteralText(id: String) throws {
        let message = try ExampleDecoder().decode(#"{"id":"# + id + #","x":[],"y":0}"#)
        #expect(message.id == id)
    }

    @Test func stringEscapesAreDecoded() throws {
        let line = #"{"id":"\"\\\/\b\f\n\r\t\u0041\u00e9\u4E2D\ud83d\ude00 raw:é中😀","x":[],"y":0}"#
        let message = try ExampleDecoder().decode(line)
        #expect(message.id == "\"\\/\u{8}\u{C}\n\r\tAé中😀 raw:é中😀")
    }

    @Test func escapedKeysNameTheSameFields() throws {
        let message = try ExampleDecoder().decode(#"{"\u0069d":"a","\u0078":[1],"\u0079":0,"\u0077":2,"t\u0073":3}"#)
        #expect(message == ExampleMessage(id: "a", x: [1], y: 0, weight: 2, timestamp: 3))
    }

    @Test func stringLabelsMapToTheirIndex() throws {
        let decoder = ExampleDecoder(labels: labels)
        #expect(try decoder.decode(#"{"id":"a","x":[],"y":"cat"}"#).y == 0)
        #expect(try decoder.decode(#"{"id":"a","x":[],"y":"say \"hi\""}"#).y == 2)
        #expect(try decoder.decode(#"{"id":"a","x":[],"y":"\u00fcber"}"#).y == 3)
        // Numbers pass through untouched, even with labels configured.
        #expect(try decoder.decode(#"{"id":"a","x":[],"y":1.5}"#).y == 1.5)
    }

    @Test func repeatedLabelNamesUseTheFirstIndex() throws {
        let decoder = ExampleDecoder(labels: ["a", "b", "a"])
        #expect(try decoder.decode(#"{"id":"a","x":[],"y":"a"}"#).y == 0)
    }

    @Test func unknownLabelsAreRejected() {
        #expect(throws: ExampleDecodeError(.unknownLabel("cow"), detail: "not among the 4 configured labels")) {
            try ExampleDecoder(labels: labels).decode(#"{"id":"a","x":[],"y":"cow"}"#)
        }
        #expect(throws: ExampleDecodeError(.unknownLabel("cat"), detail: "no label list is configured")) {
            try ExampleDecoder().decode(#"{"id":"a","x":[],"y":"cat"}"#)
        }
    }

    @Test func dimensionIsEnforced() throws {
        let decoder = ExampleDecoder(dimension: 3)
        #expect(try decoder.decode(#"{"id":"a","x":[1,2,3],"y":0}"#).x == [1, 2, 3])
        #expect(throws: ExampleDecodeError(.wrongDimension(expected: 3, got: 2))) {
            try decoder.decode(#"{"id":"a","x":[1,2],"y":0}"#)
        }
        #expect(throws: ExampleDecodeError(.wrongDimension(expected: 3, got: 4))) {
            try decoder.decode(#"{"id":"a","x":[1,2,3,4],"y":0}"#)
        }
        #expect(throws: ExampleDecodeError(.wrongDimension(expected: 3, got: 0))) {
            try decoder.decode(#"{"id":"a","x":[],"y":0}"#)
        }
    }

    /// With a dimension set, `x` is read in one pass when it holds plain decimals and by the
    /// general loop otherwise; whichever reads it, the values and the errors are those of a
    /// decoder without a dimension (bar the dimension check itself).
    @Test(arguments: [
        "[0,0.0039,-0.8125]", "[ 1 , -0 , 12.50 ]", "[1e3,2,3]", "[1,2,0.1e-2]", "[1,2,12345678901234567890]",
        "[0.000000000000000000000000001234,1,2]", "[1,2,3,4]", "[1,2]", "[]", "[1,2,", "[1,,2]", "[1,2,]",
        "[01,2,3]", "[1,2 3]", #"[1,"a",3]"#, "[1e999,2,3]", "[1,2,3e999]", "[1.,2,3]", "[-,2,3]", "[1,2,3",
    ])
    func fixedDimensionReadsXLikeTheGeneralLoop(x: String) throws {
        let line = #"{"id":"a","x":"# + x + #","y":0}"#
        let fixed = ExampleDecoder(dimension: 3)
        let free = ExampleDecoder()
        switch (Result { () throws(ExampleDecodeError) in try free.decode(line) }) {
        case .success(let reference):
            if reference.x.count == 3 {
                #expect(try fixed.decode(line).x.map(\.bitPattern) == reference.x.map(\.bitPattern), "\(x)")
            } else {
                #expect(throws: ExampleDecodeError(.wrongDimension(expected: 3, got: reference.x.count))) { try fixed.decode(line) }
            }
        case .failure(let reference):
            #expect(throws: reference, "\(x)") { try fixed.decode(line) }
        }
    }

    @Test(arguments: [
        (#"{"x":[],"y":0}"#, "id"), (#"{"id":"a","y":0}"#, "x"), (#"{"id":"a","x":[]}"#, "y"), ("{}", "id"),
    ])
    func missingFieldsAreNamed(line: String, field: String) {
        #expect(throws: ExampleDecodeError(.missingField(field))) { try ExampleDecoder().decode(line) }
    }

    @Test(arguments: [
        (#"{"id":true,"x":[],"y":0}"#, "id", "boolean"),
        (#"{"id":null,"x":[],"y":0}"#, "id", "null"),
        (#"{"id":{},"x":[],"y":0}"#, "id", "object"),
        (#"{"id":"a","x":"1,2","y":0}"#, "x", "string"),
        (#"{"id":"a","x":{"0":1},"y":0}"#, "x", "object"),
        (#"{"id":"a","x":[1,"2"],"y":0}"#, "x[1]", "string"),
        (#"{"id":"a","x":[1,2,null],"y":0}"#, "x[2]", "null"),
        (#"{"id":"a","x":[[1]],"y":0}"#, "x[0]", "array"),
        (#"{"id":"a","x":[true],"y":0}"#, "x[0]", "boolean"),
        (#"{"id":"a","x":[],"y":false}"#, "y", "boolean"),
        (#"{"id":"a","x":[],"y":null}"#, "y", "null"),
        (#"{"id":"a","x":[],"y":[1]}"#, "y", "array"),
        (#"{"id":"a","x":[],"y":0,"w":"1"}"#, "w", "string"),
        (#"{"id":"a","x":[],"y":0,"ts":"2024-01-01"}"#, "ts", "string"),
        (#"[{"id":"a","x":[],"y":0}]"#, "message", "array"),
        (#""text""#, "message", "string"),
        ("42", "message", "number"),
        ("null", "message", "null"),
    ])
    func wrongTypesAreNamed(line: String, field: String, found: String) {
        #expect {
            try ExampleDecoder().decode(line)
        } throws: { error in
            (error as? ExampleDecodeError)?.reason == .wrongType(field: field, found: found)
        }
    }

    @Test func negativeWeightIsRejectedButNegativeZeroIsNot() throws {
        #expect(throws: ExampleDecodeError(.negativeWeight(-0.5))) {
            try ExampleDecoder().decode(#"{"id":"a","x":[],"y":0,"w":-0.5}"#)
        }
        #expect(try ExampleDecoder().decode(#"{"id":"a","x":[],"y":0,"w":-0}"#).weight == 0)
        #expect(try ExampleDecoder().decode(#"{"id":"a","x":[],"y":0,"w":0}"#).weight == 0)
    }

    @Test func whitespaceIsAllowedBetweenEveryToken() throws {
        let line = " \t\r\n{ \"id\" : \"a\" , \"x\" : [ 1 , 2 ] , \"y\" : 0 } \r\n"
        #expect(try ExampleDecoder().decode(line) == ExampleMessage(id: "a", x: [1, 2], y: 0))
    }

    @Test func unknownKeysAreSkippedWhateverTheyHold() throws {
        let line = #"{"meta":{"a":[1,{"b":"}]\"\\"},[]],"c":null},"id":"a","tags":["x","y"],"x":[1],"n":-1.5e-3,"t":true,"f":false,"y":0}"#
        #expect(try ExampleDecoder().decode(line) == ExampleMessage(id: "a", x: [1], y: 0))
    }

    // MARK: Error text

    @Test func descriptionsReadWellInALogLine() {
        func text(_ line: String, _ decoder: ExampleDecoder = ExampleDecoder()) -> String {
            do {
                _ = try decoder.decode(line)
                return "accepted"
            } catch {
                return error.description
            }
        }
        let x63 = "[" + Array(repeating: "0", count: 63).joined(separator: ",") + "]"
        #expect(text(#"{"id":"a","x":"# + x63 + #","y":0}"#, ExampleDecoder(dimension: 64))
            == "wrong dimension: x has 63 values, expected 64")
        #expect(text(#"{"id":"a","x":[]}"#) == "missing field y")
        #expect(text(#"{"id":"a","x":[],"y":true}"#) == "wrong type: y is a boolean, expected a number or a label string")
        #expect(text(#"{"id":"a","x":[1,2,3,1e999],"y":0}"#) == "non-finite value: x[3] is out of Double range")
        #expect(text(#"{"id":"a","x":[],"y":"cow"}"#, ExampleDecoder(labels: ["cat"]))
            == #"unknown label "cow": not among the 1 configured labels"#)
        #expect(text(String(repeating: " ", count: 20), ExampleDecoder(maxBytes: 10)) == "too large: 20 bytes, limit 10")
        #expect(text(#"{"id":"a" "x":[],"y":0}"#) == "not JSON at byte 10: expected ',' or '}' after a value")
        #expect(text(#"{"id":"a","x":[1,"#) == "not JSON at byte 17: expected a JSON value (end of input)")
        #expect(text(#"{"id":"a","x":[],"y":0,"w":-2}"#) == "negative weight: w is -2.0, must be >= 0")
        #expect(text(#"{"id":"a","x":[],"x":[],"y":0}"#) == "duplicate field x")
    }

    @Test func syntaxErrorsCarryTheByteOffset() {
        // A text that merely starts like another value ("not json", "[1,") is not JSON, not a
        // value of the wrong type.
        for (line, offset) in [(#"{"id":01}"#, 6), (#"{"id":"a",}"#, 10), ("{\"id\":\"a\u{1}\"}", 8), (#"{"k":tru}"#, 8),
                               ("not json", 1), ("[1,", 3), ("42 43", 3), ("nullx", 4)] {
            #expect(throws: ExampleDecodeError.self) { try ExampleDecoder().decode(line) }
            do {
                _ = try ExampleDecoder().decode(line)
            } catch {
                #expect(error.reason == .notJSON(offset: offset), "\(line): \(error)")
            }
        }
    }
}
