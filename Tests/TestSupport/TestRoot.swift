import FaceCore
import FaceLedger
import FaceRoot
import Foundation
import Logging

import FaceDaemon

/// A root with an inbox, a store and a ledger, as the daemon lays them out.
public struct TestRoot {
    public let directory: ScratchDirectory
    public let ledger: LMDBLedger
    public let store: Store
    public let location: StoreLocation
    public let results: ResultsWriter
    public let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    public init() throws {
        directory = ScratchDirectory("facewatch-root")
        try FileManager.default.createDirectory(atPath: directory.appending("inbox"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(
            atPath: directory.appending("results"), withIntermediateDirectories: true)
        ledger = try LMDBLedger(
            directory: URL(fileURLWithPath: directory.appending("db")), options: LMDBLedger.Options(mapSize: 1 << 24))
        store = try Store(directory: directory.appending("store"))
        location = StoreLocation(root: directory.path, store: store.directory)
        results = ResultsWriter(directory: directory.appending("results"))
    }

    public var inbox: String { directory.appending("inbox") }
    public var ingestor: Ingestor { Ingestor(ledger: ledger, store: store, location: location, logger: logger) }
    public var reconciler: Reconciler {
        Reconciler(ledger: ledger, store: store, location: location, results: results, logger: logger)
    }

    public func drop(_ name: String, _ bytes: [UInt8]) -> Ingestor.Candidate {
        let path = (inbox as NSString).appendingPathComponent(name)
        write(bytes, to: path)
        return Ingestor.Candidate(path: path, name: name, size: Int64(bytes.count))
    }
}
