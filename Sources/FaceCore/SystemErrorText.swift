#if canImport(Glibc)
import Glibc
#endif

/// The system's text for an `errno` value (`strerror`), e.g. `No space left on device`.
public func systemErrorText(_ code: Int32) -> String {
    String(cString: strerror(code))
}
