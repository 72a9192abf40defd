/// A command that could not do its work for a reason that is not how it was called (a file
/// that is missing or unreadable, a log that cannot be pruned, input with nothing to learn):
/// printed as `Error: …` and exit status 1. `ValidationError` is for the command line itself,
/// and ArgumentParser follows it with the usage text, which only misleads here.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) { self.description = description }
}
