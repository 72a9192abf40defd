/// The bounded memory of recent examples (spec §4): a window of the most recent `capacity`
/// examples or a uniform reservoir over the whole stream, with what the learner knows of each.
///
/// Stored column-wise in flat arrays so that a memory of thousands of examples is a handful of
/// allocations and re-scoring walks contiguous inputs.
struct ExampleMemory: Sendable {
    let capacity: Int
    let columns: Int
    let policy: MemoryPolicy
    /// Examples offered so far (also the reservoir's denominator).
    private(set) var offered: Int = 0
    private(set) var count: Int = 0
    var ids: [String]
    /// x̄ (bias appended), `capacity × columns`.
    var inputs: [Double]
    var labels: [Double]
    var weights: [Double]
    var arrivalSteps: [Int]
    var arrivalNLL: [Double]
    var arrivalError: [Double]
    var latest: [Sensitivities]
    var curvatureSum: [Double]
    var curvatureCount: [Int]
    /// Bit set of `FlagKind`s already raised for the example in this slot.
    var raised: [Int]

    init(capacity: Int, columns: Int, policy: MemoryPolicy) {
        self.capacity = capacity
        self.columns = columns
        self.policy = policy
        ids = .init(repeating: "", count: capacity)
        inputs = .init(repeating: 0, count: capacity * columns)
        labels = .init(repeating: 0, count: capacity)
        weights = .init(repeating: 0, count: capacity)
        arrivalSteps = .init(repeating: 0, count: capacity)
        arrivalNLL = .init(repeating: 0, count: capacity)
        arrivalError = .init(repeating: 0, count: capacity)
        latest = .init(repeating: Sensitivities(), count: capacity)
        curvatureSum = .init(repeating: 0, count: capacity)
        curvatureCount = .init(repeating: 0, count: capacity)
        raised = .init(repeating: 0, count: capacity)
    }

    /// Which slot a newly offered example goes to, or nil if the reservoir passes it over.
    mutating func slotForNext(random: inout RandomSource) -> Int? {
        defer { offered += 1 }
        switch policy {
        case .window:
            count = min(count + 1, capacity)
            return offered % capacity
        case .reservoir:
            if offered < capacity {
                count += 1
                return offered
            }
            let j = Int(random.next() % UInt64(offered + 1))
            return j < capacity ? j : nil
        }
    }

    mutating func store(
        slot: Int, id: String, input: UnsafePointer<Double>, label: Double, weight: Double, step: Int,
        prequential: PrequentialScore, scores: Sensitivities, raised flags: Int
    ) {
        ids[slot] = id
        inputs.withMutableStart { (base: UnsafeMutablePointer<Double>) in
            (base + slot * columns).update(from: input, count: columns)
        }
        labels[slot] = label
        weights[slot] = weight
        arrivalSteps[slot] = step
        arrivalNLL[slot] = prequential.nll
        arrivalError[slot] = prequential.error
        latest[slot] = scores
        curvatureSum[slot] = scores.curvature
        curvatureCount[slot] = 1
        raised[slot] = flags
    }

    func write(to w: inout SnapshotWriter) {
        w.write(offered)
        w.write(count)
        for id in ids { w.write(id) }
        w.write(inputs)
        w.write(labels)
        w.write(weights)
        w.write(arrivalSteps)
        w.write(arrivalNLL)
        w.write(arrivalError)
        for s in latest { s.write(to: &w) }
        w.write(curvatureSum)
        w.write(curvatureCount)
        w.write(raised)
    }

    init(capacity: Int, columns: Int, policy: MemoryPolicy, from r: inout SnapshotReader) throws(SnapshotError) {
        self.init(capacity: capacity, columns: columns, policy: policy)
        offered = try r.readInt(what: "memory offered")
        count = try r.readInt(what: "memory count")
        guard offered >= 0, count >= 0, count <= capacity, count <= offered else {
            throw .invalid(what: "memory holds \(count) of \(offered) offered with capacity \(capacity)")
        }
        for i in 0..<capacity { ids[i] = try r.readString(what: "memory id") }
        inputs = try r.readDoubles(count: capacity * columns, what: "memory inputs")
        labels = try r.readDoubles(count: capacity, what: "memory labels")
        weights = try r.readDoubles(count: capacity, what: "memory weights")
        arrivalSteps = try r.readInts(count: capacity, what: "memory steps")
        arrivalNLL = try r.readDoubles(count: capacity, what: "memory NLL")
        arrivalError = try r.readDoubles(count: capacity, what: "memory error")
        for i in 0..<capacity { latest[i] = try Sensitivities(from: &r) }
        curvatureSum = try r.readDoubles(count: capacity, what: "memory curvature")
        curvatureCount = try r.readInts(count: capacity, what: "memory curvature count")
        raised = try r.readInts(count: capacity, what: "memory flags")
    }
}
