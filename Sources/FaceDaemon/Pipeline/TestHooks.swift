import FaceCore
import Foundation
import Synchronization

/// Hooks that let the end-to-end tests reproduce what cannot be produced on demand. Compiled into
/// debug builds only (the tests run the debug binary); a release build has none of them.
enum TestHooks {
    #if DEBUG
    /// `FACEWATCH_TEST_POISON=text`: encoding a file whose inbox name contains `text` aborts the
    /// process, like an image that crashes the engine would.
    private static let poison = ProcessInfo.processInfo.environment["FACEWATCH_TEST_POISON"].flatMap {
        $0.isEmpty ? nil : $0
    }

    /// `FACEWATCH_TEST_EIO=text:count`: the first `count` reads of each file whose inbox name
    /// contains `text` fail with `EIO`, like a disk or network hiccup would.
    private static let eio: (text: String, count: Int)? = {
        guard let value = ProcessInfo.processInfo.environment["FACEWATCH_TEST_EIO"],
            let colon = value.lastIndex(of: ":"), let count = Int(value[value.index(after: colon)...])
        else { return nil }
        return (String(value[..<colon]), count)
    }()
    private static let eioCounts = Mutex<[String: Int]>([:])
    #endif

    /// Aborts the process if `name` is the test's poison (debug builds only).
    static func poisonIfAsked(name: String) {
        #if DEBUG
        if let poison, name.contains(poison) { abort() }
        #endif
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
