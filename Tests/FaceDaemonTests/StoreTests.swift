import FaceCore
import FaceRoot
import Foundation
import Glibc
import Testing
@testable import FaceDaemon

private typealias FS = FileSystemTestSupport

@Suite(.timeLimit(.minutes(5))) struct StoreTests {
    private let jpegBytes: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 0x4A, 0x46, 0x49, 0x46]
    private let pngBytes: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13]

    @Test func pathsAreShardedByTheLowercaseUUID() throws {
        let scratch = FileSystemScratch("store")
        let store = try Store(directory: scratch.sub("store/"))
        #expect(store.directory == scratch.sub("store"))
        #expect(FS.kind(store.directory) == .directory)
        let id = try #require(UUID(uuidString: "AB12CD34-0000-4000-8000-00000000000F"))
        #expect(Store.shard(of: id) == "ab")
        #expect(store.shardDirectory(for: id) == scratch.sub("store/ab"))
        #expect(store.path(for: id, ext: "jpg") == scratch.sub("store/ab/ab12cd34-0000-4000-8000-00000000000f.jpg"))
    }

    @Test func adoptRenamesTheFileIntoItsShard() throws {
        let scratch = FileSystemScratch("store")
        let store = try Store(directory: scratch.sub("store"))
        let inbox = scratch.directory("inbox/party")
        FS.write("\(inbox)/photo.JPG", jpegBytes)
        let inode = FS.lstatOrNil("\(inbox)/photo.JPG")?.st_ino
        let id = UUID()
        let ext = Store.fileExtension(forContentAt: "\(inbox)/photo.JPG", originalName: "party/photo.JPG")
        let stored = try store.adopt("\(inbox)/photo.JPG", as: id, ext: ext)
        #expect(
            stored
                == StoredFile(
                    id: id, fileExtension: "jpg", path: store.path(for: id, ext: "jpg"), kind: .regular,
                    size: Int64(jpegBytes.count)))
        #expect(!FS.exists("\(inbox)/photo.JPG"))
        #expect(FS.read(stored.path) == jpegBytes)
        #expect(FS.lstatOrNil(stored.path)?.st_ino == inode)  // a rename, not a copy
        #expect(store.find(id) == stored)
        #expect(try store.scan() == [stored])
    }

    @Test func adoptWithoutSyncingStillRenamesAndSyncingLaterWorks() throws {
        let scratch = FileSystemScratch("store")
        let store = try Store(directory: scratch.sub("store"))
        var stored: [StoredFile] = []
        for index in 0..<3 {
            FS.write(scratch.sub("\(index).png"), pngBytes)
            stored.append(try store.adopt(scratch.sub("\(index).png"), as: UUID(), ext: "png", syncDirectories: false))
        }
        try DurableFile.syncDirectories(stored.map { DurableFile.parentDirectory(of: $0.path) } + [scratch.path])
        #expect(stored.allSatisfy { FS.read($0.path) == pngBytes })
        #expect(FS.names(scratch.path) == ["store"])
    }

    @Test func adoptNeverReplacesAStoredFile() throws {
        let scratch = FileSystemScratch("store")
        let store = try Store(directory: scratch.sub("store"))
        let id = UUID()
        FS.write(scratch.sub("one.png"), pngBytes)
        FS.write(scratch.sub("two.png"), pngBytes + [1])
        _ = try store.adopt(scratch.sub("one.png"), as: id, ext: "png")
        let error = #expect(throws: FileSystemError.self) {
            try store.adopt(scratch.sub("two.png"), as: id, ext: "png")
        }
        #expect(error?.code == EEXIST)
        #expect(FS.read(scratch.sub("two.png")) == pngBytes + [1])
        #expect(FS.read(store.path(for: id, ext: "png")) == pngBytes)
    }

    @Test func adoptRefusesDirectoriesAndMissingSources() throws {
        let scratch = FileSystemScratch("store")
        let store = try Store(directory: scratch.sub("store"))
        scratch.directory("dir")
        let isDirectory = #expect(throws: FileSystemError.self) {
            try store.adopt(scratch.sub("dir"), as: UUID(), ext: "bin")
        }
        #expect(isDirectory?.code == EISDIR)
        let missing = #expect(throws: FileSystemError.self) {
            try store.adopt(scratch.sub("gone"), as: UUID(), ext: "bin")
        }
        #expect(missing?.code == ENOENT)
    }

    @Test func adoptMovesSymlinksFifosAndSocketsThemselves() throws {
        let scratch = FileSystemScratch("store")
        let store = try Store(directory: scratch.sub("store"))
        scratch.directory("inbox")
        FS.write(scratch.sub("secret.jpg"), jpegBytes)
        #expect(symlink(scratch.sub("secret.jpg"), scratch.sub("inbox/link.jpg")) == 0)
        #expect(mkfifo(scratch.sub("inbox/pipe.jpg"), 0o644) == 0)
        FS.makeSocket(scratch.sub("inbox/sock"))

        // Extensions never come from the target of a symlink, nor from reading a fifo.
        #expect(Store.fileExtension(forContentAt: scratch.sub("inbox/link.jpg"), originalName: "link.png") == "png")
        #expect(Store.fileExtension(forContentAt: scratch.sub("inbox/pipe.jpg"), originalName: "pipe.jpg") == "jpg")

        let link = try store.adopt(scratch.sub("inbox/link.jpg"), as: UUID(), ext: "jpg")
        let pipe = try store.adopt(scratch.sub("inbox/pipe.jpg"), as: UUID(), ext: "jpg")
        let sock = try store.adopt(scratch.sub("inbox/sock"), as: UUID(), ext: "bin")
        #expect(link.kind == .symlink && FS.kind(link.path) == .symlink)
        #expect(FS.readLink(link.path) == scratch.sub("secret.jpg"))
        #expect(pipe.kind == .fifo && FS.kind(pipe.path) == .fifo)
        #expect(sock.kind == .socket && FS.kind(sock.path) == .socket && sock.isInStore)
        #expect(FS.names(scratch.sub("inbox")).isEmpty)
        #expect(FS.read(scratch.sub("secret.jpg")) == jpegBytes)
        #expect(Set(try store.scan().map(\.id)) == [link.id, pipe.id, sock.id])
    }

    @Test(
        .enabled(
            if: SecondFileSystem.unavailableReason == nil,
            "needs a second file system: mounting a tmpfs failed and /dev/shm is on /tmp's file system"))
    func adoptAcrossFileSystemsCopiesFsyncsAndUnlinks() throws {
        let scratch = FileSystemScratch("store")
        let other = try #require(SecondFileSystem.make())
        let store = try Store(directory: "\(other.path)/store")
        let inbox = scratch.directory("inbox")
        FS.write("\(inbox)/a.jpg", jpegBytes)
        FS.write(scratch.sub("target"), "t")
        #expect(symlink(scratch.sub("target"), "\(inbox)/link") == 0)
        #expect(mkfifo("\(inbox)/pipe", 0o600) == 0)
        FS.makeSocket("\(inbox)/sock")

        let file = try store.adopt("\(inbox)/a.jpg", as: UUID(), ext: "jpg")
        #expect(FS.read(file.path) == jpegBytes && file.isInStore)
        let link = try store.adopt("\(inbox)/link", as: UUID(), ext: "bin")
        #expect(FS.readLink(link.path) == scratch.sub("target"))
        let pipe = try store.adopt("\(inbox)/pipe", as: UUID(), ext: "bin")
        #expect(FS.kind(pipe.path) == .fifo)
        // A socket cannot be recreated on another file system: unlinked, recorded as not in the store.
        let sock = try store.adopt("\(inbox)/sock", as: UUID(), ext: "bin")
        #expect(sock.kind == .socket && !sock.isInStore && !FS.exists(sock.path))

        #expect(FS.names(inbox).isEmpty)
        // No journal or temporary file is left behind.
        #expect(FS.names(store.directory).allSatisfy { $0.count == 2 })
        for shard in FS.names(store.directory) {
            #expect(FS.names("\(store.directory)/\(shard)").allSatisfy { !$0.hasPrefix(".") })
        }
        #expect(Set(try store.scan().map(\.id)) == [file.id, link.id, pipe.id])
    }

    /// A store on `scratch/store` whose move of `inbox/a.jpg` to a fresh id was journaled: the
    /// journal a move writes before it starts, as a crash would leave it.
    private func journaledMove(_ scratch: FileSystemScratch) throws -> (Store, UUID) {
        let store = try Store(directory: scratch.sub("store"))
        scratch.directory("inbox")
        let id = UUID()
        FS.write(scratch.sub("inbox/a.jpg"), jpegBytes)
        let source = try #require(FS.lstatOrNil(scratch.sub("inbox/a.jpg")))
        let journal = MoveJournal(
            device: UInt64(source.st_dev), inode: UInt64(source.st_ino),
            source: scratch.sub("inbox/a.jpg"), destination: store.path(for: id, ext: "jpg"))
        FS.write("\(store.directory)/.moving-\(id.uuidString.lowercased())", journal.encoded())
        return (store, id)
    }

    @Test func scanFinishesAMoveInterruptedAfterTheRename() throws {
        let scratch = FileSystemScratch("store")
        let (store, id) = try journaledMove(scratch)
        // The state a crash leaves between "copy renamed into the store" and "source unlinked".
        try DurableFile.createDirectories(store.shardDirectory(for: id))
        FS.write(store.path(for: id, ext: "jpg"), jpegBytes)
        FS.write("\(store.shardDirectory(for: id))/.\(id.uuidString.lowercased()).jpg.1234.tmp", [1])

        let found = try store.scan()
        #expect(found.map(\.id) == [id])
        #expect(!FS.exists(scratch.sub("inbox/a.jpg")))  // would otherwise be ingested twice
        #expect(FS.names(store.directory) == [Store.shard(of: id)])
        #expect(FS.names(store.shardDirectory(for: id)) == ["\(id.uuidString.lowercased()).jpg"])
    }

    @Test func scanAbandonsAMoveInterruptedBeforeTheRename() throws {
        let scratch = FileSystemScratch("store")
        let (store, _) = try journaledMove(scratch)
        #expect(try store.scan().isEmpty)
        #expect(FS.read(scratch.sub("inbox/a.jpg")) == jpegBytes)  // still there to be taken again
        #expect(FS.names(store.directory).isEmpty)
    }

    @Test func scanListsOnlyWellFormedNamesInTheirShard() throws {
        let scratch = FileSystemScratch("store")
        let store = try Store(directory: scratch.sub("store"))
        let good = UUID()
        FS.write(scratch.sub("x.png"), pngBytes)
        let stored = try store.adopt(scratch.sub("x.png"), as: good, ext: "png")
        let shard = store.shardDirectory(for: good)
        let other = UUID(uuidString: "00000000-0000-4000-8000-000000000000")!
        FS.write("\(shard)/notes.txt", "x")
        FS.write("\(shard)/\(good.uuidString).png", "uppercase")
        if Store.shard(of: good) != "00" { FS.write("\(shard)/\(other.uuidString.lowercased()).png", "wrong shard") }
        scratch.directory("store/zz")
        FS.write(scratch.sub("store/README"), "x")
        #expect(try store.scan() == [stored])
        #expect(store.find(other) == nil)
    }

    @Test func findLocatesAnyExtension() throws {
        let scratch = FileSystemScratch("store")
        let store = try Store(directory: scratch.sub("store"))
        let id = UUID()
        FS.write(scratch.sub("doc.HEIC"), "heic")
        let ext = Store.fileExtension(forContentAt: scratch.sub("doc.HEIC"), originalName: "doc.HEIC")
        #expect(ext == "heic")
        let stored = try store.adopt(scratch.sub("doc.HEIC"), as: id, ext: ext)
        #expect(store.find(id) == stored)
        #expect(store.find(UUID()) == nil)
    }

    @Test func extensionComesFromMagicThenNameThenBin() {
        #expect(Store.fileExtension(magic: jpegBytes, originalName: "x.png") == "jpg")
        #expect(Store.fileExtension(magic: pngBytes, originalName: "x.jpg") == "png")
        #expect(Store.fileExtension(magic: [0x47, 0x49, 0x46], originalName: "anim.GIF") == "gif")
        #expect(Store.fileExtension(magic: [], originalName: "dir/weird.t@r!gz") == "trgz")
        #expect(Store.fileExtension(magic: [], originalName: "x.abcdefghijk") == "abcdefgh")
        #expect(Store.fileExtension(magic: [], originalName: "noext") == "bin")
        #expect(Store.fileExtension(magic: [], originalName: ".hidden") == "bin")
        #expect(Store.fileExtension(magic: [], originalName: "x.%%%") == "bin")
        #expect(Store.fileExtension(magic: [], originalName: "x.jpé") == "jp")
        #expect(FileExtension.sanitized("JPEG") == "jpeg")
        #expect(FileExtension.sanitized("") == nil)
    }

    @Test func aNameThatIsAUUIDRequestsIt() throws {
        let id = try #require(UUID(uuidString: "6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab"))
        #expect(Store.requestedID(fromName: "6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab.jpg") == id)
        #expect(Store.requestedID(fromName: "party/6F1C2D3E-4A5B-4C6D-8E7F-0123456789AB.PNG") == id)
        #expect(Store.requestedID(fromName: "6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab") == id)
        #expect(Store.requestedID(fromName: "6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab.tar.gz") == id)
        #expect(Store.requestedID(fromName: "6f1c2d3e-4a5b-4c6d-8e7f-0123456789abx.jpg") == nil)
        #expect(Store.requestedID(fromName: "photo.jpg") == nil)
        #expect(Store.requestedID(fromName: "6f1c2d3e4a5b4c6d8e7f0123456789ab.jpg") == nil)
    }
}
