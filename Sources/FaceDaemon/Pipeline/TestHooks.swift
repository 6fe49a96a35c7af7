import Foundation

/// Hooks that let the end-to-end tests reproduce what cannot be produced on demand. Compiled into
/// debug builds only (the tests run the debug binary); a release build has none of them.
enum TestHooks {
    #if DEBUG
    /// `FACEWATCH_TEST_POISON=text`: encoding a file whose inbox name contains `text` aborts the
    /// process, like an image that crashes the engine would.
    private static let poison = ProcessInfo.processInfo.environment["FACEWATCH_TEST_POISON"].flatMap {
        $0.isEmpty ? nil : $0
    }
    #endif

    /// Aborts the process if `name` is the test's poison (debug builds only).
    static func poisonIfAsked(name: String) {
        #if DEBUG
        if let poison, name.contains(poison) { abort() }
        #endif
    }
}
