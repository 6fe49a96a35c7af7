import FaceCore
import Testing

@Suite(.timeLimit(.minutes(1))) struct WriterTemporaryNameTests {
    @Test func theRuleReadsRawBytesSoNamesThatAreNotUTF8FollowIt() {
        // rsync's temporary name for a Latin-1 "été.jpg", and other writers' names, as raw bytes.
        let rsync: [UInt8] = [0x2E, 0xE9, 0x74, 0xE9] + Array(".jpg.Ab12Cd".utf8)
        #expect(WriterTemporaryName.matches(bytes: rsync))
        #expect(WriterTemporaryName.matches(bytes: [0xE9] + Array(".PART".utf8)))
        #expect(WriterTemporaryName.matches(bytes: [0xFF] + Array(".Tmp".utf8)))
        #expect(WriterTemporaryName.matches(bytes: [0xFF, 0x7E]))
        #expect(!WriterTemporaryName.matches(bytes: [0xE9, 0x74, 0xE9] + Array(".jpg".utf8)))
        #expect(!WriterTemporaryName.matches(bytes: Array("tmp".utf8)))
        #expect(!WriterTemporaryName.matches(bytes: []))
        // The String form is the same rule.
        for name in [".x.jpg", "a.part", "b.TMP", "c~", "photo.jpg", "tmp", "part"] {
            #expect(WriterTemporaryName.matches(name) == WriterTemporaryName.matches(bytes: Array(name.utf8)))
        }
    }
}
