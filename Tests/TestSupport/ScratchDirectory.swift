import Foundation

/// A fresh directory under the system's temporary directory, removed by `remove()`.
public struct ScratchDirectory {
    public let path: String

    public init(_ label: String = "facewatch-test") {
        let base = (NSTemporaryDirectory() as NSString).appendingPathComponent(
            "\(label)-\(UUID().uuidString.prefix(8))")
        try! FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        path = base
    }

    public func appending(_ component: String) -> String {
        (path as NSString).appendingPathComponent(component)
    }

    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}
