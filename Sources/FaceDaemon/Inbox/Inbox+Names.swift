import FaceCore
import Dispatch
import FaceRoot
import Glibc
import Logging

// Names and paths: which raw names are usable, how invalid UTF-8 is shown, and the relative paths
// the inbox keeps.

extension Inbox {
    /// The name as a String. A name that is not UTF-8 is renamed in place with its invalid bytes
    /// written `%XX`, and the new name returned; nil if that fails (logged).
    func usableName(_ raw: [UInt8], in directoryName: String) -> String? {
        if let name = String(validating: raw, as: UTF8.self) { return name }
        let repaired = Inbox.escapingInvalidUTF8(raw)
        let directoryPath = absolute(directoryName)
        let target = "\(directoryPath)/\(repaired)"
        guard let handle = try? root?.openDirectory(beneath: directoryName) else { return nil }
        if (try? handle.status(of: repaired)) != nil {
            logger.warning("inbox: cannot rename a non-UTF-8 name in \(directoryPath) to \(repaired): it exists")
            return nil
        }
        let from = raw + [0]
        let renamed = from.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) {
                renameat(handle.descriptor, $0.baseAddress!, handle.descriptor, repaired)
            }
        }
        if renamed != 0 {
            if errno != ENOENT {
                logger.warning(
                    "inbox: cannot rename a non-UTF-8 name to \(target): \(FileSystemError.current("rename", target))")
            }
            return nil
        }
        logger.notice("inbox: renamed a name that is not UTF-8 to \(target)")
        renamedHere.insert(Inbox.join(directoryName, repaired))
        return repaired
    }

    /// `/proc/self/fd/N`: the path inotify is given to watch a directory opened beneath the inbox,
    /// so that the watch is on that very directory, whatever symlinks its path may hold by then.
    static func procPath(_ handle: DirectoryHandle) -> String {
        "/proc/self/fd/\(handle.descriptor)"
    }

    /// `raw` with every byte that is not part of a valid UTF-8 sequence written `%XX`.
    static func escapingInvalidUTF8(_ raw: [UInt8]) -> String {
        var output = ""
        var index = 0
        while index < raw.count {
            let lead = raw[index]
            let length =
                lead < 0x80
                ? 1
                : (0xC2...0xDF).contains(lead)
                    ? 2 : (0xE0...0xEF).contains(lead) ? 3 : (0xF0...0xF4).contains(lead) ? 4 : 0
            if length > 0, index + length <= raw.count,
                let scalar = String(validating: raw[index..<index + length], as: UTF8.self)
            {
                output += scalar
                index += length
            } else {
                output += "%" + String(lead, radix: 16, uppercase: true).leftPadded(to: 2)
                index += 1
            }
        }
        return output
    }

    func absolute(_ relative: String) -> String {
        relative.isEmpty ? directory : "\(directory)/\(relative)"
    }

    static func join(_ directoryName: String, _ name: String) -> String {
        directoryName.isEmpty ? name : "\(directoryName)/\(name)"
    }

    static func parent(of relative: String) -> String {
        guard let slash = relative.lastIndex(of: "/") else { return "" }
        return String(relative[..<slash])
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

private extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
