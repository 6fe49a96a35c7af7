import FaceTestSupport
import Testing

@testable import FaceDaemon

/// The process's decode gate: a decode that must run alone waits for every one beside, holds back
/// those that come after it, and lets them in when it leaves.
@Suite struct DecodeGateTests {
    /// The entries admitted, in order.
    actor Admitted {
        var names: [String] = []
        func add(_ name: String) { names.append(name) }
    }

    @Test func aloneWaitsForThoseBesideAndHoldsBackLaterOnes() async {
        let gate = DecodeGate()
        #expect(await gate.tryEnter(.beside))
        #expect(await gate.tryEnter(.beside))
        #expect(await !gate.tryEnter(.alone))
        let admitted = Admitted()
        let alone = Task {
            await gate.enter(.alone)
            await admitted.add("alone")
        }
        #expect(await eventually(timeout: .seconds(10)) { await gate.queued == 1 })
        let later = Task {
            await gate.enter(.beside)
            await admitted.add("beside")
        }
        #expect(await eventually(timeout: .seconds(10)) { await gate.queued == 2 })
        // Nobody enters past a waiting entry, even where it would fit.
        #expect(await !gate.tryEnter(.beside))

        await gate.leave(.beside)
        #expect(await gate.queued == 2)
        await gate.leave(.beside)
        await alone.value
        #expect(await admitted.names == ["alone"])
        #expect(await gate.queued == 1)

        await gate.leave(.alone)
        await later.value
        #expect(await admitted.names == ["alone", "beside"])
        #expect(await gate.queued == 0)
        #expect(await !gate.tryEnter(.alone))
        await gate.leave(.beside)
        #expect(await gate.tryEnter(.alone))
    }
}
