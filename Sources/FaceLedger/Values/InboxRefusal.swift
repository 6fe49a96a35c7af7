import Foundation

/// An inbox entry the daemon cannot take (it may not read it, or may not remove it from its
/// folder): published by the daemon in `meta` under `inbox_refusals` for `facewatch status`.
public struct InboxRefusal: Sendable, Equatable, Codable {
    /// Its name relative to the inbox.
    public var name: String
    /// Why (`open …: Permission denied (errno 13)`).
    public var reason: String
    /// When it was first refused.
    public var since: Date

    public init(name: String, reason: String, since: Date) {
        self.name = name
        self.reason = reason
        self.since = since
    }
}

extension InboxRefusal {
    /// The stored form of a list of refusals (JSON), the same in every backend.
    /// - Throws: `LedgerError.invalidArgument` when it cannot be encoded.
    package static func encode(_ refusals: [InboxRefusal]) throws(LedgerError) -> [UInt8] {
        do {
            return Array(try JSONEncoder().encode(refusals))
        } catch {
            throw LedgerError(.invalidArgument, "cannot encode the inbox refusals: \(error)")
        }
    }
}

extension LMDBLedger {
    /// Replaces the published list of inbox entries the daemon cannot take (one small write
    /// transaction; the daemon calls it only when the list changed).
    ///
    /// - Throws: `LedgerError` (`.readOnly` on a read-only ledger, `.mapFull`, `.lmdb`).
    public func publishRefusals(_ refusals: [InboxRefusal]) throws(LedgerError) {
        let value = try InboxRefusal.encode(refusals)
        let dbs = self.dbs
        try write { txn throws(LedgerError) in
            try txn.put(dbs.meta, MetaKey.inboxRefusals, value)
        }
    }

    /// The inbox entries the daemon last said it cannot take (empty if it never said).
    ///
    /// - Throws: `LedgerError` when the ledger cannot be read or the value is not a list.
    public func refusals() throws(LedgerError) -> [InboxRefusal] {
        let dbs = environment.databases
        let data: Data? = try environment.read { txn throws(LedgerError) -> Data? in
            guard let value = try txn.get(dbs.meta, MetaKey.inboxRefusals) else { return nil }
            return Data(value)
        }
        guard let data else { return [] }
        do {
            return try JSONDecoder().decode([InboxRefusal].self, from: data)
        } catch {
            throw LedgerError.corrupt("meta inbox_refusals: \(error)")
        }
    }
}
