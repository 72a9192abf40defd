/// A JSON number as scanned: its text span plus the decimal significand and exponent gathered on
/// the way, so that converting it rarely needs to look at the text again.
struct JSONNumberToken {
    var start: Int
    var end: Int
    var negative: Bool
    /// The significant decimal digits as an integer (leading zeros dropped).
    var significand: UInt64
    /// The value is `significand * 10^exponent`; clamped far outside Double range, where only the
    /// text-based path is used.
    var exponent: Int
    /// False when there were more than 19 significant digits, so `significand` is incomplete.
    var significandIsExact: Bool
}

extension JSONScanner {
    /// Scans a number per the JSON grammar, `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`,
    /// starting at `pos`. What follows the number is the caller's business, so "01" is caught
    /// here but "1x" is caught by the caller expecting a separator.
    mutating func scanNumber() throws(ExampleDecodeError) -> JSONNumberToken {
        let start = pos
        var b = peek()
        let negative = b == ASCII.minus
        if negative {
            pos += 1
            b = peek()
        }
        var significand: UInt64 = 0
        var digits = 0
        var exponent = 0
        var exact = true

        if b == ASCII.zero {
            pos += 1
            b = peek()
            if ASCII.zero...ASCII.nine ~= b { throw syntaxError("number with a leading zero", at: start) }
        } else if ASCII.one...ASCII.nine ~= b {
            repeat {
                if digits < 19 {
                    significand = significand &* 10 &+ UInt64(b &- ASCII.zero)
                    digits += 1
                } else {
                    exact = false
                }
                pos += 1
                b = peek()
            } while ASCII.zero...ASCII.nine ~= b
        } else {
            throw syntaxError(negative ? "expected a digit after '-'" : "expected a JSON value")
        }

        if b == ASCII.dot {
            pos += 1
            b = peek()
            guard ASCII.zero...ASCII.nine ~= b else { throw syntaxError("expected a digit after '.'") }
            repeat {
                if significand == 0 && b == ASCII.zero {
                    exponent -= 1  // a leading zero of the fraction only scales
                } else if digits < 19 {
                    significand = significand &* 10 &+ UInt64(b &- ASCII.zero)
                    digits += 1
                    exponent -= 1
                } else {
                    exact = false
                }
                pos += 1
                b = peek()
            } while ASCII.zero...ASCII.nine ~= b
        }

        if b == ASCII.lowerE || b == ASCII.upperE {
            pos += 1
            b = peek()
            var exponentNegative = false
            if b == ASCII.plus || b == ASCII.minus {
                exponentNegative = b == ASCII.minus
                pos += 1
                b = peek()
            }
            guard ASCII.zero...ASCII.nine ~= b else { throw syntaxError("expected a digit in the exponent") }
            var written = 0
            repeat {
                // Clamp instead of overflowing: anything this far out is 0 or infinity anyway, and
                // such tokens go through the text-based conversion.
                if written < 1_000_000 { written = written * 10 + Int(b &- ASCII.zero) }
                pos += 1
                b = peek()
            } while ASCII.zero...ASCII.nine ~= b
            exponent += exponentNegative ? -written : written
        }

        return JSONNumberToken(
            start: start, end: pos, negative: negative,
            significand: significand, exponent: exponent, significandIsExact: exact)
    }

    /// The value of a plain decimal under the cursor, `-?(0|[1-9][0-9]*)(.[0-9]+)?` with at most 19
    /// significant digits and no exponent, moving past it; nil, with the cursor where it was, for
    /// any other token (exponents, long significands, malformed text), which `scanNumber` then
    /// takes. Bit-identical to `Double(String)` like `doubleValue`.
    ///
    /// This is the shape of nearly every feature on the wire (`0`, `0.0039`, `-0.8125`), and
    /// `decodeFeatures` spends most of its time here: the cursor lives in a register rather than
    /// in `pos` (which `scanNumber` must keep current because it can throw at any byte), and no
    /// token is built. With `ExampleDecoder.plainFeatures` about 1.4x the lines/s of scanning
    /// every number as a token (`kafka-bench decode`, README).
    @inline(__always)
    mutating func plainDecimal() -> Double? {
        let end = count
        var p = pos
        @inline(__always) func at(_ i: Int) -> UInt8 { i < end ? base.load(fromByteOffset: i, as: UInt8.self) : Self.endOfInput }
        let negative = at(p) == ASCII.minus
        if negative { p += 1 }
        var digit = at(p) &- ASCII.zero
        guard digit < 10 else { return nil }
        var significand: UInt64 = 0
        var digits = 0
        var exponent = 0
        if digit == 0 {
            p += 1
            digit = at(p) &- ASCII.zero
            if digit < 10 { return nil }  // a leading zero: scanNumber reports it
        } else {
            repeat {
                // Wrapping: past 19 digits the value is discarded below anyway.
                significand = significand &* 10 &+ UInt64(digit)
                digits += 1
                p += 1
                digit = at(p) &- ASCII.zero
            } while digit < 10
        }
        if digit == ASCII.dot &- ASCII.zero {
            p += 1
            digit = at(p) &- ASCII.zero
            guard digit < 10 else { return nil }
            if significand == 0 {
                // Leading zeros of the fraction only scale.
                while digit == 0 {
                    exponent -= 1
                    p += 1
                    digit = at(p) &- ASCII.zero
                }
            }
            while digit < 10 {
                significand = significand &* 10 &+ UInt64(digit)
                digits += 1
                exponent -= 1
                p += 1
                digit = at(p) &- ASCII.zero
            }
        }
        guard digits <= 19, digit != ASCII.lowerE &- ASCII.zero, digit != ASCII.upperE &- ASCII.zero else { return nil }
        guard let value = DecimalToDouble.signedValue(negative: negative, significand: significand, exponent: exponent) else { return nil }
        pos = p
        return value
    }

    /// The `Double` nearest to the token (ties to even), bit-identical to `Double(String)` on its
    /// text. Out-of-range values come back as ±infinity or ±0, like `Double(String)`.
    func doubleValue(_ token: JSONNumberToken) -> Double {
        if token.significandIsExact,
           let value = DecimalToDouble.signedValue(negative: token.negative, significand: token.significand, exponent: token.exponent) {
            return value
        }
        return slowDoubleValue(token)
    }

    /// Falls back to the standard library's correctly rounded text conversion for the tokens the
    /// exact paths do not cover (over 19 significant digits or |exponent| beyond the tables).
    @inline(never)
    private func slowDoubleValue(_ token: JSONNumberToken) -> Double {
        let text = String(decoding: UnsafeRawBufferPointer(start: base + token.start, count: token.end - token.start), as: UTF8.self)
        // The grammar was checked, and Double(String) accepts every JSON number; NaN would be
        // reported as non-finite if that ever failed to hold.
        return Double(text) ?? .nan
    }
}

/// Exact conversion of `significand * 10^exponent` to the nearest `Double` for the common cases,
/// using only integer arithmetic where floating point could double-round.
///
/// Three tiers, each exact where it answers:
/// 1. Clinger's fast path: significand < 2^53 and |exponent| <= 22 — both operands are exact
///    doubles, so the one IEEE multiply or divide rounds correctly.
/// 2. |exponent| <= 27 with any 64-bit significand: 5^|exponent| fits in 64 bits, so the value is a
///    128-bit product (or a quotient computed to 128 bits plus a remainder) times a power of two;
///    its top 64 bits with a sticky bit give a correctly rounded `Double(UInt64)`, and scaling by
///    a power of two is exact because the result is far from the subnormal and overflow ranges.
/// 3. Otherwise nil, and the caller uses the text-based conversion.
enum DecimalToDouble {
    static let maxExactExponent = 27

    /// 10^0 ... 10^22, every one exactly representable as a Double.
    private static let powersOf10: [Double] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ]

    /// 5^0 ... 5^27; 5^27 < 2^63.
    private static let powersOf5: [UInt64] = {
        var powers: [UInt64] = [1]
        for _ in 1...maxExactExponent { powers.append(powers[powers.count - 1] * 5) }
        return powers
    }()

    /// `±significand * 10^exponent` (±0 for a zero significand), or nil where `convert` declines:
    /// the one conversion both the token path and `plainDecimal` use.
    @inline(__always)
    static func signedValue(negative: Bool, significand: UInt64, exponent: Int) -> Double? {
        if significand == 0 { return negative ? -0.0 : 0.0 }
        guard let magnitude = convert(significand: significand, exponent: exponent) else { return nil }
        return negative ? -magnitude : magnitude
    }

    /// The nearest Double to `significand * 10^exponent` for `significand > 0`, or nil when this
    /// routine cannot guarantee correct rounding.
    @inline(__always)
    static func convert(significand: UInt64, exponent: Int) -> Double? {
        if significand <= 1 << 53, exponent >= -22, exponent <= 22 {
            let s = Double(significand)
            return exponent >= 0 ? s * powersOf10[exponent] : s / powersOf10[-exponent]
        }
        guard exponent >= -maxExactExponent, exponent <= maxExactExponent else { return nil }
        return exponent >= 0
            ? scaleUp(significand, exponent)
            : scaleDown(significand, -exponent)
    }

    /// significand * 5^e * 2^e, via the exact 128-bit product.
    private static func scaleUp(_ significand: UInt64, _ e: Int) -> Double {
        let (high, low) = significand.multipliedFullWidth(by: powersOf5[e])
        guard high != 0 else {
            return Double(sign: .plus, exponent: e, significand: Double(low))
        }
        let shift = UInt64.bitWidth - high.leadingZeroBitCount  // bits of `high`, 1...64
        var top = high << (UInt64.bitWidth - shift) | low >> shift
        if low << (UInt64.bitWidth - shift) != 0 { top |= 1 }  // sticky: the dropped bits
        return Double(sign: .plus, exponent: e + shift, significand: Double(top))
    }

    /// significand / (5^k * 2^k), via a 128-bit quotient of the normalized significand and the
    /// remainder as sticky bit.
    private static func scaleDown(_ significand: UInt64, _ k: Int) -> Double {
        let divisor = powersOf5[k]
        let normalization = significand.leadingZeroBitCount
        let dividend = significand << normalization  // >= 2^63 > divisor, so q1 >= 1
        let (q1, r1) = dividend.quotientAndRemainder(dividingBy: divisor)
        // r1 < divisor, so this 128-by-64 division cannot overflow.
        let (q0, r0) = divisor.dividingFullWidth((high: r1, low: 0))
        // dividend * 2^64 == (q1 * 2^64 + q0) * divisor + r0
        let shift = UInt64.bitWidth - q1.leadingZeroBitCount  // bits of q1, 1...64
        var top = q1 << (UInt64.bitWidth - shift) | q0 >> shift
        // With 65+ quotient bits the remainder cannot decide a tie for these inputs (a decimal
        // that is not exactly halfway differs from it by more than the quotient's last bit), but
        // including it keeps the rounding argument local and costs one compare.
        if q0 << (UInt64.bitWidth - shift) != 0 || r0 != 0 { top |= 1 }
        return Double(
            sign: .plus, exponent: shift - k - normalization - UInt64.bitWidth, significand: Double(top))
    }
}
