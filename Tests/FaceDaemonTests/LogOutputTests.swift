#if canImport(Glibc)
import Glibc
#endif
import FaceRoot
import Foundation
import Logging
import FaceTestSupport
import Testing

@testable import FaceDaemon

@Suite(.timeLimit(.minutes(5))) struct LogOutputTests {
    @Test func oneLinePerEventWithTimeLevelAndFields() {
        let date = Date(timeIntervalSince1970: 1_795_521_600.123)
        let line = LogOutput.format(
            date: date, level: .info, message: "ingested id=6f1c", metadata: ["b": "two words", "a": "1"])
        #expect(line == "2026-11-24T12:00:00.123Z info ingested id=6f1c a=1 b=\"two words\"")
        #expect(!LogOutput.format(date: date, level: .error, message: "a\nb", metadata: [:]).contains("\n"))
    }

    @Test func fieldsAreQuotedOnlyWhenNeeded() {
        #expect(LogField.pair("name", "photo.jpg") == "name=photo.jpg")
        #expect(LogField.pair("name", "my photo.jpg") == "name=\"my photo.jpg\"")
        #expect(LogField.pair("name", "") == "name=\"\"")
        #expect(LogField.pair("m", "say \"hi\"\n") == "m=\"say \\\"hi\\\"\\n\"")
    }

    @Test func writesToItsDescriptorAndHonoursTheSharedLevel() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]) }
        let output = LogOutput(level: .info, descriptor: fds[1])
        let logger = output.logger()
        logger.debug("hidden")
        logger.info("shown")
        output.level = .debug  // a reload: every logger of this output follows
        logger.debug("now shown")
        output.level = .error
        logger.warning("hidden again")
        close(fds[1])
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fds[0], &buffer, buffer.count)
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(lines.count == 2, "\(lines)")
        #expect(lines.first?.hasSuffix(" info shown") == true)
        #expect(lines.last?.hasSuffix(" debug now shown") == true)
    }
}

@Suite(.timeLimit(.minutes(5))) struct ThroughputMeterTests {
    @Test func ratePerMinuteOverTheLastSixtySeconds() {
        let start = Date(timeIntervalSince1970: 1_000)
        let meter = ThroughputMeter(start: start)
        #expect(meter.perMinute(at: start) == 0)
        // 10 events in the first 5 seconds: 120 per minute, scaled from 5 seconds.
        for i in 0..<10 { meter.record(at: start.addingTimeInterval(Double(i) * 0.5)) }
        #expect(meter.perMinute(at: start.addingTimeInterval(5)) == 120)
        // Two minutes later, a full window: 30 events in the last minute.
        meter.record(30, at: start.addingTimeInterval(150))
        #expect(meter.perMinute(at: start.addingTimeInterval(160)) == 30)
        // Old events fall out of the window.
        #expect(meter.perMinute(at: start.addingTimeInterval(260)) == 0)
        #expect(meter.total == 40)
    }
}

@Suite(.timeLimit(.minutes(5))) struct StatsDocumentTests {
    @Test func keysInDocumentedOrderAndReadBack() throws {
        var document = StatsDocument(
            total: 5, created: 1, completed: 3, failed: 1, faces: 2, averageEncoding: [0.5, -0.25],
            imagesPerMinute: 12.34, updatedAt: Date(timeIntervalSince1970: 1_795_521_600))
        document.facesByPerson = ["bob": 1, "alice": 2]
        let text = document.json.serialized()
        #expect(
            text
                == #"{"total":5,"created":1,"completed":3,"failed":1,"faces":2,"faces_by_person":{"alice":2,"bob":1},"average_encoding":[0.5,-0.25],"images_per_minute":12.3,"updated_at":"2026-11-24T12:00:00.000Z"}"#
        )
        let directory = ScratchDirectory()
        defer { directory.remove() }
        let path = directory.appending("stats.json")
        try document.json.pretty().write(toFile: path, atomically: true, encoding: .utf8)
        let back = try #require(StatsDocument.read(path: path))
        #expect(back.total == 5 && back.created == 1 && back.completed == 3 && back.failed == 1 && back.faces == 2)
        #expect(back.averageEncoding == [0.5, -0.25])
        #expect(back.imagesPerMinute == 12.3)
        #expect(back.updatedAt == document.updatedAt)
        #expect(back.facesByPerson == ["alice": 2, "bob": 1])
    }
}
