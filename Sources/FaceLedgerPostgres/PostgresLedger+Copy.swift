import FaceLedger

/// The mark of an unfinished copy (`Ledger.unfinishedCopy`): the one row of `unfinished_copy`.
extension PostgresLedger {
    public func unfinishedCopy() throws(LedgerError) -> String? {
        try read { session throws(LedgerError) in
            try session.first("SELECT source FROM unfinished_copy", as: String.self)
        }
    }

    public func markUnfinishedCopy(of source: String?) throws(LedgerError) {
        try write { session throws(LedgerError) in
            if let source {
                try session.execute(
                    """
                    INSERT INTO unfinished_copy (one, source) VALUES (true, \(source))
                    ON CONFLICT (one) DO UPDATE SET source = EXCLUDED.source
                    """)
            } else {
                try session.execute("DELETE FROM unfinished_copy")
            }
        }
    }
}
