/// A `Duration` in seconds, for figures people read and gauges: the program had written the
/// same sum of its two components out in five places.
extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
