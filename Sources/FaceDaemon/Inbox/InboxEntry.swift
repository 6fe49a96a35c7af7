import FaceRoot
/// A file in the inbox that is ready to be taken.
public struct InboxEntry: Sendable, Hashable, CustomStringConvertible {
    /// The absolute path of the entry (inside ``Inbox/directory``).
    public let path: String
    /// The path relative to the inbox, `/`-separated (`party/photo.jpg`): the result's `source.name`.
    public let name: String
    /// What the entry is (from `lstat`; never followed). Anything but `.regular` is to be failed
    /// `not_a_regular_file` and moved into the store itself.
    public let kind: FileKind
    /// `st_size` when it was reported.
    public let size: Int64
    /// Identifies this report; ``Inbox/acknowledge(_:)`` matches it so a stale acknowledgement
    /// cannot clear a newer report of the same name.
    public let serial: UInt64
    /// How the inbox learnt the entry was ready.
    public let arrival: Arrival

    /// How an entry became ready: what its writer was seen to do.
    public enum Arrival: Sendable, Hashable {
        /// Renamed into the inbox (`IN_MOVED_TO`): its writer says it is complete.
        case renamed
        /// Written in place and closed (`IN_CLOSE_WRITE`), then unchanged for the settle time.
        case closed
        /// Found by a scan, or hard-linked in: no close was seen (its writer may still be at work).
        case found
    }

    public init(path: String, name: String, kind: FileKind, size: Int64, serial: UInt64, arrival: Arrival = .found) {
        self.path = path
        self.name = name
        self.kind = kind
        self.size = size
        self.serial = serial
        self.arrival = arrival
    }

    /// True for a regular file.
    public var isRegular: Bool { kind == .regular }

    public var description: String { "\(name) (\(kind.rawValue), \(size) bytes)" }
}

/// Counters of an ``Inbox``, for status lines and metrics.
public struct InboxStatistics: Sendable, Equatable {
    /// Directories watched now (the inbox included).
    public var watchedDirectories: Int = 0
    /// Files waiting for their settle time.
    public var settling: Int = 0
    /// Files reported and not yet taken or acknowledged.
    public var awaitingConsumer: Int = 0
    /// Entries reported since start.
    public var reported: UInt64 = 0
    /// `IN_Q_OVERFLOW` events received (each one triggers a full rescan).
    public var overflows: Int = 0
    /// Full scans done after the first one (overflows, explicit ``Inbox/rescan()``, inbox recreated).
    public var rescans: Int = 0

    public init() {}
}
