import FaceRoot
import FaceTestSupport
import Foundation
import Testing

@testable import FaceDaemon

/// `keep_originals` and `keep_results`: durations of at least a second, `y` for 365 days, or forever.
@Suite struct RetentionSettingTests {
    @Test func periodsAndForever() throws {
        #expect(RetentionPeriod.seconds("1y") == Double(365 * 86_400))
        #expect(RetentionPeriod.seconds("30d") == Double(30 * 86_400))
        #expect(RetentionPeriod.seconds("2s") == 2)
        #expect(RetentionPeriod.seconds("500ms") == nil, "less than a second")
        #expect(RetentionPeriod.seconds("soon") == nil)
        let configured = try DaemonConfiguration.resolve(
            file: nil, flags: ["keep_originals": "12h", "keep_results": "forever"], environment: [:],
            currentDirectory: "/")
        #expect(configured.keepOriginals == 43_200 && configured.keepResults == nil)
        #expect(throws: ConfigurationError.self) {
            try DaemonConfiguration.resolve(
                file: nil, flags: ["keep_results": "0s"], environment: [:], currentDirectory: "/")
        }
        let defaults = try DaemonConfiguration.resolve(file: nil, flags: [:], environment: [:], currentDirectory: "/")
        #expect(defaults.keepOriginals == nil && defaults.keepResults == nil)
    }
}
