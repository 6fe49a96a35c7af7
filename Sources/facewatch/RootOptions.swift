import ArgumentParser
import FaceClient
import FaceDaemon
import FaceRoot

/// `--root` and `--config`: which facewatch root a client command talks about. Resolved exactly like
/// `serve` resolves them, so a client finds the paths the daemon uses.
struct RootOptions: ParsableArguments {
    @Option(help: "The state root (default: the config file's root, $FACEWATCH_ROOT, or ./var).")
    var root: String?

    @Option(help: "A config file in `key = value` format (default: $FACEWATCH_CONFIG if set).")
    var config: String?

    /// The configuration these options name. Exits with status 1 on an invalid config file.
    func configuration() throws -> DaemonConfiguration {
        var flags: DaemonConfiguration.Flags = [:]
        if let root { flags["root"] = root }
        do {
            return try DaemonConfiguration.resolve(configFile: config, flags: flags)
        } catch {
            printError("facewatch: \(error)")
            throw ExitCode(1)
        }
    }

    /// Read-only access to the ledger of that root. Exits with status 1 when there is none.
    func queries() throws -> Queries {
        let configuration = try configuration()
        do {
            return try Queries(configuration: configuration)
        } catch {
            printError("facewatch: \(error)")
            throw ExitCode(1)
        }
    }
}
