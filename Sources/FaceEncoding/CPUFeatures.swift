import CDlibFace

/// What the CPU can do. The C++ engine is compiled with `-mavx2` (see Package.swift) and the HOG filter
/// bank uses FMA, so on x86_64 a CPU without them would die with an illegal instruction: check
/// `unsupportedReason` first.
public enum CPUFeatures {
    /// True when the CPU supports AVX2 and FMA (always true off x86_64, where it does not apply).
    public static var hasAVX2: Bool { fwd_cpu_has_avx2() == 1 }

    /// A plain sentence saying why this CPU cannot run the engine, or nil when it can.
    public static var unsupportedReason: String? {
        #if arch(x86_64)
        if !hasAVX2 {
            return "this CPU does not support AVX2 and FMA, which facewatch's face engine is compiled for "
                + "(any x86_64 CPU since 2013-2015 has them)"
        }
        #endif
        return nil
    }
}
