import FaceCore
import FaceEncoding
import Synchronization
import Testing

@testable import FaceDaemon

/// The admission rules of `MemoryBudget`, without images: what fits starts, what does not waits
/// without blocking smaller ones, and one larger than the budget runs alone.
@Suite(.timeLimit(.minutes(1)))
struct MemoryBudgetTests {
    @Test func whatDoesNotFitWaitsAndSmallerOnesPassIt() async {
        let budget = MemoryBudget(bytes: 100)
        let first = await budget.reserve(60)
        let admitted = Mutex<[String]>([])
        let big = Task {
            let amount = await budget.reserve(70)  // 60 + 70 > 100: waits
            admitted.withLock { $0.append("big") }
            return amount
        }
        // The small one fits beside the first even though the big one is waiting.
        let small = await budget.reserve(30)
        admitted.withLock { $0.append("small") }
        #expect(budget.reserved == 90)
        budget.release(small)
        #expect(admitted.withLock { $0 } == ["small"], "the big one started before it fitted")
        budget.release(first)
        let bigAmount = await big.value
        #expect(admitted.withLock { $0 } == ["small", "big"])
        #expect(budget.reserved == 70)
        budget.release(bigAmount)
        #expect(budget.reserved == 0)
    }

    @Test func oneLargerThanTheBudgetRunsAlone() async {
        let budget = MemoryBudget(bytes: 100)
        let small = await budget.reserve(10)
        let huge = Task { await budget.reserve(500) }
        budget.release(small)
        let amount = await huge.value  // admitted once nothing else is reserved
        #expect(budget.reserved == 500)
        budget.release(amount)
    }

    @Test func costComesFromTheHeaderOrIsTheMostTheDecoderAllows() {
        let image = ImageInfo(format: .jpeg, width: 4000, height: 3000)
        let most = 50_000_000
        #expect(
            MemoryBudget.cost(image: image, fileBytes: 1_000, upsample: 1, maxPixels: most) == 12_000_000 * 18 + 1_000)
        #expect(
            MemoryBudget.cost(image: image, fileBytes: 1_000, upsample: 0, maxPixels: most) == 12_000_000 * 9 + 1_000)
        #expect(MemoryBudget.cost(image: image, fileBytes: 0, upsample: 2, maxPixels: most) == 12_000_000 * 18 * 4)
        // A size that could not be found is charged max_pixels, never less.
        #expect(MemoryBudget.cost(image: nil, fileBytes: 5_000, upsample: 1, maxPixels: most) == most * 18 + 5_000)
        // dlib's network stores its whole tiled pyramid: far more per pixel. facewatch's CNN streams
        // it, keeping up to 16 bytes per pixel of it and a fixed part.
        let fixed = 80 * 1_048_576
        #expect(
            MemoryBudget.cost(image: image, fileBytes: 1_000, upsample: 1, maxPixels: most, detector: .cnn)
                == 12_000_000 * 22 + fixed + 1_000)
        #expect(
            MemoryBudget.cost(image: image, fileBytes: 0, upsample: 0, maxPixels: most, detector: .dlibCnn)
                == 12_000_000 * 64)
        #expect(
            MemoryBudget.cost(image: image, fileBytes: 0, upsample: 1, maxPixels: most, detector: .dlibCnn)
                == 12_000_000 * 225)
        #expect(
            MemoryBudget.cost(image: image, fileBytes: 0, upsample: 2, maxPixels: most, detector: .cnn)
                == 12_000_000 * 22 * 4 + fixed)
    }

    /// Decoding a 10-bit HEIF holds more than detecting without upsampling: the larger one counts.
    @Test func costCoversTheDecodersOwnMemory() {
        let heif = ImageInfo(format: .heif, width: 4000, height: 3000)
        #expect(MemoryBudget.cost(image: heif, fileBytes: 0, upsample: 0, maxPixels: 50_000_000) == 12_000_000 * 13)
        #expect(MemoryBudget.cost(image: heif, fileBytes: 0, upsample: 1, maxPixels: 50_000_000) == 12_000_000 * 18)
        let webp = ImageInfo(format: .webp, width: 4000, height: 3000)
        #expect(MemoryBudget.cost(image: webp, fileBytes: 0, upsample: 0, maxPixels: 50_000_000) == 12_000_000 * 9)
    }
}
