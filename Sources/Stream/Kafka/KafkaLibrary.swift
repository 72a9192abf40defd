import CRdkafka
import Logging
import Synchronization

/// The run-time librdkafka: its version, and the check that it can talk to the brokers this
/// project is tested against.
public enum KafkaLibrary {
    /// The oldest librdkafka that parses tagged fields correctly. 2.0.2 (Debian 12) skips one
    /// byte too few per tagged field and fails every ApiVersions v3 exchange with the test
    /// broker; upstream fixed it in 2.2.0.
    public static let minimumVersion: UInt32 = 0x0202_0000

    /// `rd_kafka_version()`: 0xMMmmrrxx.
    public static var versionNumber: UInt32 { UInt32(bitPattern: rd_kafka_version()) }

    /// `rd_kafka_version_str()`, e.g. "2.8.0".
    public static var version: String { String(cString: rd_kafka_version_str()) }

    /// Refuses a librdkafka older than `minimumVersion` with what to do about it.
    public static func requireSupportedVersion() throws(KafkaError) {
        guard versionNumber >= minimumVersion else {
            throw KafkaError(kind: .unsupportedLibrary, operation: "start",
                             message: "librdkafka \(version) is loaded, but 2.2.0 or newer is required: "
                                + "older releases misread the tagged fields of ApiVersions replies "
                                + "(\"Protocol read buffer underflow\"). Run `scripts/setup kafka` to build 2.8.0 "
                                + "into the cache and rebuild, or point the dynamic loader at a newer librdkafka.so.1.")
        }
    }

    static func string(fromCBuffer buffer: [CChar]) -> String {
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// librdkafka logs with syslog levels (0 emergency ... 7 debug).
    static func logLevel(syslog level: Int32) -> Logger.Level {
        switch level {
        case ...2: return .critical
        case 3: return .error
        case 4: return .warning
        case 5: return .notice
        case 6: return .info
        default: return .debug
        }
    }
}

/// A librdkafka client handle. librdkafka documents its handles as safe to use from any
/// thread, which is why this wrapper may cross tasks.
struct KafkaHandle: @unchecked Sendable {
    let pointer: OpaquePointer

    /// The value the client holds for a configuration property (as librdkafka reports it,
    /// defaults included), or nil for a name it does not know. Only while the client exists:
    /// callers read it under the lock that `close` takes before destroying the client.
    func configurationValue(_ name: String) -> String? {
        guard let conf = rd_kafka_conf(pointer) else { return nil }
        var size = 0
        guard rd_kafka_conf_get(conf, name, nil, &size) == RD_KAFKA_CONF_OK, size > 0 else { return nil }
        var buffer = [CChar](repeating: 0, count: size)
        guard rd_kafka_conf_get(conf, name, &buffer, &size) == RD_KAFKA_CONF_OK else { return nil }
        return KafkaLibrary.string(fromCBuffer: buffer)
    }
}

/// Owns a client handle and destroys it when the last holder lets go. librdkafka's
/// `rd_kafka_destroy` waits until every message it handed out has been released, so the
/// consumer and each message batch hold one of these: closing never blocks on a batch the
/// caller still keeps, and the client goes away with the last of them.
final class KafkaClientOwner: Sendable {
    let handle: KafkaHandle
    /// Keeps the target of librdkafka's callbacks alive as long as the client.
    let context: any AnyObject & Sendable
    private let destroyFlags = Mutex<Int32>(0)

    init(handle: KafkaHandle, context: any AnyObject & Sendable) {
        self.handle = handle
        self.context = context
    }

    /// librdkafka's `RD_KAFKA_DESTROY_F_*` flags for the final destroy.
    func setDestroyFlags(_ flags: Int32) {
        destroyFlags.withLock { $0 = flags }
    }

    deinit {
        rd_kafka_destroy_flags(handle.pointer, destroyFlags.withLock { $0 })
    }
}

/// A queue handle (`rd_kafka_queue_t`), thread-safe like the client it belongs to.
struct KafkaQueueHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// Routes librdkafka's log lines to swift-log. librdkafka calls back from its own threads with
/// the client's opaque pointer, which points at an object conforming to this.
protocol KafkaLogSink: AnyObject, Sendable {
    var logger: Logger { get }
}

/// The C log callback shared by consumers and producers.
let kafkaLogCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void = { rk, level, facility, buffer in
    guard let rk, let opaque = rd_kafka_opaque(rk) else { return }
    let box = Unmanaged<AnyObject>.fromOpaque(opaque).takeUnretainedValue()
    guard let sink = box as? KafkaLogSink else { return }
    let text = buffer.map { String(cString: $0) } ?? ""
    let facilityName = facility.map { String(cString: $0) } ?? ""
    sink.logger.log(level: KafkaLibrary.logLevel(syslog: level), "\(text)",
                    metadata: ["librdkafka.facility": "\(facilityName)"])
}
