import FaceCore
import FaceLedger
import PostgresNIO

/// The ledger's counters (counts by status, faces, the encoding sum, the final tallies) kept in
/// parts, one row of `counter_parts` per daemon (its owner: host and root), so that hosts making
/// records final at the same time lock no row in common.
///
/// A transition adds its change to its own daemon's part, in its transaction: a part holds what
/// that daemon changed, and may be negative (a host that finishes a record another host took in
/// has one `created` less). Stats, the average and the tallies are the sum of every part, read in
/// one statement: exact, as one row was. The part named `""` holds what the single counters row
/// held before schema 2.
///
/// One daemon's own transactions still take turns on its part; an operator's transaction holding
/// one part (or all) makes those transactions give up after `lock_timeout`, not wait.
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
    /// Reads the part of `part` (locked until the transaction ends; created when it has none), lets
    /// `change` add to it, and writes it.
    static func updateCounters(
        _ session: PostgresSession, part: String, _ change: (inout Counters, inout FinalTallies) -> Void
    ) throws(LedgerError) {
        let select = "SELECT \(CounterParts.columns) FROM counter_parts WHERE part = $1 FOR UPDATE"
        var row = try session.first(
            PostgresQuery(unsafeSQL: select, binds: bindings(part)),
            as: (Int64, Int64, Int64, Int64, Int64, [Double], ByteBuffer).self)
        if row == nil {
            try session.execute(
                """
                INSERT INTO counter_parts (part, created, completed, failed, faces, encoded_faces, encoding_sum, tallies)
                VALUES (\(part), 0, 0, 0, 0, 0, array_fill(0::float8, ARRAY[128]), ''::bytea)
                ON CONFLICT (part) DO NOTHING
                """)
            row = try session.first(
                PostgresQuery(unsafeSQL: select, binds: bindings(part)),
                as: (Int64, Int64, Int64, Int64, Int64, [Double], ByteBuffer).self)
        }
        guard let row else { throw LedgerError.corruptValue("the counters part of \(part) cannot be created") }
        var (counters, tallies) = try CounterParts.decode(row)
        change(&counters, &tallies)
        try session.execute(
            """
            UPDATE counter_parts SET created = \(Int64(counters.created)), completed = \(Int64(counters.completed)),
                failed = \(Int64(counters.failed)), faces = \(Int64(counters.faces)),
                encoded_faces = \(Int64(counters.encodedFaces)), encoding_sum = \(counters.sum),
                tallies = \(tallies.encoded().bytea)
            WHERE part = \(part)
            """)
    }

    private static func bindings(_ part: String) -> PostgresBindings {
        var binds = PostgresBindings(capacity: 1)
        binds.append(part)
        return binds
    }
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
