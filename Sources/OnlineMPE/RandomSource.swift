import Glibc

/// The learner's random stream: xoshiro256** seeded through SplitMix64.
///
/// Written by hand because the state must be snapshotted and restored bit for bit, which
/// neither `SystemRandomNumberGenerator` nor the standard library's generators expose.
public struct RandomSource: RandomNumberGenerator, Sendable, Equatable {
    var state: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var s = seed
        func splitMix(_ x: inout UInt64) -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitMix(&s), splitMix(&s), splitMix(&s), splitMix(&s))
    }

    init(state: (UInt64, UInt64, UInt64, UInt64)) { self.state = state }

    public static func == (a: RandomSource, b: RandomSource) -> Bool {
        a.state.0 == b.state.0 && a.state.1 == b.state.1 && a.state.2 == b.state.2 && a.state.3 == b.state.3
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = ((state.1 &* 5) << 7 | (state.1 &* 5) >> 57) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = state.3 << 45 | state.3 >> 19
        return result
    }

    /// Uniform in [0, 1) with 53 random bits.
    @inline(__always)
    public mutating func uniform() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// Fills `buffer` with standard normal draws (Box–Muller on pairs; an odd tail draws a pair
    /// and keeps one, so the stream position depends only on the count).
    public mutating func fillNormal(_ buffer: UnsafeMutablePointer<Double>, count: Int) {
        var i = 0
        while i < count {
            let u1 = 1 - uniform()  // (0, 1]: log is finite
            let u2 = uniform()
            let radius = (-2 * log(u1)).squareRoot()
            let angle = 2 * Double.pi * u2
            buffer[i] = radius * cos(angle)
            if i + 1 < count { buffer[i + 1] = radius * sin(angle) }
            i += 2
        }
    }

    /// Fills `buffer` with ±1 (Rademacher) draws, 64 per random word.
    public mutating func fillRademacher(_ buffer: UnsafeMutablePointer<Double>, count: Int) {
        var i = 0
        while i < count {
            var bits = next()
            let end = min(i + 64, count)
            while i < end {
                buffer[i] = bits & 1 == 1 ? 1 : -1
                bits >>= 1
                i += 1
            }
        }
    }
}
