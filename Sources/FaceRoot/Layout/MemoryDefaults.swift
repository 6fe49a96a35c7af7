import Foundation

/// The memory budget's default, which the configuration reports and the pipeline enforces.
public enum MemoryDefaults {
    /// Three quarters of the service's cgroup limit (`memory.high`, else `memory.max`) when one is
    /// set, else half of the machine's memory.
    public static func budgetBytes(
        cgroupDirectory: String? = currentCgroupDirectory(),
        physicalMemory: UInt64 = ProcessInfo.processInfo.physicalMemory
    ) -> Int {
        for file in ["memory.high", "memory.max"] {
            guard let directory = cgroupDirectory,
                let text = try? String(contentsOfFile: directory + "/" + file, encoding: .utf8),
                let limit = Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
            else { continue }
            return limit / 4 * 3
        }
        return Int(physicalMemory / 2)
    }

    /// This process's cgroup (v2) directory under /sys/fs/cgroup, from /proc/self/cgroup.
    public static func currentCgroupDirectory() -> String? {
        guard let text = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("0::") {
            return "/sys/fs/cgroup" + line.dropFirst(3)
        }
        return nil
    }
}
