import FaceRoot
import Glibc
import Synchronization

/// Who else has a file open, told by the kernel through a file lease (`fcntl(F_SETLEASE)`), and the
/// lease that keeps it so while the daemon moves the file.
///
/// A write lease is granted only while no other open file description of the inode exists (reading
/// or writing); a read lease only while none is open for writing. Once granted, another process's
/// `open` of the file (any open, for a write lease; for writing, for a read lease) waits until the
/// holder lets go (at most `/proc/sys/fs/lease-break-time`, 45 s by default) and the kernel marks the
/// lease as breaking, which `F_GETLEASE` shows: so a lease held from the check to the end of a move
/// tells whether anyone opened the file in between. The lease ends when the descriptor is closed.
///
/// Leases need the file's owner or `CAP_LEASE` in the initial user namespace (root has it; the
/// packaged unit, with `PrivateUsers=yes` and no capabilities, does not, so there a member's file is
/// ``unknown``), and a local file system: on NFS, SMB and other network or FUSE file systems (the
/// type `/proc/self/mountinfo` gives the file's device) a writer on another host is invisible to this
/// host's kernel, so the answer there is ``unknown``, whatever `fcntl` says.
///
/// Chosen over scanning `/proc/*/fd`: that needs `CAP_SYS_PTRACE` or root to see other users'
/// descriptors, costs a walk of every descriptor of every process per file, and is stale as soon as
/// it is read, while a lease is one system call that also guards the time after the check.
enum FileSharing: Equatable {
    /// No other open descriptor: a write lease is held.
    case alone
    /// Others have it open for reading only: a read lease is held.
    case readers
    /// Someone has it open for writing: no lease.
    case writers
    /// Cannot be known (the `errno` of the refused lease, or `EREMOTE` for a network file system).
    case unknown(Int32)

    /// Asks the kernel who else has `descriptor`'s file open, taking the strongest lease it grants.
    /// The lease, if any, lasts until the descriptor is closed (or ``release(_:)``).
    static func probe(_ descriptor: Int32) -> FileSharing {
        _ = ignoreLeaseBreakSignal
        if isOnNetworkFileSystem(descriptor) { return .unknown(EREMOTE) }
        if fcntl(descriptor, Self.setLease, Int32(F_WRLCK)) == 0 { return .alone }
        let refused = errno
        guard refused == EAGAIN || refused == EBUSY else { return .unknown(refused) }
        if fcntl(descriptor, Self.setLease, Int32(F_RDLCK)) == 0 { return .readers }
        let again = errno
        return again == EAGAIN || again == EBUSY ? .writers : .unknown(again)
    }

    /// True while the lease taken by ``probe(_:)`` (`self` is `.alone` or `.readers`) is intact: nobody
    /// opened the file since in a way that breaks it. False for any other answer.
    func isIntact(_ descriptor: Int32) -> Bool {
        let held: Int32
        switch self {
        case .alone: held = Int32(F_WRLCK)
        case .readers: held = Int32(F_RDLCK)
        case .writers, .unknown: return false
        }
        return fcntl(descriptor, Self.getLease) == held
    }

    /// `F_SETLEASE` and `F_GETLEASE` (Linux, `<fcntl.h>` with `_GNU_SOURCE`, not imported by Glibc).
    private static let setLease: Int32 = 1024
    private static let getLease: Int32 = 1025

    /// Gives the lease up (a waiting `open` then proceeds).
    static func release(_ descriptor: Int32) {
        _ = fcntl(descriptor, Self.setLease, Int32(F_UNLCK))
    }

    /// A lease that is broken sends its holder `SIGIO` (the kernel makes the lease taker the
    /// descriptor's owner), whose default action ends the process; the daemon learns of breaks by
    /// `F_GETLEASE` instead, so the signal is ignored, once, before the first lease.
    private static let ignoreLeaseBreakSignal: Bool = {
        signal(SIGIO, SIG_IGN)
        return true
    }()

    /// File system types whose writers may be on another host (the kernel here sees neither their
    /// opens nor their closes), as `/proc/self/mountinfo` names them; `fuse.*` (sshfs and the like)
    /// counts too.
    static let networkFileSystemTypes: Set<String> = [
        "nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "9p", "afs", "coda", "glusterfs", "lustre", "ocfs2", "gfs2",
    ]

    /// Whether each device (`st_dev`) is on a network file system, as found once per device.
    private static let networkDevices = Mutex<[UInt64: Bool]>([:])

    /// True when `descriptor`'s file lies on a network file system (``networkFileSystemTypes``).
    static func isOnNetworkFileSystem(_ descriptor: Int32) -> Bool {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { return false }
        let device = UInt64(status.st_dev)
        if let known = networkDevices.withLock({ $0[device] }) { return known }
        let type = fileSystemType(device: device)
        let remote = type.map { networkFileSystemTypes.contains($0) || $0.hasPrefix("fuse.") || $0 == "fuse" } ?? false
        networkDevices.withLock { $0[device] = remote }
        return remote
    }

    /// The type of the file system mounted on `device`, from `/proc/self/mountinfo` (its third
    /// field is `major:minor`, its type follows the ` - ` separator); nil when not found.
    static func fileSystemType(device: UInt64) -> String? {
        guard let file = fopen("/proc/self/mountinfo", "r") else { return nil }
        defer { fclose(file) }
        let wanted = "\(major(device)):\(minor(device))"
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0, let line {
            let text = String(cString: line)
            let fields = text.split(separator: " ")
            guard fields.count > 2, fields[2] == wanted, let dash = fields.firstIndex(of: "-"),
                dash + 1 < fields.count
            else { continue }
            return String(fields[dash + 1])
        }
        return nil
    }

    private static func major(_ device: UInt64) -> UInt64 { ((device >> 32) & 0xFFFF_F000) | ((device >> 8) & 0xFFF) }
    private static func minor(_ device: UInt64) -> UInt64 { ((device >> 12) & 0xFFFF_FF00) | (device & 0xFF) }
}
