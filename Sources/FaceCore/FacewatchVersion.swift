/// facewatch's release version: what `facewatch --version` prints and the daemon logs.
///
/// The VERSION file holds the same text (the Debian package's version comes from it); `make deb`
/// and `DebianPackageTests` fail when the two differ. Swift has no build-time defines and the package
/// builds with plain `swift build`, so this constant is the one place in the code.
public enum FacewatchVersion {
    /// The release version.
    public static let current = "0.1.0"
}
