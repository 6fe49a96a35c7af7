import Foundation

/// At most one LMDB environment per database directory in this process.
///
/// lmdb.h, Caveats: "Do not have open an LMDB database twice in the same process at the same time":
/// POSIX record locks belong to the process, so a second handle would re-initialise the lock table under
/// the first, and closing either would drop the other's locks. A second `Ledger` on the same directory
/// therefore shares the first one's environment (a read-only `Ledger` may share a writable environment;
/// the reverse is refused). Opening waits while an environment for that directory is still closing.
final class EnvironmentRegistry: @unchecked Sendable {
    // @unchecked: `entries` is only read and written with `condition` locked.
    static let shared = EnvironmentRegistry()

    /// Identifies a directory independently of the path used to reach it.
    struct DirectoryIdentity: Hashable, Sendable {
        var device: UInt64
        var inode: UInt64
    }

    private struct Entry {
        weak var environment: LMDBEnvironment?
    }

    private let condition = NSCondition()
    private var entries: [DirectoryIdentity: Entry] = [:]

    /// The open environment for `directory`, opening it with `open` if there is none.
    func environment(
        for identity: DirectoryIdentity, readOnly: Bool, directory: String,
        open: () throws(LedgerError) -> LMDBEnvironment
    ) throws(LedgerError) -> LMDBEnvironment {
        condition.lock()
        while let entry = entries[identity] {
            if let existing = entry.environment {
                // Unlock before `existing` can be released: if it is the last reference, its deinit
                // takes this lock.
                condition.unlock()
                if existing.readOnly && !readOnly {
                    throw LedgerError(
                        .alreadyOpen,
                        "the ledger at \(directory) is already open read-only in this process; "
                            + "it cannot also be opened for writing until that Ledger is released")
                }
                return existing
            }
            // Its last reference is gone and it is closing: wait for `closed`.
            condition.wait()
        }
        let environment: LMDBEnvironment
        do throws(LedgerError) {
            environment = try open()
        } catch {
            condition.unlock()
            throw error
        }
        entries[identity] = Entry(environment: environment)
        condition.unlock()
        return environment
    }

    /// Runs `close` (mdb_env_close) with the registry locked, then forgets the directory.
    func closed(_ identity: DirectoryIdentity, _ close: () -> Void) {
        condition.lock()
        close()
        entries[identity] = nil
        condition.broadcast()
        condition.unlock()
    }
}
