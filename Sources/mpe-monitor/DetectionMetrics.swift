/// Ranking metrics of a suspicion score against known-mislabeled ids: AUROC, average precision
/// and precision@k. Higher scores must mean "more suspicious".
struct DetectionMetrics {
    var auroc: Double
    var averagePrecision: Double
    var precisionAtK: Double
    var k: Int

    /// `scores`: (score, isPositive) per example. Tied scores form one block, as in
    /// scikit-learn: AUROC gives ties half credit, average precision moves through whole blocks
    /// (one threshold per distinct score), and precision@k takes the expected share of a block
    /// that straddles k. Clamped scores tie often, and any order within a tie would be invented.
    static func compute(_ scores: [(Double, Bool)]) -> DetectionMetrics {
        let positives = scores.filter(\.1).count
        let negatives = scores.count - positives
        guard positives > 0, negatives > 0 else { return DetectionMetrics(auroc: .nan, averagePrecision: .nan, precisionAtK: .nan, k: positives) }
        let descending = scores.sorted { $0.0 > $1.0 }
        var truePositives = 0, seen = 0
        var auc = 0.0, averagePrecision = 0.0, hitsAtK = 0.0
        var negativesAbove = 0
        var i = 0
        while i < descending.count {
            var j = i
            var blockPositives = 0
            while j < descending.count && descending[j].0 == descending[i].0 {
                if descending[j].1 { blockPositives += 1 }
                j += 1
            }
            let block = j - i
            let blockNegatives = block - blockPositives
            // Each positive outranks the negatives below it and half of those tied with it.
            auc += Double(blockPositives) * (Double(negatives - negativesAbove - blockNegatives) + 0.5 * Double(blockNegatives))
            if seen < positives {
                let taken = min(block, positives - seen)
                hitsAtK += Double(taken) * Double(blockPositives) / Double(block)
            }
            truePositives += blockPositives
            seen += block
            negativesAbove += blockNegatives
            averagePrecision += Double(blockPositives) / Double(positives) * Double(truePositives) / Double(seen)
            i = j
        }
        return DetectionMetrics(auroc: auc / (Double(positives) * Double(negatives)), averagePrecision: averagePrecision,
                                precisionAtK: hitsAtK / Double(positives), k: positives)
    }
}
