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
        queue.asyncAfter(deadline: .now() + Inbox.dispatchInterval(settleTime)) { [weak self] in
            self?.settleTimerFired(relative, generation: generation)
        }
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
