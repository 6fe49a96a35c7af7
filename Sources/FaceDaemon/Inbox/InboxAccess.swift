import FaceCore
import Glibc
import Logging

/// The inbox's default ACL: whatever a member creates in the inbox — a file, or a subfolder made
/// with a umask of 022 or 077 — the daemon's user may read it and take files out of it.
///
/// Without it, a member's subfolder is `2755` (umask 022): the daemon, a group member, can read
/// its files but not rename or unlink them, and a `0600` file (umask 077) cannot even be read. A
/// default ACL is inherited at creation and overrides the creator's umask for the entries it
/// names, so new entries get `user:<daemon>:rwx` (files `rw-`). Other members get `r-x` through the
/// group entry, not `w`: a member's subfolder stays theirs (plus the daemon's). The packaged
/// tmpfiles.d line sets the same ACL; the daemon sets it at start when the inbox has none and it
/// owns the inbox (`make run`, a hand-made inbox). A member can still take it away from their own
/// subfolder (`chmod 755 sub` lowers its mask): the daemon then cannot take those files, says so
/// once, lists them in `status`, and tries again at each rescan.
enum InboxAccess {
    /// The extended attribute Linux stores a default ACL in.
    static let attribute = "system.posix_acl_default"

    /// Sets the default ACL on `inbox` unless it has one or the daemon does not own it. Failures
    /// (a file system without ACLs) are logged, never fatal.
    static func grantDaemonAccess(inbox: String, logger: Logger) {
        let fd = open(inbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_uid == geteuid() else { return }
        guard let get = XAttr.get, let set = XAttr.set else { return }
        if get(fd, attribute, nil, 0) > 0 { return }  // the administrator's own ACL is kept
        let acl = defaultACL(daemon: geteuid())
        let result = acl.withUnsafeBytes { set(fd, attribute, $0.baseAddress, $0.count, 0) }
        if result == 0 {
            logger.info("inbox: default ACL set: the daemon may take what members create in it")
        } else {
            logger.warning(
                "inbox: cannot set its default ACL (\(systemErrorText(errno))): files in subfolders members create with a umask of 022 cannot be taken"
            )
        }
    }

    /// The binary `posix_acl_xattr` value: version 2, then (tag, permissions, id) entries sorted by
    /// tag: owner rwx, the daemon's user rwx, group r-x, mask rwx, others none.
    static func defaultACL(daemon uid: uid_t) -> [UInt8] {
        let undefined = UInt32.max
        let entries: [(tag: UInt16, permissions: UInt16, id: UInt32)] = [
            (0x01, 7, undefined),  // ACL_USER_OBJ
            (0x02, 7, UInt32(uid)),  // ACL_USER: the daemon
            (0x04, 5, undefined),  // ACL_GROUP_OBJ
            (0x10, 7, undefined),  // ACL_MASK
            (0x20, 0, undefined),  // ACL_OTHER
        ]
        var bytes = littleEndian(UInt32(2))
        for entry in entries {
            bytes += littleEndian(entry.tag) + littleEndian(entry.permissions) + littleEndian(entry.id)
        }
        return bytes
    }

    private static func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }
}

/// `fgetxattr(2)` and `fsetxattr(2)`, looked up at run time: Swift's Glibc module does not import
/// <sys/xattr.h>.
private enum XAttr {
    typealias Get = @convention(c) (Int32, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int) -> Int
    typealias Set = @convention(c) (Int32, UnsafePointer<CChar>, UnsafeRawPointer?, Int, Int32) -> Int32
    static let get: Get? = symbol("fgetxattr").map { unsafeBitCast($0, to: Get.self) }
    static let set: Set? = symbol("fsetxattr").map { unsafeBitCast($0, to: Set.self) }

    private static func symbol(_ name: String) -> UnsafeMutableRawPointer? {
        dlsym(UnsafeMutableRawPointer(bitPattern: 0), name)  // RTLD_DEFAULT is the null handle in glibc
    }
}
