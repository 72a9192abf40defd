import Testing

@testable import Stream

/// JSON number grammar and the exactness of the number conversion, with `Double(String)` as the
/// oracle for every value.
@Suite struct NumberParsingTests {
    let decoder = ExampleDecoder()

    func decodeFeature(_ token: String) throws(ExampleDecodeError) -> Double {
        let message = try decoder.decode(#"{"id":"n","x":["# + token + #"],"y":0}"#)
        return message.x[0]
    }

    @Test(arguments: [
        "0", "-0", "-0.0", "-0e0", "0e999999999999999999", "1", "-1", "1e5", "1E5", "1e+5", "1E+5", "1e-5", "1E05",
        "1.5e-300", "0.1", "0.3", "123.456e-7", "9007199254740993", "9007199254740992.5", "18446744073709551615",
        "99999999999999999999", "5e-324", "4.9406564584124654e-324", "2.4703282292062327e-324",
        "2.2250738585072011e-308", "2.2250738585072014e-308", "1.7976931348623157e308",
        "1.7976931348623158e308", "0.500000000000000166533453693773481063544750213623046875",
        "3.518437208883201171875e13", "1e-400", "0.000000000000000000000000001234", "1234567890123456789e-27",
        "7305971.5809623783", "-6694635240.6590535e-17", "8.98846567431158e307", "1e23", "1e22", "1e-22",
        "123456789012345678e-10", "1" + String(repeating: "0", count: 400) + "e-400",
    ])
    func acceptedNumbersMatchDoubleFromString(token: String) throws {
        let reference = try #require(Double(token))
        #expect(try decodeFeature(token).bitPattern == reference.bitPattern)
    }

    @Test(arguments: [
        "01", "-01", "00", "00.5", "+1", ".5", "-.5", "5.", "5.e3", "1e", "1e+", "1E-", "-", "--1", "0x10", "0X1F",
        "1.5.3", "1e5.5", "1e5e5", "NaN", "Infinity", "-Infinity", "-NaN", "1_000", "1,5e3x", "٣", "１", "- 1", "1 2",
    ])
    func malformedNumbersAreNotJSON(token: String) {
        #expect {
            try decodeFeature(token)
        } throws: { error in
            guard let error = error as? ExampleDecodeError, case .notJSON = error.reason else { return false }
            return true
        }
    }

    @Test(arguments: ["1e309", "-1e400", "1.8e308", "123456789012345678901234567890e300", "1e99999999999999999999"])
    func overflowingNumbersAreNonFinite(token: String) {
        #expect(throws: ExampleDecodeError(.nonFinite(field: "x", index: 0))) {
            try decodeFeature(token)
        }
    }

    /// Every tier of the conversion (Clinger, exact 128-bit, decline) against Double(String):
    /// significands of every bit length, exponents across and beyond the exact range.
    @Test func decimalToDoubleIsCorrectlyRounded() {
        var rng = SplitMix64(seed: 7)
        var answered = 0
        for _ in 0..<200_000 {
            let bits = Int.random(in: 1...64, using: &rng)
            var significand = rng.next() >> (64 - bits) | 1 << (bits - 1)
            if significand >= 10_000_000_000_000_000_000 { significand /= 2 }  // stay within 19 digits
            let exponent = Int.random(in: -30...30, using: &rng)
            guard let ours = DecimalToDouble.convert(significand: significand, exponent: exponent) else {
                #expect(abs(exponent) > DecimalToDouble.maxExactExponent)
                continue
            }
            answered += 1
            let reference = Double("\(significand)e\(exponent)")
            if ours.bitPattern != reference?.bitPattern {
                Issue.record("\(significand)e\(exponent): got \(ours), expected \(reference.map { "\($0)" } ?? "nil")")
            }
        }
        #expect(answered > 150_000)
    }

    /// Decimal significands that sit exactly on, or one unit beside, the midpoint between two
    /// adjacent doubles, where a single wrong rounding step shows.
    @Test func halfwayCasesRoundToEven() {
        var rng = SplitMix64(seed: 8)
        for _ in 0..<50_000 {
            // Above 2^53 the midpoints are integers; scaling by 10^-k keeps them exact decimals.
            let value = Double(UInt64.random(in: (1 << 53)...(1 << 62), using: &rng))
            let midpoint = UInt64(value) + UInt64(value.ulp) / 2
            let significand = midpoint &+ UInt64(bitPattern: Int64.random(in: -1...1, using: &rng))
            let exponent = Int.random(in: -27...27, using: &rng)
            let ours = DecimalToDouble.convert(significand: significand, exponent: exponent)
            #expect(ours?.bitPattern == Double("\(significand)e\(exponent)")?.bitPattern, "\(significand)e\(exponent)")
        }
    }

    /// Tokens spelled with decimal points and leading zeros, so the scanner's digit bookkeeping
    /// (significant digits, implied exponent) is checked along with the conversion.
    @Test func scannedTokensMatchDoubleFromString() throws {
        var rng = SplitMix64(seed: 9)
        for _ in 0..<50_000 {
            var digits = ""
            for _ in 0..<Int.random(in: 1...24, using: &rng) { digits += String(Int.random(in: 0...9, using: &rng)) }
            if Bool.random(using: &rng) { digits = String(repeating: "0", count: Int.random(in: 1...12, using: &rng)) + digits }
            let point = Int.random(in: 1...digits.count, using: &rng)
            var whole = String(digits.prefix(point))
            whole = String(whole.drop { $0 == "0" })
            if whole.isEmpty { whole = "0" }
            let fraction = String(digits.dropFirst(point))
            var token = (Bool.random(using: &rng) ? "-" : "") + whole + (fraction.isEmpty ? "" : "." + fraction)
            if Bool.random(using: &rng) { token += "e" + String(Int.random(in: -40...40, using: &rng)) }
            let reference = try #require(Double(token))
            #expect(try decodeFeature(token).bitPattern == reference.bitPattern, "\(token)")
        }
    }
}
