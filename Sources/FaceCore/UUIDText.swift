import Foundation

extension UUID {
    /// The lowercase text form used in file names, JSON, the ledger's messages and logs.
    public var lowercased: String { uuidString.lowercased() }
}
