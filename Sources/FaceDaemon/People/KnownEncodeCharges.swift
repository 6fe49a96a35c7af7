import FaceRoot
import Foundation

/// Crash attribution for the known folder's pictures, as the ledger keeps it for records: encoding a
/// known picture that makes a decoder or the engine crash would otherwise take the daemon down at
/// every start, and the death would be charged to whatever record was being encoded.
///
/// Before a known picture is encoded, `ROOT/.facewatch.known` names it (`inFlight`, written
/// atomically and synced) and says whether it runs alone in the process (`DecodeGate`); after, the
/// name is cleared. At the next start (`settle`) a name left there means the process died while
/// that picture was being encoded: alone, it is charged the death (a crash when the process died
/// of a fault of its own, a kill otherwise); beside other decodes it is charged nothing and runs
/// alone the next time. A picture charged three crashes (or ten kills) is not encoded again until
/// it changes (size or modification time): it is kept with the problem `crashed`.
struct KnownEncodeCharges: Codable, Sendable, Equatable {
    /// Deaths charged to one picture, as it was (size, modification time) when charged.
    struct Charge: Codable, Sendable, Equatable {
        var size: Int64
        var modified: Double
        var crashes = 0
        var kills = 0
    }

    /// The picture being encoded, and whether alone.
    struct InFlight: Codable, Sendable, Equatable {
        var path: String
        var size: Int64
        var modified: Double
        var alone: Bool
    }

    /// The file's name in the root.
    static let fileName = ".facewatch.known"
    /// Crashes (faults of the process) after which a picture is not encoded again, as for a record.
    static let maxCrashes = 3
    /// Kills from outside (`kill -9`, the OOM killer) after which a picture is not encoded again.
    static let maxKills = 10

    /// Pictures that were being encoded when the process died (charged or not: each runs alone).
    var charges: [String: Charge] = [:]
    var inFlight: InFlight?

    /// The charges kept in `root` (none when the file is missing or unreadable).
    static func load(root: String) -> KnownEncodeCharges {
        guard let data = FileManager.default.contents(atPath: path(root)),
            let charges = try? JSONDecoder().decode(KnownEncodeCharges.self, from: data)
        else { return KnownEncodeCharges() }
        return charges
    }

    /// Settles a picture the previous process died encoding (see the type); at a start, before
    /// anything is encoded. Returns the picture charged, if one was.
    @discardableResult
    static func settle(root: String, previousDiedOfFault: Bool) -> String? {
        var charges = load(root: root)
        guard let dead = charges.inFlight else { return nil }
        charges.inFlight = nil
        var charge =
            charges.charge(path: dead.path, size: dead.size, modified: dead.modified)
            ?? Charge(size: dead.size, modified: dead.modified)
        if dead.alone {
            if previousDiedOfFault { charge.crashes += 1 } else { charge.kills += 1 }
        }
        charges.charges[dead.path] = charge
        charges.save(root: root)
        return dead.alone ? dead.path : nil
    }

    /// The charge of the picture at `path` as it is now (a changed picture starts afresh).
    func charge(path: String, size: Int64, modified: Double) -> Charge? {
        guard let charge = charges[path], charge.size == size, charge.modified == modified else { return nil }
        return charge
    }

    /// Why the picture is not encoded again, or nil.
    func refusal(path: String, size: Int64, modified: Double) -> String? {
        guard let charge = charge(path: path, size: size, modified: modified) else { return nil }
        let again = "it is tried again once it changes"
        if charge.crashes >= Self.maxCrashes {
            return "crashed: encoding this picture crashed the daemon \(charge.crashes) times; \(again)"
        }
        if charge.kills >= Self.maxKills {
            return
                "crashed: it was being encoded alone each of the \(charge.kills) times the daemon was killed; \(again)"
        }
        return nil
    }

    /// Writes the charges into `root` (best effort: without the file a crash is only not attributed).
    func save(root: String) {
        guard let data = try? JSONEncoder().encode(self) else { return }
        try? DurableFile.writeAtomically([UInt8](data), to: Self.path(root), permissions: 0o600)
    }

    private static func path(_ root: String) -> String { root + "/" + fileName }
}
