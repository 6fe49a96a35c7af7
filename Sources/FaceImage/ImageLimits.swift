/// The limits an image must stay within to be decoded. They are checked before any pixel is
/// decoded: the byte count first, then the width times height the header declares.
///
/// A value, passed to every decode, so a daemon can change its limits at run time.
public struct ImageLimits: Sendable, Equatable {
    /// Files with more bytes than this fail with `too_large`.
    public var maxBytes: Int = 50_000_000
    /// Images whose header declares more pixels (width times height) fail with `too_many_pixels`.
    public var maxPixels: Int = 50_000_000

    public init(maxBytes: Int = 50_000_000, maxPixels: Int = 50_000_000) {
        self.maxBytes = maxBytes
        self.maxPixels = maxPixels
    }
}
