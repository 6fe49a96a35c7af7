/// The mark of an unfinished copy (`Ledger.unfinishedCopy`): a `meta` entry.
extension LMDBLedger {
    public func unfinishedCopy() throws(LedgerError) -> String? {
        let dbs = self.dbs
        return try environment.read { txn throws(LedgerError) -> String? in
            try txn.get(dbs.meta, MetaKey.unfinishedCopy).map { String(decoding: $0, as: UTF8.self) }
        }
    }

    public func markUnfinishedCopy(of source: String?) throws(LedgerError) {
        let dbs = self.dbs
        try write { txn throws(LedgerError) in
            if let source {
                try txn.put(dbs.meta, MetaKey.unfinishedCopy, Array(source.utf8))
            } else {
                _ = try txn.delete(dbs.meta, MetaKey.unfinishedCopy)
            }
        }
    }
}
