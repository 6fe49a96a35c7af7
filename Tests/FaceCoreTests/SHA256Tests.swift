import Testing
@testable import FaceCore

@Suite(.timeLimit(.minutes(1))) struct SHA256Tests {
    // FIPS 180-4 / NIST CSRC example vectors.
    @Test func knownVectors() {
        #expect(SHA256.hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(
            SHA256.hex(Array(repeating: UInt8(ascii: "a"), count: 1_000_000))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    // Padding edge cases around the 56- and 64-byte boundaries (values from coreutils sha256sum).
    @Test func blockBoundaries() {
        #expect(
            SHA256.hex(Array(repeating: 0x61, count: 55))
                == "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318")
        #expect(
            SHA256.hex(Array(repeating: 0x61, count: 56))
                == "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a")
        #expect(
            SHA256.hex(Array(repeating: 0x61, count: 64))
                == "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb")
    }

    @Test func incrementalUpdatesMatchOneShot() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        for split in [0, 1, 63, 64, 65, 500, 999, 1000] {
            var hash = SHA256()
            hash.update(Array(bytes[..<split]))
            hash.update(Array(bytes[split...]))
            #expect(Hex.encode(hash.finalize()) == SHA256.hex(bytes), "split at \(split)")
        }
    }

    @Test func hexRoundTrips() {
        let bytes = (0...255).map { UInt8($0) }
        #expect(Hex.decode(Hex.encode(bytes)) == bytes)
        #expect(Hex.encode([0x00, 0x0f, 0xa0, 0xff]) == "000fa0ff")
        #expect(Hex.decode("0") == nil)
        #expect(Hex.decode("0G") == nil)
        #expect(Hex.decode("AB") == nil)  // records keep lowercase only
    }
}
