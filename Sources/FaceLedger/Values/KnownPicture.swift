import FaceCore
import Foundation

/// One picture in the known folder as the ledger keeps it: whose it is, which file version was
/// read, and the encoding of its first face (face_recognition's rule: a known picture contributes its
/// first face only; one with no face contributes nothing and says why in `problem`).
public struct KnownPicture: Sendable, Equatable {
    /// Path relative to the known folder: `alice.jpg` or `alice/beach.jpg`.
    public var path: String
    /// The person: the file's base name, or the name of the subfolder it is in.
    public var person: String
    /// Size and modification time (seconds since 1970, with nanoseconds) of the file that was read.
    public var size: Int64
    public var modified: Double
    /// The first face's encoding; nil when the picture gave none.
    public var encoding: [Float]?
    /// Why there is no encoding (no face found, unreadable file), for the log and `status`.
    public var problem: String?

    public init(path: String, person: String, size: Int64, modified: Double, encoding: [Float]?, problem: String?) {
        self.path = path
        self.person = person
        self.size = size
        self.modified = modified
        self.encoding = encoding
        self.problem = problem
    }
}

/// The state of known people and of the relabel that follows each change of them.
public struct PeopleState: Sendable, Equatable {
    /// Increases by one with every change of the known pictures or of the tolerance.
    public var generation: UInt64
    /// The tolerance (largest distance that names a person) of this generation.
    public var tolerance: Double
    /// Every final result is labelled with at least this generation.
    public var relabelledThrough: UInt64
    /// The last record (in id order) the relabel to `generation` has finished; nil at its start.
    public var cursor: UUID?
    /// Records the relabel to `generation` has visited so far.
    public var visited: Int

    public init(generation: UInt64, tolerance: Double, relabelledThrough: UInt64, cursor: UUID?, visited: Int) {
        self.generation = generation
        self.tolerance = tolerance
        self.relabelledThrough = relabelledThrough
        self.cursor = cursor
        self.visited = visited
    }

    /// The known pictures or the tolerance changed: a new generation with `tolerance`, whose relabel
    /// starts from the first record.
    public mutating func beginGeneration(tolerance: Double) {
        generation += 1
        self.tolerance = tolerance
        cursor = nil
        visited = 0
    }

    /// The state of a ledger that never saw known people.
    public static func initial(tolerance: Double) -> PeopleState {
        PeopleState(generation: 0, tolerance: tolerance, relabelledThrough: 0, cursor: nil, visited: 0)
    }

    /// True while results labelled with an older generation may remain.
    public var isRelabelling: Bool { relabelledThrough < generation }
}

/// The matches of a result's faces as last computed, and the generation of known people they were
/// computed with.
public struct StoredLabels: Sendable, Equatable {
    public var generation: UInt64
    /// Per face, in the record's face order: the people it resembles, closest first.
    public var faces: [[PersonMatch]]

    public init(generation: UInt64, faces: [[PersonMatch]]) {
        self.generation = generation
        self.faces = faces
    }
}

/// How often a person is named: faces labelled with them, and results with at least one such face.
public struct PersonCount: Sendable, Equatable {
    public var faces: Int
    public var results: Int

    public init(faces: Int = 0, results: Int = 0) {
        self.faces = faces
        self.results = results
    }
}

extension StoredLabels {
    /// Adds (`sign` 1) or takes away (-1) these labels' faces and results per person in `deltas`:
    /// how every backend keeps its counts per person.
    package func count(sign: Int, into deltas: inout [String: PersonCount]) {
        var inResult = Set<String>()
        for face in faces {
            for match in face {
                deltas[match.name, default: PersonCount()].faces += sign
                inResult.insert(match.name)
            }
        }
        for name in inResult { deltas[name, default: PersonCount()].results += sign }
    }
}
