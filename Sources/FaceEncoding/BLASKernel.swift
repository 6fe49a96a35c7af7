import CDlibFace

#if canImport(Glibc)
import Glibc
#endif

/// The matrix-product kernel OpenBLAS runs the face network (and dlib's CNN detector) on, and the one
/// step that makes it the one this CPU deserves.
///
/// OpenBLAS picks its kernel from the CPU's model number when the library loads. A model newer than
/// the library knows gets its generic x86_64 kernel, `Prescott` (SSE3): Debian 12's OpenBLAS 0.3.21
/// does this on Xeons after Sapphire Rapids and on virtual machines that report generic models, and
/// the face network then runs at about half the speed of the AVX2 kernel. The choice can only be
/// changed before the library loads, through `OPENBLAS_CORETYPE`, so `useAVX2KernelIfOpenBLASChoseAnOlderOne`
/// sets it and executes the same program again, once. An `OPENBLAS_CORETYPE` already set (by an admin,
/// or by that re-execution) is always kept.
public enum BLASKernel {
    /// The kernel the re-execution asks for: AVX2 and FMA, which facewatch's own engine needs anyway
    /// (`CPUFeatures`), so every CPU facewatch runs on has what it uses.
    public static let avx2Kernel = "Haswell"

    /// OpenBLAS's kernels that use neither AVX2 nor FMA, as `openblas_get_corename` names them
    /// (lower-cased): choosing one of these on a CPU with AVX2 leaves half the speed unused.
    static let olderKernels: Set<String> = [
        "unknown", "katmai", "coppermine", "northwood", "prescott", "banias", "atom", "core2", "penryn",
        "dunnington", "nehalem", "athlon", "opteron", "opteron_sse3", "barcelona", "nano", "sandybridge",
        "bobcat", "bulldozer", "piledriver",
    ]

    /// The kernel OpenBLAS chose for this process (e.g. "Haswell"), or nil when dlib's BLAS is not
    /// OpenBLAS.
    public static var current: String? {
        guard let name = fwd_blas_kernel() else { return nil }
        return String(cString: name)
    }

    /// The kernel to ask OpenBLAS for instead of `current`, or nil to keep it.
    ///
    /// - Parameters:
    ///   - current: the kernel OpenBLAS chose (nil: not OpenBLAS).
    ///   - requested: the value of `OPENBLAS_CORETYPE` (nil: not set). A set value always wins.
    ///   - cpuHasAVX2: whether the CPU supports AVX2 and FMA.
    /// - Returns: `avx2Kernel` when OpenBLAS chose one of its pre-AVX2 kernels on its own on a CPU
    ///   with AVX2 and FMA; nil otherwise.
    public static func replacement(current: String?, requested: String?, cpuHasAVX2: Bool) -> String? {
        guard requested == nil, cpuHasAVX2, let current, olderKernels.contains(current.lowercased()) else {
            return nil
        }
        return avx2Kernel
    }

    /// When `replacement` says so, sets `OPENBLAS_CORETYPE` and executes this program again with the
    /// same arguments (the process keeps its pid, so systemd and `Type=notify` see nothing of it).
    /// Returns when no change is needed or when the re-execution fails (then nothing changes: the
    /// process carries on with the kernel OpenBLAS chose). Call it first, before any thread, file or
    /// socket the program opens.
    public static func useAVX2KernelIfOpenBLASChoseAnOlderOne() {
        let requested = getenv("OPENBLAS_CORETYPE").map { String(cString: $0) }
        guard let kernel = replacement(current: current, requested: requested, cpuHasAVX2: CPUFeatures.hasAVX2)
        else { return }
        setenv("OPENBLAS_CORETYPE", kernel, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // execv returns only when it failed: keep the kernel OpenBLAS chose.
        unsetenv("OPENBLAS_CORETYPE")
    }
}
