/// Ranking metrics of a suspicion score against known-mislabeled ids: AUROC, average precision
/// and precision@k. Higher scores must mean "more suspicious".
struct DetectionMetrics {
    var auroc: Double
    var averagePrecision: Double
    var precisionAtK: Double
    var k: Int

    /// `scores`: (score, isPositive) per example. Ties share the average rank (AUROC) and are
    /// broken pessimistically for AP and precision@k (positives last among equals).
    static func compute(_ scores: [(Double, Bool)]) -> DetectionMetrics {
        let positives = scores.filter(\.1).count
        let negatives = scores.count - positives
        guard positives > 0, negatives > 0 else { return DetectionMetrics(auroc: .nan, averagePrecision: .nan, precisionAtK: .nan, k: positives) }
        let ascending = scores.sorted { $0.0 < $1.0 }
        var rankSum = 0.0
        var i = 0
        while i < ascending.count {
            var j = i
            while j + 1 < ascending.count && ascending[j + 1].0 == ascending[i].0 { j += 1 }
            let rank = Double(i + j) / 2 + 1
            for t in i...j where ascending[t].1 { rankSum += rank }
            i = j + 1
        }
        let auroc = (rankSum - Double(positives) * Double(positives + 1) / 2) / (Double(positives) * Double(negatives))
        let descending = scores.sorted { $0.0 != $1.0 ? $0.0 > $1.0 : (!$0.1 && $1.1) }
        var hits = 0
        var precisionSum = 0.0
        var atK = 0
        for (index, entry) in descending.enumerated() where entry.1 || index < positives {
            if entry.1 {
                hits += 1
                precisionSum += Double(hits) / Double(index + 1)
            }
            if index == positives - 1 { atK = hits }
        }
        return DetectionMetrics(auroc: auroc, averagePrecision: precisionSum / Double(positives),
                                precisionAtK: Double(atK) / Double(positives), k: positives)
    }
}
