import FaceRoot
import Glibc

/// One inotify instance (`inotify_init1(IN_NONBLOCK | IN_CLOEXEC)`): its file descriptor, its
/// watches, and the decoding of the events read from it.
///
/// Not thread-safe and not Sendable: ``Inbox`` confines it to its serial queue.
final class InotifyWatcher {
    /// One decoded `struct inotify_event`.
    struct Event: Equatable {
        /// The watch descriptor (-1 for `IN_Q_OVERFLOW`).
        var watch: Int32
        var mask: UInt32
        /// Pairs an `IN_MOVED_FROM` with its `IN_MOVED_TO`.
        var cookie: UInt32
        /// The entry's name inside the watched directory, raw bytes (may not be UTF-8); empty for an
        /// event on the watched directory itself.
        var name: [UInt8]

        func has(_ flag: Int32) -> Bool { mask & UInt32(bitPattern: flag) != 0 }
    }

    /// The inotify file descriptor (non-blocking, close-on-exec).
    let descriptor: Int32
    private var closed = false

    init() throws(FileSystemError) {
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { throw .current("inotify_init1", "") }
        descriptor = fd
    }

    deinit { close() }

    /// `inotify_add_watch`. Watching a directory already watched returns its existing descriptor.
    func addWatch(_ path: String, mask: Int32) throws(FileSystemError) -> Int32 {
        let wd = inotify_add_watch(descriptor, path, UInt32(bitPattern: mask))
        guard wd >= 0 else { throw .current("inotify_add_watch", path) }
        return wd
    }

    /// `inotify_rm_watch`; a descriptor the kernel already dropped is ignored.
    func removeWatch(_ watch: Int32) {
        _ = inotify_rm_watch(descriptor, watch)
    }

    /// Reads the events queued now (never blocks). At most `maxReads` reads of 64 KiB, so a flood
    /// cannot starve the rest of the queue; a level-triggered read source calls again for the rest.
    /// Returns the events and whether the queue was drained.
    func readEvents(maxReads: Int = 16) throws(FileSystemError) -> (events: [Event], drained: Bool) {
        let capacity = 64 * 1024
        var events: [Event] = []
        let buffer = UnsafeMutableRawBufferPointer.allocate(
            byteCount: capacity, alignment: MemoryLayout<inotify_event>.alignment)
        defer { buffer.deallocate() }
        for _ in 0..<maxReads {
            let count = read(descriptor, buffer.baseAddress, capacity)
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { return (events, true) }
                throw .current("read", "inotify")
            }
            if count == 0 { return (events, true) }
            InotifyWatcher.decode(UnsafeRawBufferPointer(rebasing: buffer[0..<count]), into: &events)
        }
        return (events, false)
    }

    /// Decodes a buffer of `struct inotify_event { int wd; uint32_t mask, cookie, len; char name[len]; }`.
    static func decode(_ bytes: UnsafeRawBufferPointer, into events: inout [Event]) {
        let header = 16
        var offset = 0
        while offset + header <= bytes.count {
            let watch = bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self)
            let mask = bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
            let cookie = bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self)
            let length = Int(bytes.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
            let nameStart = offset + header
            let nameEnd = min(nameStart + length, bytes.count)
            var name = Array(bytes[nameStart..<nameEnd])
            if let nul = name.firstIndex(of: 0) { name.removeSubrange(nul...) }  // NUL padding
            events.append(Event(watch: watch, mask: mask, cookie: cookie, name: name))
            offset = nameStart + length
        }
    }

    /// Closes the descriptor (all watches go with it). Idempotent.
    func close() {
        guard !closed else { return }
        closed = true
        _ = Glibc.close(descriptor)
    }
}
