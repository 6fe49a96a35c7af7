import Testing

/// The test tiers. `make check` runs every test without these tags (unit and module tests: minutes
/// after the first build, no package build); `make test` runs everything.
extension Tag {
    /// Runs the real `facewatch` binary (daemon, commands) on real files: Tests/EndToEndTests.
    @Tag public static var endToEnd: Self
    /// Needs what `make test` builds besides the tests (the Debian packages, `make install`, the
    /// man page tool) or checks the shipped unit, examples and packaging: Tests/PackagingTests.
    @Tag public static var packaging: Self
}
