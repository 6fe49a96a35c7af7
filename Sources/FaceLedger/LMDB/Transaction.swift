import CLMDB

/// A borrowed LMDB transaction. Buffers it returns point into the memory map and are valid only until
/// the transaction ends or, in a write transaction, until the next write: decode them at once.
struct Transaction {
    let txn: OpaquePointer

    /// The value stored under `key`, or nil.
    func get(_ dbi: MDB_dbi, _ key: [UInt8]) throws(LedgerError) -> UnsafeRawBufferPointer? {
        var data = MDB_val()
        let rc = withVal(key) { k in mdb_get(txn, dbi, &k, &data) }
        if rc == MDB_NOTFOUND { return nil }
        try check(rc, "mdb_get")
        return UnsafeRawBufferPointer(start: data.mv_data, count: data.mv_size)
    }

    /// Stores `value` under `key`. With `noOverwrite`, returns false (and writes nothing) if the key exists.
    @discardableResult
    func put(_ dbi: MDB_dbi, _ key: [UInt8], _ value: [UInt8], noOverwrite: Bool = false) throws(LedgerError) -> Bool {
        let flags = noOverwrite ? UInt32(MDB_NOOVERWRITE) : 0
        let rc = withVal(key) { k in withVal(value) { v in mdb_put(txn, dbi, &k, &v, flags) } }
        if rc == MDB_KEYEXIST && noOverwrite { return false }
        try check(rc, "mdb_put")
        return true
    }

    /// Deletes `key`; returns false if it was not there.
    @discardableResult
    func delete(_ dbi: MDB_dbi, _ key: [UInt8]) throws(LedgerError) -> Bool {
        let rc = withVal(key) { k in mdb_del(txn, dbi, &k, nil) }
        if rc == MDB_NOTFOUND { return false }
        try check(rc, "mdb_del")
        return true
    }

    /// Deletes every key of a database (keeps the database).
    func empty(_ dbi: MDB_dbi) throws(LedgerError) {
        try check(mdb_drop(txn, dbi, 0), "mdb_drop")
    }

    /// Number of keys in a database.
    func count(_ dbi: MDB_dbi) throws(LedgerError) -> Int {
        var stat = MDB_stat()
        try check(mdb_stat(txn, dbi, &stat), "mdb_stat")
        return Int(stat.ms_entries)
    }

    /// Runs `body` with a cursor on `dbi`, closing it afterwards.
    func withCursor<T>(_ dbi: MDB_dbi, _ body: (Cursor) throws(LedgerError) -> T) throws(LedgerError) -> T {
        var cursor: OpaquePointer?
        try check(mdb_cursor_open(txn, dbi, &cursor), "mdb_cursor_open")
        defer { mdb_cursor_close(cursor) }
        return try body(Cursor(cursor: cursor!))
    }
}

/// A cursor over one database, valid inside `Transaction.withCursor`.
struct Cursor {
    typealias Entry = (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)

    let cursor: OpaquePointer

    /// The first entry, or nil if the database is empty.
    func first() throws(LedgerError) -> Entry? { try get(MDB_FIRST) }

    /// The entry after the current one, or nil at the end.
    func next() throws(LedgerError) -> Entry? { try get(MDB_NEXT) }

    /// The first entry whose key is >= `key`, or nil.
    func seek(atOrAfter key: [UInt8]) throws(LedgerError) -> Entry? {
        var k = MDB_val()
        var v = MDB_val()
        let rc = withVal(key) { probe in
            k = probe
            return mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE)
        }
        return try entry(rc, k, v)
    }

    private func get(_ op: MDB_cursor_op) throws(LedgerError) -> Entry? {
        var k = MDB_val()
        var v = MDB_val()
        let rc = mdb_cursor_get(cursor, &k, &v, op)
        return try entry(rc, k, v)
    }

    private func entry(_ rc: Int32, _ k: MDB_val, _ v: MDB_val) throws(LedgerError) -> Entry? {
        if rc == MDB_NOTFOUND { return nil }
        try check(rc, "mdb_cursor_get")
        return (
            UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size),
            UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)
        )
    }
}

/// Calls `body` with an MDB_val describing `bytes` (LMDB only reads it).
@inline(__always)
func withVal<R>(_ bytes: [UInt8], _ body: (inout MDB_val) -> R) -> R {
    if bytes.isEmpty {
        var zero: UInt8 = 0
        return withUnsafeMutablePointer(to: &zero) { p in
            var val = MDB_val(mv_size: 0, mv_data: UnsafeMutableRawPointer(p))
            return body(&val)
        }
    }
    return bytes.withUnsafeBytes { raw in
        var val = MDB_val(mv_size: raw.count, mv_data: UnsafeMutableRawPointer(mutating: raw.baseAddress))
        return body(&val)
    }
}
