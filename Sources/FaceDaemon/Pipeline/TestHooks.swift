import FaceCore
import FaceEncoding
import FaceRoot
import Foundation
import Synchronization

/// Hooks that let the end-to-end tests reproduce what cannot be produced on demand. Compiled into
/// debug builds only (the tests run the debug binary); a release build has none of them.
enum TestHooks {
    #if DEBUG
    private static let environment = ProcessInfo.processInfo.environment

    /// `FACEWATCH_TEST_POISON=text`: encoding a file whose inbox name contains `text` aborts the
    /// process, like an image that crashes the engine would.
    private static let poison = environment["FACEWATCH_TEST_POISON"].flatMap { $0.isEmpty ? nil : $0 }

    /// `FACEWATCH_TEST_PAUSE_INGEST=text` with `FACEWATCH_TEST_PAUSE_GATE=path`: the first batch
    /// holding a name that contains `text` waits, after the inbox reported it and before it is
    /// ingested, until `path` exists; it creates `path.paused` when it starts waiting. A test swaps
    /// directories meanwhile.
    private static let pauseText = environment["FACEWATCH_TEST_PAUSE_INGEST"].flatMap { $0.isEmpty ? nil : $0 }
    private static let pauseGate = environment["FACEWATCH_TEST_PAUSE_GATE"]
    private static let paused = Mutex(false)

    /// `FACEWATCH_TEST_PAUSE_READ=text` with `FACEWATCH_TEST_PAUSE_GATE=path`: the first read of a
    /// file whose name contains `text` waits, between reading its bytes and checking that the file
    /// did not change meanwhile, until `path` exists (creating `path.paused` first). A test writes
    /// to the file meanwhile.
    private static let readPauseText = environment["FACEWATCH_TEST_PAUSE_READ"].flatMap { $0.isEmpty ? nil : $0 }
    private static let readPaused = Mutex(false)

    /// `FACEWATCH_TEST_RESCAN_MS=n`: the inbox's periodic full scan every n ms instead of every minute.
    private static let rescanMilliseconds = environment["FACEWATCH_TEST_RESCAN_MS"].flatMap { Int($0) }

    /// `FACEWATCH_TEST_RETRY_MS=n`: the transient errors' backoff counted in units of n ms instead of
    /// seconds (n, 2n, 4n... ms, at most 60n), so a test sees every try of a file without waiting minutes.
    private static let retryMilliseconds = environment["FACEWATCH_TEST_RETRY_MS"].flatMap { Int($0) }

    /// `FACEWATCH_TEST_EIO=text:count`: the first `count` reads of each file whose inbox name
    /// contains `text` fail with `EIO`, like a disk or network hiccup would.
    private static let eio: (text: String, count: Int)? = {
        guard let value = environment["FACEWATCH_TEST_EIO"],
            let colon = value.lastIndex(of: ":"), let count = Int(value[value.index(after: colon)...])
        else { return nil }
        return (String(value[..<colon]), count)
    }()
    private static let eioCounts = Mutex<[String: Int]>([:])

    /// `FACEWATCH_TEST_HOLD_CLAIMED=text` with `FACEWATCH_TEST_PAUSE_GATE=path`: every file whose
    /// name contains `text` waits after its attempt began (its claim on a shared ledger is
    /// committed) until `path` exists, creating `path.<id>.held` first. A test kills the daemon
    /// while it holds those claims.
    private static let holdText = environment["FACEWATCH_TEST_HOLD_CLAIMED"].flatMap { $0.isEmpty ? nil : $0 }

    /// `FACEWATCH_TEST_PAUSE_RECORD=text` with `FACEWATCH_TEST_PAUSE_GATE=path`: a batch holding a
    /// name that contains `text` waits after its files are in the store and before their records
    /// are committed, until `path` exists (creating `path.paused` first). A test kills the daemon
    /// there: its intents are all that names those files.
    private static let recordPauseText = environment["FACEWATCH_TEST_PAUSE_RECORD"].flatMap { $0.isEmpty ? nil : $0 }
    /// `FACEWATCH_TEST_FAIL_CLAIMED_UNLINK=text`: the first unlink of a claimed file (a copy into
    /// the store, `Store`) whose inbox name contains `text` fails with `EIO`, after the copy is made.
    private static let failUnlinkText = environment["FACEWATCH_TEST_FAIL_CLAIMED_UNLINK"].flatMap {
        $0.isEmpty ? nil : $0
    }
    private static let failedUnlinks = Mutex<Set<String>>([])

    /// `FACEWATCH_TEST_ENOMEM=text`: every encode of a file whose inbox name contains `text` fails
    /// as the decoder's failed allocation does, like a file that always makes a library run out of
    /// memory would.
    private static let outOfMemoryText = environment["FACEWATCH_TEST_ENOMEM"].flatMap { $0.isEmpty ? nil : $0 }
    #endif

    /// The allocation failure the test asked for the encode of `name` (debug builds only).
    static func injectedOutOfMemory(name: String) -> Result<EncodedImage, Failure>? {
        #if DEBUG
        if let outOfMemoryText, name.contains(outOfMemoryText) {
            return .failure(Failure(.ioError, "out of memory: cannot allocate the image (test)", systemError: ENOMEM))
        }
        #endif
        return nil
    }

    /// Throws the `EIO` the test asked for the unlink of `name`'s claimed file (debug builds only).
    static func failClaimedUnlinkIfAsked(_ name: String) throws(FileSystemError) {
        #if DEBUG
        guard let failUnlinkText, name.contains(failUnlinkText) else { return }
        if failedUnlinks.withLock({ $0.insert(name).inserted }) {
            throw FileSystemError(operation: "unlink (test)", path: name, code: EIO)
        }
        #endif
    }

    /// Aborts the process if `name` is the test's poison (debug builds only).
    static func poisonIfAsked(name: String) {
        #if DEBUG
        if let poison, name.contains(poison) { abort() }
        #endif
    }

    /// Waits at the test's gate if one of `names` is the one it pauses on (debug builds only;
    /// blocking: call it off the cooperative pool).
    static func pauseBeforeIngestIfAsked(names: [String]) {
        #if DEBUG
        guard let pauseText, let pauseGate, names.contains(where: { $0.contains(pauseText) }) else { return }
        guard
            paused.withLock({ done in
                defer { done = true }
                return !done
            })
        else { return }
        waitAtGate(pauseGate)
        #endif
    }

    /// Waits at the test's gate before a batch's records are committed, if the test asks (debug
    /// builds only; blocking: called on the ingest thread).
    static func pauseBeforeRecordIfAsked(names: [String]) {
        #if DEBUG
        guard let recordPauseText, let pauseGate, names.contains(where: { $0.contains(recordPauseText) }) else {
            return
        }
        waitAtGate(pauseGate)
        #endif
    }

    /// Waits at the test's gate during the first read of the file it names (debug builds only;
    /// blocking: called on an encoder worker).
    static func pauseDuringReadIfAsked(name: String) {
        #if DEBUG
        guard let readPauseText, let pauseGate, name.contains(readPauseText) else { return }
        guard
            readPaused.withLock({ done in
                defer { done = true }
                return !done
            })
        else { return }
        waitAtGate(pauseGate)
        #endif
    }

    /// Holds a claimed file until the test's gate opens, if the test asks (debug builds only;
    /// blocking: called on an encoder worker).
    static func holdClaimIfAsked(id: UUID, name: String) {
        #if DEBUG
        guard let holdText, let pauseGate, name.contains(holdText) else { return }
        _ = FileManager.default.createFile(atPath: pauseGate + ".\(id.uuidString.lowercased()).held", contents: nil)
        waitAtGate(pauseGate)
        #endif
    }

    #if DEBUG
    /// Creates `gate.paused`, then waits until `gate` exists (at most two minutes).
    private static func waitAtGate(_ gate: String) {
        FileManager.default.createFile(atPath: gate + ".paused", contents: nil)
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: gate), Date() < deadline {
            usleep(10_000)
        }
    }
    #endif

    /// The interval of the inbox's periodic full scan: a minute, or the test's.
    static var rescanInterval: Duration {
        #if DEBUG
        if let rescanMilliseconds { return .milliseconds(rescanMilliseconds) }
        #endif
        return .seconds(60)
    }

    /// What one second of the transient errors' backoff lasts, in seconds: 1, or the test's.
    static var retryTimeScale: Double {
        #if DEBUG
        if let retryMilliseconds { return Double(retryMilliseconds) / 1000 }
        #endif
        return 1
    }

    /// The `EIO` failure the test asked for `name`, if any (debug builds only).
    static func injectedReadFailure(name: String) -> Failure? {
        #if DEBUG
        guard let eio, name.contains(eio.text) else { return nil }
        let failing = eioCounts.withLock { counts in
            counts[name, default: 0] += 1
            return counts[name]! <= eio.count
        }
        if failing { return Failure(.ioError, "cannot read \(name): Input/output error (test)", systemError: EIO) }
        #endif
        return nil
    }
}
