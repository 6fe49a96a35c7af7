import FaceCore
import Foundation

/// Byte formats of the people databases (little-endian, like `RecordCodec`), each value led by a
/// format byte so that a later format can be told apart.
package enum PeopleCodec {
    static let format: UInt8 = 1

    package static func encodePicture(_ picture: KnownPicture) throws(LedgerError) -> (key: [UInt8], value: [UInt8]) {
        let key = Array(picture.path.utf8)
        guard !key.isEmpty, key.count <= 480 else {
            throw LedgerError(.invalidArgument, "a known picture's path must have 1 to 480 bytes: \(picture.path)")
        }
        var w = ByteWriter()
        w.u8(format)
        w.string(picture.person)
        w.i64(picture.size)
        w.f64(picture.modified)
        if let encoding = picture.encoding {
            w.u8(1)
            w.u32(UInt32(encoding.count))
            for value in encoding { w.f32(value) }
        } else {
            w.u8(0)
        }
        w.string(picture.problem ?? "")
        return (key, w.bytes)
    }

    package static func decodePicture(key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws(LedgerError)
        -> KnownPicture
    {
        var r = ByteReader(value, what: "known picture")
        guard try r.u8() == format else { throw LedgerError.corrupt("known picture of an unknown format") }
        let person = try r.string()
        let size = try r.i64()
        let modified = try r.f64()
        var encoding: [Float]?
        if try r.u8() == 1 { encoding = try r.floats(Int(try r.u32())) }
        let problem = try r.string()
        try r.expectEnd()
        return KnownPicture(
            path: String(decoding: key, as: UTF8.self), person: person, size: size, modified: modified,
            encoding: encoding, problem: problem.isEmpty ? nil : problem)
    }

    package static func encodeLabels(_ labels: StoredLabels) -> [UInt8] {
        var w = ByteWriter()
        w.u8(format)
        w.u64(labels.generation)
        w.u32(UInt32(labels.faces.count))
        for face in labels.faces {
            w.u32(UInt32(face.count))
            for match in face {
                w.string(match.name)
                w.f64(match.distance)
            }
        }
        return w.bytes
    }

    package static func decodeLabels(_ value: UnsafeRawBufferPointer) throws(LedgerError) -> StoredLabels {
        var r = ByteReader(value, what: "labels")
        guard try r.u8() == format else { throw LedgerError.corrupt("labels of an unknown format") }
        let generation = try r.u64()
        var faces: [[PersonMatch]] = []
        for _ in 0..<Int(try r.u32()) {
            var matches: [PersonMatch] = []
            for _ in 0..<Int(try r.u32()) {
                let name = try r.string()
                matches.append(PersonMatch(name: name, distance: try r.f64()))
            }
            faces.append(matches)
        }
        try r.expectEnd()
        return StoredLabels(generation: generation, faces: faces)
    }

    package static func encodeState(_ state: PeopleState) -> [UInt8] {
        var w = ByteWriter()
        w.u8(format)
        w.u64(state.generation)
        w.f64(state.tolerance)
        w.u64(state.relabelledThrough)
        if let cursor = state.cursor {
            w.u8(1)
            w.raw(cursor.bytes)
        } else {
            w.u8(0)
        }
        w.u64(UInt64(state.visited))
        return w.bytes
    }

    package static func decodeState(_ value: UnsafeRawBufferPointer) throws(LedgerError) -> PeopleState {
        var r = ByteReader(value, what: "people state")
        guard try r.u8() == format else { throw LedgerError.corrupt("people state of an unknown format") }
        let generation = try r.u64()
        let tolerance = try r.f64()
        let through = try r.u64()
        var cursor: UUID?
        if try r.u8() == 1 { cursor = UUID(bytes: try r.raw(16)) }
        let visited = Int(try r.u64())
        try r.expectEnd()
        return PeopleState(
            generation: generation, tolerance: tolerance, relabelledThrough: through, cursor: cursor, visited: visited)
    }
}
