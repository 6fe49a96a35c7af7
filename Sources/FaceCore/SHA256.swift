import COpenSSL

/// SHA-256 of a result's source, computed by OpenSSL's libcrypto.
///
/// libcrypto rather than swift-crypto: it is already on every Debian server (libssl3), it uses the
/// CPU's SHA extensions (1.78 GB/s on the 2-core development machine, `openssl speed -evp sha256`),
/// and it adds nothing to a cold build, where swift-crypto would compile BoringSSL on every CI run.
///
/// ```swift
/// SHA256.hex(bytes)                // "e3b0c442…" for no bytes
/// var hash = SHA256(); hash.update(chunk1); hash.update(chunk2); hash.finalize()
/// ```
public struct SHA256: ~Copyable {
    /// libcrypto's digest context, owned by this value and freed with it.
    private let context: OpaquePointer

    /// A fresh hash of no bytes.
    public init() {
        guard let context = EVP_MD_CTX_new(), EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1 else {
            // Only an allocation failure can get here: nothing sensible can continue.
            fatalError("libcrypto cannot start a SHA-256 digest")
        }
        self.context = context
    }

    deinit { EVP_MD_CTX_free(context) }

    /// The 32-byte digest of `bytes`.
    public static func digest(_ bytes: [UInt8]) -> [UInt8] {
        var hash = SHA256()
        hash.update(bytes)
        return hash.finalize()
    }

    /// The digest of `bytes` as 64 lowercase hex digits.
    public static func hex(_ bytes: [UInt8]) -> String {
        Hex.encode(digest(bytes))
    }

    /// Adds `bytes` to the hash.
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Adds the bytes in `buffer` to the hash (no copy).
    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return }
        EVP_DigestUpdate(context, base, buffer.count)
    }

    /// The 32-byte digest of everything added; the value is used up.
    public consuming func finalize() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        _ = digest.withUnsafeMutableBufferPointer { EVP_DigestFinal_ex(context, $0.baseAddress, &length) }
        return digest
    }
}
