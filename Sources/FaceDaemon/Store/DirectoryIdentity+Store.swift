import FaceRoot
import Foundation

extension DirectoryIdentity {
    /// The id of the root whose store is `configuration.store`, read from its markers as a daemon of
    /// that root reads it (`establish`: the db directory's for an LMDB root, else the store's, else
    /// the results'); nil when none is marked yet. A command run outside the daemon gives it to a
    /// shared ledger, which then tells the forgotten files of this store from other hosts' stores.
    public static func storeID(of configuration: DaemonConfiguration) -> String? {
        var guarded: [Guarded] = [
            .init(role: "store", path: configuration.store), .init(role: "results", path: configuration.results),
        ]
        if !configuration.ledgerIsShared { guarded.insert(.init(role: "db", path: configuration.database), at: 0) }
        return guarded.lazy.compactMap { readMarker(of: $0) }.first
    }
}
