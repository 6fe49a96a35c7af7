import FaceEncoding
import Testing

/// OpenBLAS's kernel: which choices are replaced, and that this process's BLAS is found.
@Suite struct BLASKernelTests {
    @Test(arguments: ["Prescott", "prescott", "Core2", "Nehalem", "Sandybridge", "Piledriver", "Unknown"])
    func aKernelWithoutAVX2OnACPUWithAVX2IsReplaced(kernel: String) {
        #expect(BLASKernel.replacement(current: kernel, requested: nil, cpuHasAVX2: true) == BLASKernel.avx2Kernel)
    }

    @Test(arguments: ["Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids", "Excavator"])
    func anAVX2KernelIsKept(kernel: String) {
        #expect(BLASKernel.replacement(current: kernel, requested: nil, cpuHasAVX2: true) == nil)
    }

    @Test func aKernelTheAdminAskedForIsKeptWhateverItIs() {
        #expect(BLASKernel.replacement(current: "Prescott", requested: "Prescott", cpuHasAVX2: true) == nil)
        #expect(BLASKernel.replacement(current: "Prescott", requested: "", cpuHasAVX2: true) == nil)
    }

    @Test func nothingChangesOnACPUWithoutAVX2OrWithoutOpenBLAS() {
        #expect(BLASKernel.replacement(current: "Prescott", requested: nil, cpuHasAVX2: false) == nil)
        #expect(BLASKernel.replacement(current: nil, requested: nil, cpuHasAVX2: true) == nil)
    }

    /// dlib's BLAS on the supported system (Debian 12, `libopenblas0`) is OpenBLAS.
    @Test func thisProcessFindsOpenBLASsKernel() throws {
        let kernel = try #require(BLASKernel.current)
        #expect(!kernel.isEmpty)
    }
}
