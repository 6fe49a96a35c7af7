import FaceCore
import FaceLedger
import Foundation
import PostgresNIO

/// Runs, leases and crash attribution across hosts.
///
/// A run is live while `state = 0` and its lease has not expired; `beginRun` inserts one with a
/// lease of `lease` seconds from the server's clock, `renewLease` extends it, `endRun` ends it
/// (its markers then charge nothing, as after a graceful stop on one host). A run whose lease
/// expired died: the first daemon to notice (in `beginRun` or `renewLease`) settles it in one
/// transaction, with the rules of a local death: a marker left by an attempt that ran alone is a
/// death charged to its file (a kill: another host cannot know whether it was a fault), one left
/// beside others makes its file a suspect. The daemon's own previous run (same owner) is settled at
/// its `beginRun` without waiting for the lease, with the cause its crash marker gives.
extension PostgresLedger {
    public func beginRun(previousDiedOfFault: Bool) throws(LedgerError) -> RunStart {
        let owner = self.owner
        let lease = leaseSeconds
        let start = try write { session throws(LedgerError) in
            var start = RunStart(incarnation: 0, previousEndedCleanly: nil)
            if let (state, documentsComplete) = try session.first(
                "SELECT state, documents_complete FROM runs WHERE owner = \(owner) ORDER BY incarnation DESC LIMIT 1",
                as: (Int16, Bool).self)
            {
                start.previousEndedCleanly = state == 1
                start.documentsComplete = state == 1 && documentsComplete
            }
            let settled = try Self.settleDeadRuns(session, owner: owner, ownFault: previousDiedOfFault, except: 0)
            start.charged = settled.charged
            start.suspects = settled.suspects
            guard
                let incarnation = try session.first(
                    """
                    INSERT INTO runs (owner, pid, lease_until, state)
                    VALUES (\(owner), \(Int32(getpid())), now() + make_interval(secs => \(lease)), 0)
                    RETURNING incarnation
                    """, as: Int64.self)
            else { throw LedgerError.corruptValue("no run number returned") }
            start.incarnation = UInt64(incarnation)
            return start
        }
        currentRun.store(start.incarnation, ordering: .relaxed)
        return start
    }

    public func endRun(_ incarnation: UInt64, documentsComplete: Bool) throws(LedgerError) {
        try write { session throws(LedgerError) in
            try session.execute(
                """
                UPDATE runs SET state = 1, documents_complete = \(documentsComplete)
                WHERE incarnation = \(Int64(bitPattern: incarnation)) AND state = 0
                """)
        }
        releasePublisherRole()
    }

    /// Extends run `incarnation`'s lease, then settles runs whose lease expired.
    /// - Throws: `.invalidTransition` when the run had already been settled as dead (it hung for
    ///   longer than its lease, and other daemons took its files over): it is live again from now,
    ///   but the deaths charged meanwhile stay. `LedgerError` when the ledger cannot be written.
    public func renewLease(_ incarnation: UInt64) throws(LedgerError) {
        let run = Int64(bitPattern: incarnation)
        let lease = leaseSeconds
        let previous = try write { session throws(LedgerError) in
            let state = try session.first(
                "SELECT state FROM runs WHERE incarnation = \(run) FOR UPDATE", as: Int16.self)
            guard let state, state != 1 else { return state }
            try session.execute(
                "UPDATE runs SET state = 0, lease_until = now() + make_interval(secs => \(lease)) WHERE incarnation = \(run)"
            )
            return state
        }
        let owner = self.owner
        try write { session throws(LedgerError) in
            _ = try Self.settleDeadRuns(session, owner: owner, ownFault: false, except: run, ownToo: false)
        }
        if previous == 2 {
            throw LedgerError(
                .invalidTransition,
                "run \(incarnation) outlived its lease: other daemons settled it and may have taken its files over")
        }
    }

    /// Takes back this run's attempt marker of `id`; a marker of another run (which took the record
    /// over since) is that run's, and stays.
    public func withdrawAttempt(_ id: UUID) throws(LedgerError) {
        let run = Int64(bitPattern: currentRun.load(ordering: .relaxed))
        try write { session throws(LedgerError) in
            try session.execute("DELETE FROM attempts WHERE id = \(id) AND incarnation = \(run)")
        }
    }

    public func deaths(_ id: UUID) throws(LedgerError) -> Deaths {
        try read { session throws(LedgerError) in
            guard
                let (crashes, kills) = try session.first(
                    "SELECT crashes, kills FROM deaths WHERE id = \(id)", as: (Int32, Int32).self)
            else { return Deaths() }
            return Deaths(crashes: Int(crashes), kills: Int(kills))
        }
    }

    /// Suspects no other unsettled run holds, oldest first.
    public func suspects(limit: Int) throws(LedgerError) -> [UUID] {
        guard limit > 0 else { return [] }
        let me = Int64(bitPattern: currentRun.load(ordering: .relaxed))
        var query: PostgresQuery = """
            SELECT s.id FROM suspects s JOIN records r ON r.id = s.id
            WHERE r.status = 0 AND NOT EXISTS (
                SELECT 1 FROM attempts a JOIN runs u ON u.incarnation = a.incarnation
                WHERE a.id = s.id AND u.state = 0 AND a.incarnation <> \(me))
            """
        query.sql += storeCondition + " ORDER BY r.queued_us, r.created_us, r.id LIMIT \(limit)"
        return try read { session throws(LedgerError) in try session.all(query, as: UUID.self) }
    }

    public func clearStaleReaders() throws(LedgerError) -> Int { 0 }

    // MARK: - Settling dead runs

    /// Settles every run that died: whose lease expired (any owner), and unless `ownToo` is false,
    /// every unended run of `owner` (this daemon's previous process). `except` is never settled.
    static func settleDeadRuns(
        _ session: PostgresSession, owner: String, ownFault: Bool, except: Int64, ownToo: Bool = true
    ) throws(LedgerError) -> (charged: [UUID], suspects: [UUID]) {
        let dead = try session.all(
            """
            SELECT incarnation, owner FROM runs
            WHERE state = 0 AND incarnation <> \(except) AND (lease_until < now() OR (\(ownToo) AND owner = \(owner)))
            ORDER BY incarnation FOR UPDATE SKIP LOCKED
            """, as: (Int64, String).self)
        var charged: [UUID] = []
        var suspects: [UUID] = []
        for (incarnation, runOwner) in dead {
            let fault = ownFault && runOwner == owner
            let markers = try session.all(
                "DELETE FROM attempts WHERE incarnation = \(incarnation) RETURNING id, solo", as: (UUID, Bool).self)
            for (id, solo) in markers {
                if solo {
                    let (crashes, kills): (Int32, Int32) = fault ? (1, 0) : (0, 1)
                    try session.execute(
                        """
                        INSERT INTO deaths (id, crashes, kills) VALUES (\(id), \(crashes), \(kills))
                        ON CONFLICT (id) DO UPDATE SET crashes = deaths.crashes + EXCLUDED.crashes,
                            kills = deaths.kills + EXCLUDED.kills
                        """)
                    charged.append(id)
                } else {
                    suspects.append(id)
                }
                try session.execute("INSERT INTO suspects (id) VALUES (\(id)) ON CONFLICT DO NOTHING")
            }
            try session.execute("UPDATE runs SET state = 2 WHERE incarnation = \(incarnation)")
        }
        return (charged, suspects)
    }
}
