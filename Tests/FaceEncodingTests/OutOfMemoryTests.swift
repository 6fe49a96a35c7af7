import CDlibFace
import CImageCodec
import FaceCore
import Testing

@testable import FaceEncoding
@testable import FaceImage

#if canImport(Glibc)
import Glibc
#endif

/// Running out of memory says something about the machine at that moment, not about the file: it
/// is an `ENOMEM` `io_error` (which the daemon retries, `TransientRetry`), never `too_many_pixels`.
@Suite struct OutOfMemoryTests {
    @Test func aDecoderAllocationFailureIsATransientIOError() {
        let failure = ImageDecoder.failure(FWC_OUT_OF_MEMORY, [0], fwc_header())
        #expect(failure.code == .ioError && failure.systemError == ENOMEM, "\(failure)")
        // A size over the limit stays the file's own result.
        #expect(ImageDecoder.failure(FWC_TOO_MANY_PIXELS, [0], fwc_header()).code == .tooManyPixels)
    }

    @Test func anEngineAllocationFailureIsATransientIOError() {
        let image = ImageInfo(format: .jpeg, width: 8000, height: 6000)
        let failure = FaceEngine.failure(for: FWD_OUT_OF_MEMORY, message: "std::bad_alloc", image: image)
        #expect(failure.code == .ioError && failure.systemError == ENOMEM, "\(failure)")
    }
}
