import FaceCore
import Foundation

/// Writes small, valid PNG files without any image library: 8-bit RGB, zlib "stored" blocks.
public enum TinyPNG {
    /// A `width`×`height` PNG whose pixels derive from `seed` (different seeds, different bytes).
    public static func make(width: Int = 4, height: Int = 4, seed: Int = 0) -> [UInt8] {
        make(width: width, height: height) { x, y in
            let v = UInt32(truncatingIfNeeded: seed &* 2_654_435_761 &+ x &* 40_503 &+ y &* 9_973)
            return (UInt8(truncatingIfNeeded: v), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v >> 16))
        }
    }

    /// A `width`×`height` PNG whose pixel (x, y) is `pixel(x, y)` as (r, g, b).
    public static func make(width: Int, height: Int, pixel: (Int, Int) -> (UInt8, UInt8, UInt8)) -> [UInt8] {
        var raw: [UInt8] = []
        raw.reserveCapacity((width * 3 + 1) * height)
        for y in 0..<height {
            raw.append(0)  // filter: none
            for x in 0..<width {
                let (r, g, b) = pixel(x, y)
                raw += [r, g, b]
            }
        }
        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        png += chunk("IHDR", bigEndian(UInt32(width)) + bigEndian(UInt32(height)) + [8, 2, 0, 0, 0])
        png += chunk("IDAT", zlibStored(raw))
        png += chunk("IEND", [])
        return png
    }

    /// Only a PNG header claiming `width`×`height` (a "decompression bomb" header), no image data.
    public static func header(width: UInt32, height: UInt32) -> [UInt8] {
        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        png += chunk("IHDR", bigEndian(width) + bigEndian(height) + [8, 2, 0, 0, 0])
        png += chunk("IDAT", zlibStored([0, 0, 0, 0]))
        png += chunk("IEND", [])
        return png
    }

    public static func bigEndian(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)]
    }

    public static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let typeBytes = Array(type.utf8)
        return bigEndian(UInt32(data.count)) + typeBytes + data + bigEndian(crc32(typeBytes + data))
    }

    public static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        var offset = 0
        repeat {
            let length = min(65_535, data.count - offset)
            let final: UInt8 = offset + length == data.count ? 1 : 0
            out.append(final)
            out += [UInt8(length & 0xff), UInt8(length >> 8), UInt8(~length & 0xff), UInt8((~length >> 8) & 0xff)]
            out += data[offset..<offset + length]
            offset += length
        } while offset < data.count
        return out + bigEndian(adler32(data))
    }

    public static func crc32(_ data: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xffff_ffff
        for byte in data {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc >> 1) ^ (0xedb8_8320 & (0 &- (crc & 1))) }
        }
        return ~crc
    }

    public static func adler32(_ data: [UInt8]) -> UInt32 {
        var a: UInt32 = 1
        var b: UInt32 = 0
        for byte in data {
            a = (a + UInt32(byte)) % 65_521
            b = (b + a) % 65_521
        }
        return (b << 16) | a
    }
}

/// Writes `bytes` to `path` in one go, creating parent directories. A scratch directory that cannot
/// be written to is a broken machine, not a test failure: it stops the run.
public func write(_ bytes: [UInt8], to path: String) {
    try! FileManager.default.createDirectory(
        atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    precondition(FileManager.default.createFile(atPath: path, contents: Data(bytes)), "cannot write \(path)")
}

/// The repository's root (two levels above this file's directory).
public let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// The model directory the tests use: $FACEWATCH_MODELS or `<repo>/models`; nil when it has no models.
public let testModelsDirectory: String? = {
    let candidate =
        ProcessInfo.processInfo.environment["FACEWATCH_MODELS"]
        ?? (repositoryRoot as NSString).appendingPathComponent("models")
    let resnet = (candidate as NSString).appendingPathComponent("dlib_face_recognition_resnet_model_v1.dat")
    return FileManager.default.fileExists(atPath: resnet) ? candidate : nil
}()

/// The `facewatch` executable the tests run: `$FACEWATCH_BIN`, else the one this build made next to
/// the test runner (`<build>/debug/`), else `<repo>/.build/debug/facewatch`; nil when there is none.
public let facewatchBinary: String? = {
    if let explicit = ProcessInfo.processInfo.environment["FACEWATCH_BIN"], !explicit.isEmpty { return explicit }
    var candidates: [String] = []
    var directory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    for _ in 0..<3 {
        candidates.append(directory.appendingPathComponent("facewatch").path)
        directory.deleteLastPathComponent()
    }
    candidates.append(repositoryRoot + "/.build/debug/facewatch")
    return candidates.first { path in
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
            && FileManager.default.isExecutableFile(atPath: path)
    }
}()
