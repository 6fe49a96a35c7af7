import FaceCore
import FaceMatch
import FaceTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The face table's file is read as untrusted bytes and written without opening anything that was
/// already there.
@Suite(.timeLimit(.minutes(1)))
struct FaceTableFileTests {
    /// A header (`FWFTABL1`, `rows`, a zero stamp) followed by `body` bytes.
    static func file(rows: UInt64, body: Int) -> Data {
        var bytes = [UInt8](repeating: 0, count: 64 + body)
        bytes.replaceSubrange(0..<8, with: Array("FWFTABL1".utf8))
        withUnsafeBytes(of: rows.littleEndian) { bytes.replaceSubrange(8..<16, with: $0) }
        return Data(bytes)
    }

    @Test(arguments: [UInt64.max, UInt64(Int.max), 1 << 50, 3])
    func aCorruptRowCountIsNoTableNotATrap(rows: UInt64) throws {
        let scratch = ScratchDirectory()
        defer { scratch.remove() }
        let path = scratch.appending("t.f32")
        // One real row's worth of body (128 floats and a reference): any other count is a lie.
        try Self.file(rows: rows, body: 128 * 4 + 20).write(to: URL(fileURLWithPath: path))
        #expect(FaceTableFile.read(path) == nil)
        try Self.file(rows: 1, body: 128 * 4 + 20).write(to: URL(fileURLWithPath: path))
        #expect(FaceTableFile.read(path)?.count == 1)
    }

    @Test func writingFollowsNoSymlinkAtTheTemporaryName() throws {
        let scratch = ScratchDirectory()
        defer { scratch.remove() }
        let path = scratch.appending("t.f32")
        let victim = scratch.appending("victim")
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: victim))
        // The name the writer used to take (`<path>.<pid>.tmp`), planted as a symlink.
        #expect(symlink(victim, path + ".\(getpid()).tmp") == 0)
        let (table, _) = NearestFacesTests.randomTable(rows: 2, seed: 9)
        try FaceTableFile.write(table, to: path)
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "keep me")
        #expect(FaceTableFile.read(path)?.count == 2)
        let left = try FileManager.default.contentsOfDirectory(atPath: scratch.path)
        #expect(left.filter { $0.hasSuffix(".tmp") } == ["t.f32.\(getpid()).tmp"], "\(left)")
    }

    @Test func aTableReadFromItsFileChangesInMemoryAndLeavesTheFileAsItWas() throws {
        let scratch = ScratchDirectory()
        defer { scratch.remove() }
        let path = scratch.appending("t.f32")
        let (table, _) = NearestFacesTests.randomTable(rows: 5, seed: 11)
        try FaceTableFile.write(table, to: path)
        var read = try #require(FaceTableFile.read(path))
        #expect(read.references == table.references && read.components == table.components)
        let added = [Float](repeating: 0.25, count: FaceTable.dimensions)
        read.append(added, reference: .init(id: UUID(), face: 7))
        #expect(read.removeRows(of: [table.references[1].id, table.references[3].id]) == 2)
        #expect(read.count == 4)
        #expect(read.references.map(\.id) == [0, 2, 4].map { table.references[$0].id } + [read.references[3].id])
        #expect(read.encoding(at: 1) == table.encoding(at: 2))
        #expect(read.encoding(at: 3) == added)
        #expect(read.nearest(to: added, limit: 1).first?.row == 3)
        // The mapped file was not written through.
        let again = try #require(FaceTableFile.read(path))
        #expect(again.references == table.references && again.components == table.components)
    }
}
