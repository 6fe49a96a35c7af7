import FaceCore
import FaceLedger
import PostgresNIO

/// The ledger's counters (counts by status, faces, the encoding sum, the final tallies) kept in
/// parts, one row of `counter_parts` per daemon (its owner: host and root) and connection slot of
/// its pool (`owner#slot`), so that neither hosts nor one daemon's workers making records final at
/// the same time lock a row in common: a transaction holds its part's row until it commits (its
/// WAL flush included), and one row per daemon made its workers take turns at that pace.
///
/// A transition adds its change to its own part, in its transaction: a part holds what that
/// daemon changed, and may be negative (a host that finishes a record another host took in has
/// one `created` less). Stats, the average and the tallies are the sum of every part, read in one
/// statement: exact, as one row was. The part named `""` holds what the single counters row held
/// before schema 2; parts named by an owner alone, what a daemon wrote before parts had slots.
///
/// An operator's transaction holding one part (or all) makes the transactions that write it give
/// up after `lock_timeout`, not wait.
enum CounterParts {
    static let columns = "created, completed, failed, faces, encoded_faces, encoding_sum, tallies"

    /// The sum of every part.
    static func total(_ session: PostgresSession) throws(LedgerError) -> (Counters, FinalTallies) {
        let rows = try session.all(
            PostgresQuery(unsafeSQL: "SELECT \(columns) FROM counter_parts ORDER BY part"),
            as: (Int64, Int64, Int64, Int64, Int64, [Double], ByteBuffer).self)
        var counters = Counters()
        var tallies = FinalTallies()
        for row in rows {
            let (part, partTallies) = try decode(row)
            counters.created += part.created
            counters.completed += part.completed
            counters.failed += part.failed
            counters.faces += part.faces
            counters.encodedFaces += part.encodedFaces
            for index in 0..<Face.encodingLength { counters.sum[index] += part.sum[index] }
            tallies.merge(partTallies)
        }
        return (counters, tallies)
    }

    static func decode(_ row: (Int64, Int64, Int64, Int64, Int64, [Double], ByteBuffer)) throws(LedgerError) -> (
        Counters, FinalTallies
    ) {
        let (created, completed, failed, faces, encodedFaces, sum, talliesBuffer) = row
        var counters = Counters()
        counters.created = Int(created)
        counters.completed = Int(completed)
        counters.failed = Int(failed)
        counters.faces = Int(faces)
        counters.encodedFaces = Int(encodedFaces)
        guard sum.count == Face.encodingLength else {
            throw LedgerError.corruptValue("an encoding sum of \(sum.count) components")
        }
        counters.sum = sum
        let talliesBytes = talliesBuffer.bytes
        let tallies =
            talliesBytes.isEmpty
            ? FinalTallies()
            : try withRawBytes(talliesBytes) { buffer throws(LedgerError) in try FinalTallies(decoding: buffer) }
        return (counters, tallies)
    }
}

extension PostgresLedger {
    /// The columns of a part read with its record (`finish`), as postgres-nio decodes them.
    typealias PartRow = (Int64, Int64, Int64, Int64, Int64, [Double], ByteBuffer)

    /// Reads this session's part of `owner` (locked until the transaction ends; created when it has
    /// none), lets `change` add to it, and writes it. When this connection knows the part's values
    /// (`PartValues`), the write is one statement on condition that the row still holds them (the
    /// row locked as the read would have locked it); otherwise, or when it does not, the part is read
    /// first.
    static func updateCounters(
        _ session: PostgresSession, part owner: String, _ change: (inout Counters, inout FinalTallies) -> Void
    ) throws(LedgerError) {
        let part = try ensurePart(session, owner: owner)
        if let known = session.pooled?.partValues.removeValue(forKey: part) {
            var after = known
            change(&after.counters, &after.tallies)
            after.talliesBytes = after.tallies.encoded()
            var update = PreparedBinds()
            update.append(part)
            appendCounters(after.counters, after.talliesBytes, to: &update)
            appendCounters(known.counters, known.talliesBytes, to: &update)
            if try !session.prepared(PartWriteIfUnchanged.self, update).isEmpty {
                session.pooled?.partValues[part] = after
                return
            }
        }
        var binds = PreparedBinds()
        binds.append(part)
        let rows = try session.prepared(PartRead.self, binds)
        guard let first = rows.first else {
            // Created by a transaction that rolled back: created again on the next try.
            session.pooled?.partsReady.remove(part)
            throw LedgerError(
                .backend, "the counters part \(part) is missing", status: PostgresSession.conflictStatus)
        }
        let row = try PostgresSession.decoding { try first.decode(PartRow.self) }
        var (counters, tallies) = try CounterParts.decode(row)
        change(&counters, &tallies)
        var update = PreparedBinds()
        update.append(part)
        let talliesBytes = tallies.encoded()
        appendCounters(counters, talliesBytes, to: &update)
        try session.prepared(PartWrite.self, update)
        session.pooled?.partValues[part] = PartValues(counters: counters, tallies: tallies, talliesBytes: talliesBytes)
    }

    /// The name of this session's part of `owner` (its connection's slot), its row created when
    /// this connection has not seen it yet.
    static func ensurePart(_ session: PostgresSession, owner: String) throws(LedgerError) -> String {
        guard let pooled = session.pooled else { return owner }
        let part = "\(owner)#\(pooled.slot)"
        if pooled.partsReady.contains(part) { return part }
        var binds = PreparedBinds()
        binds.append(part)
        try session.prepared(PartCreate.self, binds)
        pooled.partsReady.insert(part)
        return part
    }

    /// `created = $n::int8, …, tallies = $(n+6)::bytea`: the part's columns set from the parameters
    /// `appendCounters` appends, the first of them `$n`.
    static func partAssignments(from first: Int) -> String {
        let names = ["created", "completed", "failed", "faces", "encoded_faces", "encoding_sum", "tallies"]
        let types = ["int8", "int8", "int8", "int8", "int8", "float8[]", "bytea"]
        return names.indices.map { "\(names[$0]) = $\(first + $0)::\(types[$0])" }.joined(separator: ", ")
    }

    /// Appends a part's values, in `partAssignments`' order, the tallies as their stored bytes.
    static func appendCounters(_ counters: Counters, _ talliesBytes: [UInt8], to binds: inout PreparedBinds) {
        binds.append(Int64(counters.created))
        binds.append(Int64(counters.completed))
        binds.append(Int64(counters.failed))
        binds.append(Int64(counters.faces))
        binds.append(Int64(counters.encodedFaces))
        binds.append(counters.sum)
        binds.append(talliesBytes.bytea)
    }
}

/// A counters part, locked: $1 the part.
enum PartRead: PreparedSQL {
    static let sql = "SELECT \(CounterParts.columns) FROM counter_parts WHERE part = $1::text FOR UPDATE"
}

/// A counters part's new values: $1 the part, $2… its values (`partAssignments`).
enum PartWrite: PreparedSQL {
    static let sql = "UPDATE counter_parts SET \(PostgresLedger.partAssignments(from: 2)) WHERE part = $1::text"
}

/// A counters part's new values if it holds the expected ones (a row returned when it did): $1 the
/// part, $2… its new values (`partAssignments`), $9…$15 the expected ones.
enum PartWriteIfUnchanged: PreparedSQL {
    static let sql = """
        UPDATE counter_parts SET \(PostgresLedger.partAssignments(from: 2))
        WHERE part = $1::text AND created = $9::int8 AND completed = $10::int8 AND failed = $11::int8
            AND faces = $12::int8 AND encoded_faces = $13::int8 AND encoding_sum = $14::float8[] AND tallies = $15::bytea
        RETURNING part
        """
}

/// A counters part of zeros, unless it exists: $1 the part.
enum PartCreate: PreparedSQL {
    static let sql = """
        INSERT INTO counter_parts (part, created, completed, failed, faces, encoded_faces, encoding_sum, tallies)
        VALUES ($1::text, 0, 0, 0, 0, 0, array_fill(0::float8, ARRAY[128]), ''::bytea)
        ON CONFLICT (part) DO NOTHING
        """
}

extension FinalTallies {
    /// Adds another part's tallies.
    mutating func merge(_ other: FinalTallies) {
        for (code, count) in other.failedByCode { failedByCode[code, default: 0] += count }
        engineRuns += other.engineRuns
        engineSeconds += other.engineSeconds
        for index in buckets.indices where index < other.buckets.count {
            buckets[index].count += other.buckets[index].count
            buckets[index].seconds += other.buckets[index].seconds
        }
    }
}
