import ArgumentParser

/// The `mpe-monitor` command: watches labeled data and reports which examples look mislabeled
/// or memorized and how well the model being learned will generalize.
@main
struct MPEMonitor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mpe-monitor",
        abstract: "Flag mislabeled and memorized examples in a stream and forecast generalization with the Memory-Perturbation Equation.",
        version: "0.1.0",
        subcommands: [MonitorCommand.self, ReplayCommand.self, ProduceCommand.self, QueryCommand.self, PruneCommand.self, BackupCommand.self],
        defaultSubcommand: MonitorCommand.self
    )
}
