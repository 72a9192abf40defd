import Foundation
import OnlineMPE

// Speed of learn+score per posterior family, beside a plain-loop baseline run in the same
// process on the same data: plain SGD for linear softmax (one forward pass, one gradient
// step), the cheapest learner that still sees every example once. Release builds only:
//   swift build -c release --product mpe-bench && .build/release/mpe-bench [--fashion FILE]
// Figures are examples/second of `OnlineLearner.learn` (prequential score, update, MPE
// quantities, flags, memory and its amortized re-scoring). `--relinearization-window L` sets
// the `full` family's window (its cost grows about as L + 1).

struct Workload {
    var name: String
    var d: Int
    var k: Int
    var examples: [LabeledExample]
}

func synthetic(d: Int, k: Int, n: Int) -> Workload {
    var random = RandomSource(seed: 7)
    let centers = (0..<k).map { _ in (0..<d).map { _ in random.uniform() * 2 - 1 } }
    let examples = (0..<n).map { i -> LabeledExample in
        let y = Int(random.next() % UInt64(k))
        return LabeledExample(id: "s\(i)", x: centers[y].map { $0 + 0.5 * (random.uniform() - 0.5) }, y: Double(y))
    }
    return Workload(name: "synthetic d=\(d) K=\(k)", d: d, k: k, examples: examples)
}

func loadJSONLines(_ path: String, limit: Int) -> Workload? {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
    var examples: [LabeledExample] = []
    for line in text.split(separator: "\n").prefix(limit) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let x = object["x"] as? [NSNumber], let y = object["y"] as? NSNumber else { continue }
        examples.append(LabeledExample(id: object["id"] as? String ?? "", x: x.map(\.doubleValue), y: y.doubleValue))
    }
    guard let first = examples.first else { return nil }
    let k = Int(examples.map(\.y).max() ?? 1) + 1
    return Workload(name: "Fashion-MNIST d=\(first.x.count) K=\(k)", d: first.x.count, k: k, examples: examples)
}

/// Runs `body` over the examples repeatedly for at least `seconds`; returns examples/second
/// and the count. The clock is read every 16 examples: read after each one it was 1.6 % of the
/// learner rows' samples (`perf`) and more of the plain loop's, a cost of the measurement, not
/// of what is measured; 16 examples of the slowest row (`full`, ~200/s) overrun by 0.08 s.
func rate(_ w: Workload, seconds: Double, maxExamples: Int = .max, _ body: (LabeledExample) -> Void) -> (Double, Int) {
    let start = DispatchTime.now().uptimeNanoseconds
    var count = 0
    var elapsed = 0.0
    outer: while true {
        for e in w.examples {
            body(e)
            count += 1
            if count >= maxExamples || count % 16 == 0 {
                elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                if count >= maxExamples || elapsed >= seconds { break outer }
            }
        }
    }
    return (Double(count) / elapsed, count)
}

/// The baseline: plain SGD on linear softmax, bounds-check-free like the learner's kernels.
func baseline(_ w: Workload, seconds: Double) -> Double {
    let columns = w.d + 1
    var weights = [Double](repeating: 0, count: w.k * columns)
    var f = [Double](repeating: 0, count: w.k)
    var sink = 0.0
    let (r, _) = rate(w, seconds: seconds) { e in
        weights.withUnsafeMutableBufferPointer { wp in
            e.x.withUnsafeBufferPointer { x in
                var peak = -Double.infinity
                for c in 0..<w.k {
                    var s = wp[c * columns + w.d]
                    for j in 0..<w.d { s += wp[c * columns + j] * x[j] }
                    f[c] = s
                    peak = max(peak, s)
                }
                var total = 0.0
                for c in 0..<w.k { f[c] = exp(f[c] - peak); total += f[c] }
                for c in 0..<w.k {
                    let g = 0.01 * (f[c] / total - (c == Int(e.y) ? 1 : 0))
                    for j in 0..<w.d { wp[c * columns + j] -= g * x[j] }
                    wp[c * columns + w.d] -= g
                }
                sink += f[0]
            }
        }
    }
    if sink.isNaN { print("") }
    return r
}

/// A second baseline, the floor of the diagonal family with the corrected perturbation: only
/// the divisions it cannot avoid, one per weight for the update's `1/S` and one per weight for
/// each re-scored example's `x²/S'` (`passes` = 1 + memory/interval of them per example), in
/// vectors of the learner's width. No learner can be faster than this loop on the same core;
/// it bounds what the diagonal rows can reach.
func divisionFloor(_ w: Workload, passes: Int, seconds: Double) -> Double {
    let n = w.k * (w.d + 1)
    let s = (0..<n).map { 1 + Double($0 % 7) }
    var sink = SIMD4<Double>(repeating: 0)
    let (r, _) = rate(w, seconds: seconds) { e in
        s.withUnsafeBufferPointer { sp in
            e.x.withUnsafeBufferPointer { xp in
                guard let base = sp.baseAddress, let first = xp.first else { return }
                let raw = UnsafeRawPointer(base)
                let x4 = SIMD4<Double>(repeating: first * first)
                for _ in 0..<passes {
                    var j = 0
                    while j + 4 <= n {
                        sink += x4 / (raw.loadUnaligned(fromByteOffset: j * 8, as: SIMD4<Double>.self) + x4)
                        j += 4
                    }
                }
            }
        }
    }
    if sink.sum().isNaN { print("") }
    return r
}

let arguments = CommandLine.arguments
// `--dimension D --classes K` change the synthetic workload (default d = 64, K = 10).
var workloads = [synthetic(d: option("--dimension").flatMap(Int.init) ?? 64, k: option("--classes").flatMap(Int.init) ?? 10, n: 20_000)]
if let path = option("--fashion") {
    if let w = loadJSONLines(path, limit: 20_000) { workloads.append(w) } else { print("cannot read \(path)") }
}
func option(_ name: String) -> String? {
    guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count else { return nil }
    return arguments[i + 1]
}
let seconds = option("--seconds").flatMap(Double.init) ?? 3.0
/// `--count N`: exactly N examples per row whatever the time (for instruction counts under
/// `valgrind --tool=callgrind`, which are repeatable where seconds on a shared machine are not).
let fixedCount = option("--count").flatMap(Int.init)
/// Run only the family rows whose name is this (e.g. `diagonal/ggn`), for profiling.
let only = option("--only")
/// The `full` family's relinearization window L (default: the learner's default).
let window = option("--relinearization-window").flatMap(Int.init) ?? LearnerConfiguration.defaultRelinearizationWindow
print("learn+score throughput (release build, one core, \(seconds) s per row, full with relinearization window \(window)); ratio = family / plain SGD loop")
print("workload                       family          examples/s    vs baseline")
for w in workloads {
    let base = only == nil ? baseline(w, seconds: seconds) : .nan
    print("\(w.name.padding(toLength: 30, withPad: " ", startingAt: 0)) plain SGD loop  \(String(format: "%12.0f", base))    1.00")
    if only == nil {
        let defaults = LearnerConfiguration(model: .softmax, inputDimension: w.d, classes: w.k).memory
        let passes = 1 + defaults.capacity / defaults.rescoreInterval
        let floor = divisionFloor(w, passes: passes, seconds: seconds)
        print("\(w.name.padding(toLength: 30, withPad: " ", startingAt: 0)) divisions only  \(String(format: "%12.0f", floor))    \(String(format: "%.2f", floor / base))   (\(passes) x d·K divisions per example: the corrected diagonal learner's floor)")
        let one = divisionFloor(w, passes: 1, seconds: seconds)
        print("\(w.name.padding(toLength: 30, withPad: " ", startingAt: 0)) divisions only  \(String(format: "%12.0f", one))    \(String(format: "%.2f", one / base))   (1 x d·K: the floor without re-scoring)")
    }
    // "no re-score": the memory is never re-scored, which separates the per-example cost
    // (score, update, MPE quantities, flags) from the memory's amortized re-scoring cost;
    // "ggn no calib.": re-scored, without the forecast calibration (`calibration_samples: 0`).
    let families: [(String, PosteriorFamilyKind, CurvatureEstimatorKind, PerturbationKind, Bool, Bool)] = [
        ("diagonal/ggn", .diagonal, .ggn, .corrected, true, true), ("diagonal/ggn 1st", .diagonal, .ggn, .firstOrder, true, true),
        ("ggn no calib.", .diagonal, .ggn, .corrected, true, false), ("ggn no re-score", .diagonal, .ggn, .corrected, false, true),
        ("diagonal/ivon", .diagonal, .ivon, .corrected, true, true), ("full", .full, .ggn, .corrected, true, true),
    ]
    for (name, family, curvature, perturbation, rescoring, calibrated) in families where only == nil || only == name {
        var c = LearnerConfiguration(model: .softmax, inputDimension: w.d, classes: w.k, family: family, curvature: curvature,
                                     perturbation: perturbation)
        if !rescoring { c.memory.rescoreInterval = Int.max }
        if !calibrated { c.memory.calibrationSamples = 0 }
        c.relinearizationWindow = window
        if family == .full && c.parameterCount > 20_000 {
            print("\(w.name.padding(toLength: 30, withPad: " ", startingAt: 0)) \(name.padding(toLength: 15, withPad: " ", startingAt: 0))  not run: full keeps a (d·K)² = \(c.parameterCount * c.parameterCount * 8 / 1_000_000) MB covariance")
            continue
        }
        guard var learner = try? OnlineLearner(configuration: c) else { continue }
        var flags = 0
        let (r, n) = rate(w, seconds: fixedCount == nil ? seconds : .infinity, maxExamples: fixedCount ?? (family == .full ? 3000 : .max)) { e in
            if let report = try? learner.learn(e) { flags += report.flags.count }
        }
        print("\(w.name.padding(toLength: 30, withPad: " ", startingAt: 0)) \(name.padding(toLength: 15, withPad: " ", startingAt: 0))  \(String(format: "%12.0f", r))    \(String(format: "%.2f", r / base))   (\(n) examples, \(flags) flags)")
    }
}
