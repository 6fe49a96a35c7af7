import FaceCore
import Dispatch
import FaceRoot
import Glibc
import Logging

// Settling: a file is reported once it was closed after writing, or was quiet for `settleTime`.

extension Inbox {
    func settle(_ relative: String, _ status: FileStatus, _ arrival: InboxEntry.Arrival) {
        if case .reported = files[relative] { return }
        nextGeneration += 1
        let generation = nextGeneration
        files[relative] = .settling(status, generation: generation, arrival: arrival)
        after(settleTime) { $0.settleTimerFired(relative, generation: generation) }
    }

    func settleTimerFired(_ relative: String, generation: UInt64) {
        guard lifecycle == .running, case .settling(let before, let current, let arrival) = files[relative],
            current == generation
        else { return }
        guard let now = status(of: relative) else {
            files[relative] = nil  // gone meanwhile
            return
        }
        if now == before || !now.kind.isRegular {
            report(relative, now, arrival)
        } else {
            files[relative] = nil
            settle(relative, now, arrival)  // changed: wait again
        }
    }

    /// Runs `work` on the queue once `delay` has passed on ``clock``, unless the inbox was released
    /// meanwhile. Every wait of the inbox goes through here, so a test's clock drives all of them.
    func after(_ delay: Duration, _ work: @escaping @Sendable (Inbox) -> Void) {
        let clock = self.clock
        Task { [weak self] in
            try? await clock.sleep(for: delay)
            guard let self else { return }
            queue.async { work(self) }
        }
    }

    func reportUnlessKnown(_ relative: String, _ status: FileStatus, _ arrival: InboxEntry.Arrival) {
        if case .reported = files[relative] { return }
        report(relative, status, arrival)
    }

    func report(_ relative: String, _ status: FileStatus, _ arrival: InboxEntry.Arrival) {
        if arrival != .found { seenDone[relative] = (status, arrival) }
        nextSerial += 1
        files[relative] = .reported(serial: nextSerial)
        counters.reported += 1
        continuation.yield(
            InboxEntry(
                path: absolute(relative), name: relative, kind: status.kind, size: status.size, serial: nextSerial,
                arrival: arrival))
    }
}
