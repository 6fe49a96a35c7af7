/// Who decodes in this process at a time, for crash attribution: a fault in a decoder or the engine
/// takes the whole process down, so the thing being decoded can be charged with it only when it was
/// the only thing decoding. Such a run (a suspect record, a known picture that was being encoded
/// when the process died) holds the gate `alone`; every other decode (records encoded side by side,
/// known pictures, the report's thumbnails) holds it `beside` the others. Entries are admitted in
/// the order they came: one waiting to run alone holds back those after it, so it is not starved.
///
/// One per process (`shared`), since a crash ends the process and everything decoding in it.
public actor DecodeGate {
    /// The process's gate.
    public static let shared = DecodeGate()

    /// How a decode holds the gate.
    public enum Mode: Sendable {
        /// Nothing else decodes meanwhile.
        case alone
        /// Others may decode meanwhile (none alone).
        case beside
    }

    private var besideCount = 0
    private var aloneHeld = false
    private var waiting: [(mode: Mode, continuation: CheckedContinuation<Void, Never>)] = []

    /// Entries waiting to be admitted.
    var queued: Int { waiting.count }

    /// Enters the gate now if it can (and nobody waits before it); false otherwise.
    public func tryEnter(_ mode: Mode) -> Bool {
        guard waiting.isEmpty, admits(mode) else { return false }
        take(mode)
        return true
    }

    /// Enters the gate, waiting as long as it takes.
    public func enter(_ mode: Mode) async {
        if tryEnter(mode) { return }
        await withCheckedContinuation { waiting.append((mode, $0)) }
    }

    /// Leaves the gate entered with `mode`.
    public func leave(_ mode: Mode) {
        switch mode {
        case .alone: aloneHeld = false
        case .beside: besideCount -= 1
        }
        while let first = waiting.first, admits(first.mode) {
            waiting.removeFirst()
            take(first.mode)
            first.continuation.resume()
        }
    }

    private func admits(_ mode: Mode) -> Bool {
        switch mode {
        case .alone: !aloneHeld && besideCount == 0
        case .beside: !aloneHeld
        }
    }

    private func take(_ mode: Mode) {
        switch mode {
        case .alone: aloneHeld = true
        case .beside: besideCount += 1
        }
    }
}
