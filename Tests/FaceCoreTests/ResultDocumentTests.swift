import Foundation
import Testing
@testable import FaceCore

@Suite(.timeLimit(.minutes(5))) struct ResultDocumentTests {
    @Test func keysComeInDocumentedOrderAndErrorIsNull() throws {
        let face = Face(location: FaceLocation(top: 1, right: 4, bottom: 3, left: 2), encoding: [0.5, -0.25])
        let doc = ResultDocument(
            id: "6f1c0000-0000-4000-8000-000000000000", status: .completed,
            source: SourceInfo(name: "a/b.jpg", bytes: 10, sha256: "ab"),
            image: ImageInfo(format: .jpeg, width: 5, height: 6), faces: [face],
            createdAt: Date(timeIntervalSince1970: 1_764_007_200.123), completedAt: nil)
        let line = doc.jsonLine()
        let order = [
            "\"id\"", "\"status\"", "\"source\"", "\"image\"", "\"faces\"", "\"face_encoding\"",
            "\"created_at\"", "\"completed_at\"", "\"error\"",
        ]
        let positions = order.map { line.range(of: $0)?.lowerBound }
        #expect(positions.allSatisfy { $0 != nil }, "\(line)")
        #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted(), "\(line)")
        #expect(line.contains("\"error\":null"))
        #expect(line.contains("\"face_encoding\":[0.5,-0.25]"))
        #expect(line.contains("\"created_at\":\"2025-11-24T18:00:00.123Z\""), "\(line)")
        #expect(line.contains("a/b.jpg"))
        let back = try JSONDecoder().decode(ResultDocument.self, from: Data(line.utf8))
        #expect(back.faces == doc.faces)
        #expect(back.status == .completed)
        #expect(back.createdAt.map { abs($0.timeIntervalSince1970 - 1_764_007_200.123) < 0.001 } == true)
    }

    @Test func failureEncodesCodeAndMessage() {
        let doc = ResultDocument(
            file: "x.gif", status: .failed, error: Failure(.unsupportedFormat, "GIF is not supported"))
        let line = doc.jsonLine()
        #expect(line.contains("\"file\":\"x.gif\""))
        #expect(
            line.contains("\"error\":{\"code\":\"unsupported_format\",\"message\":\"GIF is not supported\"}"), "\(line)"
        )
        #expect(line.contains("\"faces\":[]"))
        #expect(!line.contains("\"id\""))
    }
}
