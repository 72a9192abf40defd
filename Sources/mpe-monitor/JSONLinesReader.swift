import Glibc

/// Reads a file line by line into a reused buffer with `getline`, so that replaying millions of
/// lines costs no allocation per line (Foundation's line APIs copy every line into a String).
struct JSONLinesReader {
    struct OpenError: Error, CustomStringConvertible {
        var path: String
        var reason: String
        var description: String { "cannot open \(path): \(reason)" }
    }

    private let file: UnsafeMutablePointer<FILE>
    private var buffer: UnsafeMutablePointer<CChar>?
    private var capacity = 0
    /// 1-based number of the line last read.
    private(set) var lineNumber = 0

    init(path: String) throws {
        guard let f = fopen(path, "r") else {
            throw OpenError(path: path, reason: String(cString: strerror(errno)))
        }
        file = f
    }

    /// Calls `body` with the next non-empty line (without its newline) and its 1-based line
    /// number; false at end of file.
    mutating func next(_ body: (UnsafeRawBufferPointer, Int) throws -> Void) rethrows -> Bool {
        while true {
            let n = getline(&buffer, &capacity, file)
            guard n >= 0, let line = buffer else { return false }
            lineNumber += 1
            var length = n
            while length > 0, line[length - 1] == 10 || line[length - 1] == 13 { length -= 1 }
            if length == 0 { continue }
            try body(UnsafeRawBufferPointer(start: line, count: length), lineNumber)
            return true
        }
    }

    func close() {
        fclose(file)
        free(buffer)
    }
}
