import Foundation

// Values the ledger's interface (`Ledger`) passes in and out of crash attribution, intake and relabelling.

/// What `beginRun` found and did.
public struct RunStart: Sendable, Equatable {
    /// This run's number (1 for the first run of a ledger).
    public var incarnation: UInt64
    /// Whether the previous run ended with `endRun` (nil: no earlier run is recorded).
    public var previousEndedCleanly: Bool?
    /// Files charged one death now (they were alone when the previous run died).
    public var charged: [UUID] = []
    /// Files that were being encoded beside others when the previous run died: they run alone.
    public var suspects: [UUID] = []
    /// Whether the previous run ended gracefully with every result document written (see
    /// `endRun`): the start need not check the documents.
    public var documentsComplete = false

    public init(
        incarnation: UInt64, previousEndedCleanly: Bool?, charged: [UUID] = [], suspects: [UUID] = [],
        documentsComplete: Bool = false
    ) {
        self.incarnation = incarnation
        self.previousEndedCleanly = previousEndedCleanly
        self.charged = charged
        self.suspects = suspects
        self.documentsComplete = documentsComplete
    }
}

/// Deaths charged to a file: each time the process died while it was encoding alone.
public struct Deaths: Sendable, Equatable {
    /// The process died of a fault of its own (a crash, an abort).
    public var crashes = 0
    /// The process was killed from outside (`kill -9`, the OOM killer) or the cause is unknown.
    public var kills = 0

    public init(crashes: Int = 0, kills: Int = 0) {
        self.crashes = crashes
        self.kills = kills
    }
}

/// What is known of a file before it is renamed into the store: the name it was dropped with,
/// its size and when it was taken.
public struct IntakeIntent: Sendable, Equatable {
    public var id: UUID
    public var name: String
    public var bytes: Int64
    public var takenAt: Date

    public init(id: UUID, name: String, bytes: Int64, takenAt: Date) {
        self.id = id
        self.name = name
        self.bytes = bytes
        self.takenAt = takenAt
    }
}

/// One committed step of a relabel.
public struct RelabelProgress: Sendable, Equatable {
    public var generation: UInt64
    /// The last record of the batch, the new cursor.
    public var cursor: UUID?
    public var visited: Int
    public var finished: Bool

    public init(generation: UInt64, cursor: UUID?, visited: Int, finished: Bool) {
        self.generation = generation
        self.cursor = cursor
        self.visited = visited
        self.finished = finished
    }
}
