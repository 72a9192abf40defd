/// A labeled example as it arrives on the wire, decoded but not yet interpreted by any model.
///
/// The label is kept as a number: class labels given as strings are mapped to their index in the
/// configured label list by the decoder, and whether the number must be an integer class index or
/// may be a real target is decided by the program that knows the model.
public struct ExampleMessage: Sendable, Equatable {
    /// The sender's identifier; numeric ids are kept as the literal text they were sent as.
    public var id: String
    /// The input features, without the bias feature (the model appends that).
    public var x: [Double]
    /// Class index (from an integer or a mapped string) or real-valued target.
    public var y: Double
    /// Optional per-example weight; 1 when absent.
    public var weight: Double
    /// Optional sender timestamp (seconds or whatever unit the sender uses), carried through.
    public var timestamp: Double?

    public init(id: String, x: [Double], y: Double, weight: Double = 1, timestamp: Double? = nil) {
        self.id = id
        self.x = x
        self.y = y
        self.weight = weight
        self.timestamp = timestamp
    }
}
