import FaceCore

/// The aggregate state kept in `meta` under `counters`, updated in the same write transaction as every
/// state change so that stats and the all-time average cost one read.
///
/// Value format 1 (little-endian): u8 format = 1; u64 created, completed, failed, faces, encodedFaces;
/// 128 × f64 sum of every face encoding (of length 128) of completed records.
package struct Counters: Equatable, Sendable {
    static let format: UInt8 = 1

    package var created = 0
    package var completed = 0
    package var failed = 0
    /// Faces of completed records.
    package var faces = 0
    /// Faces whose 128-component encoding is in `sum`.
    package var encodedFaces = 0
    package var sum = [Double](repeating: 0, count: Face.encodingLength)

    package var total: Int { created + completed + failed }

    package mutating func add(_ status: ResultStatus, _ delta: Int) {
        switch status {
        case .created: created += delta
        case .completed: completed += delta
        case .failed: failed += delta
        }
    }

    /// Adds the faces of a record that became completed.
    package mutating func addFaces(_ list: [Face]) {
        faces += list.count
        for face in list where face.encoding.count == Face.encodingLength {
            encodedFaces += 1
            for i in 0..<Face.encodingLength { sum[i] += Double(face.encoding[i]) }
        }
    }

    /// Adds a record found during a rebuild, whatever its status.
    package mutating func addRecord(_ r: LedgerRecord) {
        add(r.status, 1)
        if r.status == .completed { addFaces(r.faces) }
    }

    package func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 1 + 5 * 8 + sum.count * 8)
        w.u8(Counters.format)
        for v in [created, completed, failed, faces, encodedFaces] { w.u64(UInt64(max(v, 0))) }
        for v in sum { w.f64(v) }
        return w.bytes
    }

    package init() {}

    package init(decoding bytes: UnsafeRawBufferPointer) throws(LedgerError) {
        var r = ByteReader(bytes, what: "meta counters")
        let format = try r.u8()
        guard format == Counters.format else { throw LedgerError.corrupt("unknown counters format \(format)") }
        func count(_ v: UInt64) throws(LedgerError) -> Int {
            guard let i = Int(exactly: v) else { throw LedgerError.corrupt("counter \(v) out of range") }
            return i
        }
        created = try count(try r.u64())
        completed = try count(try r.u64())
        failed = try count(try r.u64())
        faces = try count(try r.u64())
        encodedFaces = try count(try r.u64())
        for i in 0..<Face.encodingLength { sum[i] = try r.f64() }
        try r.expectEnd()
    }

    /// Reads the counters of a schema-1 database.
    static func load(_ txn: Transaction, _ dbs: Databases) throws(LedgerError) -> Counters {
        guard let value = try txn.get(dbs.meta, MetaKey.counters) else {
            throw LedgerError.corrupt("meta has no counters")
        }
        return try Counters(decoding: value)
    }

    func store(_ txn: Transaction, _ dbs: Databases) throws(LedgerError) {
        try txn.put(dbs.meta, MetaKey.counters, encoded())
    }
}
