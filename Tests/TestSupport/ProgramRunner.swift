import Foundation
import Subprocess

#if canImport(System)
import System
#else
import SystemPackage
#endif

/// What a program the tests ran printed, and how it ended.
public struct ProgramOutput: Sendable {
    /// The exit status; 128 + the signal's number when a signal ended it (as a shell reports it).
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// A program that did not finish within its time; it was killed.
public struct ProgramTimedOut: Error, CustomStringConvertible {
    public var command: String
    public var timeout: Duration
    public var description: String { "\(command) did not finish in \(timeout); killed" }
}

/// The environment a program runs in.
public enum ProgramEnvironment: Sendable {
    /// This process's environment.
    case inherited
    /// This process's environment with these variables set.
    case inheritedUpdating([String: String])
    /// Exactly these variables.
    case exactly([String: String])
}

/// Runs `executable` (a path) with `arguments` to its end, with no standard input, capturing its
/// standard output and error (both drained at once, so a chatty child never stalls on a full pipe).
/// The child starts with no signal blocked, as from a shell, whatever the calling thread blocks.
///
/// - Throws: `ProgramTimedOut` after `timeout` (the child is killed first); the launcher's error when
///   the program cannot be started or prints more than 64 MiB.
public func runProgram(
    _ executable: String, _ arguments: [String], environment: ProgramEnvironment = .inherited,
    workingDirectory: String? = nil, timeout: Duration = .seconds(120)
) async throws -> ProgramOutput {
    let command = ([executable] + arguments).joined(separator: " ")
    let subprocessEnvironment: Subprocess.Environment
    switch environment {
    case .inherited:
        subprocessEnvironment = .inherit
    case .inheritedUpdating(let variables):
        subprocessEnvironment = .inherit.updating(keyed(variables).mapValues { Optional($0) })
    case .exactly(let variables):
        subprocessEnvironment = .custom(keyed(variables))
    }
    let limit = 64 << 20
    return try await withThrowingTaskGroup(of: ProgramOutput?.self) { group in
        group.addTask {
            let result = try await Subprocess.run(
                .path(FilePath(executable)), arguments: Arguments(arguments), environment: subprocessEnvironment,
                workingDirectory: workingDirectory.map { FilePath($0) }, input: .none,
                output: .string(limit: limit), error: .string(limit: limit))
            let status: Int32
            switch result.terminationStatus {
            case .exited(let code): status = Int32(code)
            case .signaled(let signal): status = 128 + Int32(signal)
            }
            return ProgramOutput(status: status, stdout: result.standardOutput, stderr: result.standardError)
        }
        // The deadline: cancelling the run makes Subprocess kill the child.
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        let first = try await group.next() ?? nil
        group.cancelAll()
        guard let first else { throw ProgramTimedOut(command: command, timeout: timeout) }
        return first
    }
}

private func keyed(_ variables: [String: String]) -> [Subprocess.Environment.Key: String] {
    var keyed: [Subprocess.Environment.Key: String] = [:]
    for (name, value) in variables {
        if let key = Subprocess.Environment.Key(rawValue: name) { keyed[key] = value }
    }
    return keyed
}

/// The path of a program found on `$PATH` or in the usual system directories, if any.
public func programPath(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    for directory in path.split(separator: ":").map(String.init) + [
        "/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin",
    ] {
        let candidate = directory + "/" + name
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}
