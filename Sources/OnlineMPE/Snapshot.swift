/// Why a snapshot was refused. A refused snapshot is never half-loaded.
public enum SnapshotError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The bytes do not start with the snapshot magic: not a learner snapshot at all.
    case notASnapshot
    /// Written by a format version this build cannot read.
    case incompatibleVersion(found: UInt32, supported: UInt32)
    /// Fewer bytes than the header or a field promises.
    case truncated(what: String)
    /// The checksum over the payload does not match: the bytes were altered.
    case checksumMismatch(stored: UInt32, computed: UInt32)
    /// A field holds a value no learner could have written.
    case invalid(what: String)
    /// The snapshot is valid but was written with other settings than the ones required.
    case configurationMismatch(String)

    public var description: String {
        switch self {
        case .notASnapshot: return "not a learner snapshot (bad magic bytes)"
        case let .incompatibleVersion(found, supported):
            return "snapshot format version \(found) is not supported (this build reads versions \(SnapshotEnvelope.oldestReadable) to \(supported)); start without it or use the matching build"
        case let .truncated(what): return "snapshot is truncated (ran out of bytes reading \(what))"
        case let .checksumMismatch(stored, computed):
            return "snapshot checksum mismatch (stored \(stored), computed \(computed)): the snapshot is corrupt"
        case let .invalid(what): return "snapshot is invalid: \(what)"
        case let .configurationMismatch(what): return "snapshot was written with other settings: \(what)"
        }
    }
}

/// Appends little-endian fields to a snapshot payload.
///
/// Hand-written (rather than Codable) because the learner must restore bit for bit, the
/// payload is mostly large `Double` arrays, and OnlineMPE does not depend on Foundation.
public struct SnapshotWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func write(_ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
    public mutating func write(_ value: UInt32) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
    public mutating func write(_ value: Int) { write(UInt64(bitPattern: Int64(value))) }
    public mutating func write(_ value: Double) { write(value.bitPattern) }
    public mutating func write(_ value: Bool) { bytes.append(value ? 1 : 0) }
    public mutating func write(_ value: String) {
        let utf8 = Array(value.utf8)
        write(utf8.count)
        bytes.append(contentsOf: utf8)
    }
    public mutating func write(_ values: [Double]) {
        write(values.count)
        bytes.reserveCapacity(bytes.count + values.count * 8)
        for v in values { write(v.bitPattern) }
    }
    public mutating func write(_ values: [Int]) {
        write(values.count)
        for v in values { write(v) }
    }
}

/// Reads the fields a `SnapshotWriter` wrote, refusing anything short or out of range.
public struct SnapshotReader: Sendable {
    let bytes: [UInt8]
    var position: Int
    /// The payload layout being read (`SnapshotEnvelope.version` unless told otherwise).
    var version: UInt32

    public init(_ bytes: [UInt8], position: Int = 0, version: UInt32 = SnapshotEnvelope.version) {
        self.bytes = bytes
        self.position = position
        self.version = version
    }

    public var isAtEnd: Bool { position == bytes.count }

    mutating func take(_ count: Int, what: String) throws(SnapshotError) -> ArraySlice<UInt8> {
        guard count >= 0, bytes.count - position >= count else { throw .truncated(what: what) }
        defer { position += count }
        return bytes[position..<(position + count)]
    }

    public mutating func readUInt64(what: String) throws(SnapshotError) -> UInt64 {
        let slice = try take(8, what: what)
        var v: UInt64 = 0
        for (i, b) in slice.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        return v
    }
    public mutating func readUInt32(what: String) throws(SnapshotError) -> UInt32 {
        let slice = try take(4, what: what)
        var v: UInt32 = 0
        for (i, b) in slice.enumerated() { v |= UInt32(b) << (8 * UInt32(i)) }
        return v
    }
    public mutating func readInt(what: String) throws(SnapshotError) -> Int {
        Int(Int64(bitPattern: try readUInt64(what: what)))
    }
    public mutating func readCount(what: String, limit: Int) throws(SnapshotError) -> Int {
        let n = try readInt(what: what)
        guard n >= 0, n <= limit else { throw .invalid(what: "\(what) count \(n) out of range 0...\(limit)") }
        return n
    }
    public mutating func readDouble(what: String) throws(SnapshotError) -> Double {
        Double(bitPattern: try readUInt64(what: what))
    }
    public mutating func readBool(what: String) throws(SnapshotError) -> Bool {
        let b = try take(1, what: what)
        switch b.first {
        case 0: return false
        case 1: return true
        default: throw .invalid(what: "\(what) is not a boolean")
        }
    }
    public mutating func readString(what: String) throws(SnapshotError) -> String {
        let n = try readCount(what: what, limit: bytes.count - position)
        let slice = try take(n, what: what)
        guard let s = String(validating: slice, as: UTF8.self) else { throw .invalid(what: "\(what) is not UTF-8") }
        return s
    }
    /// Reads a `[Double]` that must have exactly `count` elements.
    public mutating func readDoubles(count: Int, what: String) throws(SnapshotError) -> [Double] {
        let n = try readCount(what: what, limit: (bytes.count - position) / 8)
        guard n == count else { throw .invalid(what: "\(what) has \(n) values, expected \(count)") }
        var out = [Double](repeating: 0, count: n)
        for i in 0..<n { out[i] = try readDouble(what: what) }
        return out
    }
    /// Reads a `[Double]` of any length up to `limit`.
    public mutating func readDoubles(limit: Int, what: String) throws(SnapshotError) -> [Double] {
        let n = try readCount(what: what, limit: min(limit, (bytes.count - position) / 8))
        var out = [Double](repeating: 0, count: n)
        for i in 0..<n { out[i] = try readDouble(what: what) }
        return out
    }
    public mutating func readInts(count: Int, what: String) throws(SnapshotError) -> [Int] {
        let n = try readCount(what: what, limit: (bytes.count - position) / 8)
        guard n == count else { throw .invalid(what: "\(what) has \(n) values, expected \(count)") }
        var out = [Int](repeating: 0, count: n)
        for i in 0..<n { out[i] = try readInt(what: what) }
        return out
    }
}

/// The envelope around a learner payload: magic, format version, payload length, payload and a
/// CRC-32 of the payload, so that corrupt, truncated or foreign bytes are refused up front.
public enum SnapshotEnvelope {
    static let magic: [UInt8] = Array("MPESNAP1".utf8)
    /// Bumped whenever the payload layout changes. Layouts older than `oldestReadable` are
    /// refused, not guessed at; older layouts from `oldestReadable` on are read with defaults
    /// for what they lack (`SnapshotReader.version` tells the reader which layout it reads).
    /// 2: the configuration's relinearization window, and the `full` family's frozen part and
    /// window of exact sites. 3: the forecast calibration (its sample count in the
    /// configuration, its state in the learner); a version-2 snapshot restores with the default
    /// sample count and no calibration history, so that a monitor upgraded in place resumes
    /// from its checkpoint.
    public static let version: UInt32 = 3
    /// The oldest payload layout this build still restores.
    public static let oldestReadable: UInt32 = 2

    public static func seal(_ payload: [UInt8]) -> [UInt8] {
        var out = magic
        var w = SnapshotWriter()
        w.write(version)
        w.write(payload.count)
        out.append(contentsOf: w.bytes)
        out.append(contentsOf: payload)
        var c = SnapshotWriter()
        c.write(CRC32.checksum(payload))
        out.append(contentsOf: c.bytes)
        return out
    }

    /// Returns the payload after checking magic, version, length and checksum.
    public static func open(_ bytes: [UInt8]) throws(SnapshotError) -> [UInt8] {
        try openVersioned(bytes).payload
    }

    /// The payload and the layout version it was written in.
    public static func openVersioned(_ bytes: [UInt8]) throws(SnapshotError) -> (version: UInt32, payload: [UInt8]) {
        guard bytes.count >= magic.count, Array(bytes[0..<magic.count]) == magic else {
            throw bytes.count < magic.count && magic.starts(with: bytes) ? .truncated(what: "header") : .notASnapshot
        }
        var r = SnapshotReader(bytes, position: magic.count)
        let found = try r.readUInt32(what: "format version")
        guard found >= oldestReadable && found <= version else { throw .incompatibleVersion(found: found, supported: version) }
        let length = try r.readInt(what: "payload length")
        guard length >= 0, bytes.count - r.position >= length + 4 else { throw .truncated(what: "payload") }
        let payload = Array(bytes[r.position..<(r.position + length)])
        r.position += length
        let stored = try r.readUInt32(what: "checksum")
        guard r.isAtEnd else { throw .invalid(what: "\(bytes.count - r.position) trailing bytes after the checksum") }
        let computed = CRC32.checksum(payload)
        guard stored == computed else { throw .checksumMismatch(stored: stored, computed: computed) }
        return (found, payload)
    }
}

/// CRC-32 (IEEE 802.3, reflected), the checksum of zlib and PNG.
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 == 1 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}
