import FaceTestSupport
import Foundation
import Testing

@testable import FaceDaemon

/// face_recognition's rule for the known folder, and facewatch's one level of folders.
@Suite(.timeLimit(.minutes(1)))
struct KnownFolderTests {
    @Test func baseNamesAndFoldersNameThePeople() throws {
        let directory = ScratchDirectory()
        defer { directory.remove() }
        let known = directory.appending("known")
        try FileManager.default.createDirectory(atPath: known + "/bob/deeper", withIntermediateDirectories: true)
        let png = TinyPNG.make(seed: 1)
        for name in [
            "alice.jpg", "Carol Smith.JPEG", "dave.png", "notes.txt", ".hidden.jpg", "eve.jpg.part", "frank.png~",
            "bob/beach.jpg", "bob/2019.png", "bob/.partial.png", "bob/readme.md", "bob/deeper/too-deep.jpg",
        ] {
            write(png, to: known + "/" + name)
        }
        #expect(symlink(known + "/alice.jpg", known + "/link.jpg") == 0)
        let entries = KnownFolder.scan(known)
        #expect(entries.map(\.path) == ["Carol Smith.JPEG", "alice.jpg", "bob/2019.png", "bob/beach.jpg", "dave.png"])
        #expect(entries.map(\.person) == ["Carol Smith", "alice", "bob", "bob", "dave"])
        #expect(entries.allSatisfy { $0.size == Int64(png.count) && $0.modified > 1_700_000_000 })
        #expect(KnownFolder.scan(directory.appending("missing")).isEmpty)
    }
}
