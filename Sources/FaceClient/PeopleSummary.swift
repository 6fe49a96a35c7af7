import FaceCore
import FaceLedger
import Foundation

/// Known people as the ledger has them: the pictures, the relabel's progress, and how often each
/// person is named. The answer of `facewatch people`, and the people lines of `facewatch status`.
public struct PeopleSummary: Sendable, Equatable {
    /// One person: their pictures and how often results name them.
    public struct Person: Sendable, Equatable {
        public var name: String
        public var pictures: [KnownPicture]
        /// Faces and results labelled with this person.
        public var count: PersonCount
    }

    public var state: PeopleState
    /// Everyone with a picture in the known folder, or named by a result, by name.
    public var people: [Person]
    /// All records (the relabel visits each once).
    public var records: Int

    /// Pictures that gave no encoding (no face, unreadable), with why.
    public var ignored: [KnownPicture] { people.flatMap(\.pictures).filter { $0.encoding == nil } }

    init(state: PeopleState, pictures: [KnownPicture], counts: [String: PersonCount], records: Int) {
        self.state = state
        self.records = records
        let names = Set(pictures.map(\.person)).union(counts.keys).sorted()
        people = names.map { name in
            Person(
                name: name, pictures: pictures.filter { $0.person == name }, count: counts[name] ?? PersonCount())
        }
    }

    /// The lines `facewatch status` shows.
    public var statusLines: [String] {
        let known = people.filter { $0.pictures.contains { $0.encoding != nil } }.count
        let pictures = people.reduce(0) { $0 + $1.pictures.count }
        var lines = ["people:   \(known) known (\(pictures) pictures), tolerance \(state.tolerance)"]
        for picture in ignored {
            lines.append("  ignored known picture \(picture.path): \(picture.problem ?? "no face found")")
        }
        if state.isRelabelling {
            lines.append(
                "relabel:  \(min(state.visited, records)) of \(records) results (generation \(state.generation))")
        } else {
            lines.append("relabel:  up to date (generation \(state.generation))")
        }
        return lines
    }

    /// Counts faces by person (the `stats` view).
    public var facesByPerson: [String: Int] {
        Dictionary(uniqueKeysWithValues: people.filter { $0.count.faces > 0 }.map { ($0.name, $0.count.faces) })
    }

    /// The summary as JSON (`facewatch people --json`, `status --json`'s `people`).
    public var json: JSONValue {
        .object([
            ("generation", .int(Int64(state.generation))),
            ("tolerance", .double(state.tolerance)),
            ("relabelling", .bool(state.isRelabelling)),
            ("relabel_visited", .int(Int64(state.isRelabelling ? min(state.visited, records) : records))),
            ("relabel_total", .int(Int64(records))),
            (
                "people",
                .array(
                    people.map { person in
                        .object([
                            ("name", .string(person.name)),
                            (
                                "pictures",
                                .array(
                                    person.pictures.map { picture in
                                        .object([
                                            ("path", .string(picture.path)),
                                            ("face", .bool(picture.encoding != nil)),
                                            ("problem", picture.problem.map { .string($0) } ?? .null),
                                        ])
                                    })
                            ),
                            ("results", .int(Int64(person.count.results))),
                            ("faces", .int(Int64(person.count.faces))),
                        ])
                    })
            ),
        ])
    }

    /// The table `facewatch people` prints.
    public var text: String {
        guard !people.isEmpty else { return "no known people (put pictures in the known folder)" }
        var lines: [String] = []
        for person in people {
            lines.append("\(person.name): \(person.count.results) results, \(person.count.faces) faces")
            for picture in person.pictures {
                lines.append("  \(picture.path)" + (picture.problem.map { " (ignored: \($0))" } ?? ""))
            }
        }
        lines.append(
            state.isRelabelling
                ? "relabelling: \(min(state.visited, records)) of \(records) results (generation \(state.generation))"
                : "labels up to date (generation \(state.generation))")
        return lines.joined(separator: "\n")
    }
}

extension Queries {
    /// Known people, their pictures, the relabel's progress and the counts per person.
    ///
    /// - Throws: `ClientError` when the ledger cannot be read.
    public func people() throws(ClientError) -> PeopleSummary {
        do {
            return PeopleSummary(
                state: try ledger.peopleState(defaultTolerance: configuration.tolerance),
                pictures: try ledger.knownPictures(), counts: try ledger.personCounts(),
                records: try ledger.stats().total)
        } catch {
            throw ClientError("cannot read the ledger: \(error)")
        }
    }
}
