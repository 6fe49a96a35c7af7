// swift-tools-version: 6.0
import PackageDescription

// The C++ that instantiates dlib's detector templates is compiled with these flags in every
// configuration: -O0 makes detection ~150x slower, and FMA contraction (-march=native) changes boxes.
// See DESIGN.md, "Measured facts".
let nativeOptimization: [CXXSetting] = [
    .unsafeFlags(["-O3", "-mavx2", "-ffp-contract=off"], .when(platforms: [.linux])),
]
let codecOptimization: [CSetting] = [
    .unsafeFlags(["-O2"], .when(platforms: [.linux])),
]

let package = Package(
    name: "facewatch",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "facewatch", targets: ["facewatch"]),
        .library(name: "FaceEncoding", targets: ["FaceEncoding"]),
        .library(name: "FaceWatch", targets: ["FaceWatch"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // C: sniffing, header limits, EXIF and JPEG/PNG decoding to 8-bit RGB (libjpeg, libpng).
        .target(
            name: "CImageCodec",
            cSettings: codecOptimization,
            linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png"), .linkedLibrary("z")]
        ),
        // The C++: a small C ABI over dlib, and the HOG scanner (hog/). No C++ type or exception crosses it.
        .target(
            name: "CDlibFace",
            cxxSettings: nativeOptimization,
            linkerSettings: [
                .linkedLibrary("dlib"), .linkedLibrary("lapack"), .linkedLibrary("blas"),
                .linkedLibrary("pthread"), .linkedLibrary("dl"), .linkedLibrary("m"),
            ]
        ),
        // Test support: each stage of the HOG scanner in CDlibFace against dlib's same stage.
        .target(name: "CHOGStageChecks", dependencies: ["CDlibFace"], cxxSettings: nativeOptimization),
        .systemLibrary(name: "CLMDB", path: "Sources/CLMDB"),
        // Value types shared by every module: faces, errors, the result document.
        .target(name: "FaceCore"),
        // The engine: models, decoding, limits, FaceEngine, EncoderPool.
        .target(name: "FaceEncoding", dependencies: ["FaceCore", "CImageCodec", "CDlibFace"]),
        // The durable ledger: LMDB behind one Swift type.
        .target(name: "FaceLedger", dependencies: ["FaceCore", "CLMDB"]),
        // The daemon: Inbox, Store, Pipeline, Results, Stats, lifecycle.
        .target(
            name: "FaceWatch",
            dependencies: [
                "FaceCore", "FaceEncoding", "FaceLedger",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Command line only.
        .executableTarget(
            name: "facewatch",
            dependencies: [
                "FaceCore", "FaceEncoding", "FaceLedger", "FaceWatch",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "FaceCoreTests", dependencies: ["FaceCore"]),
        .testTarget(name: "FaceEncodingTests", dependencies: ["FaceCore", "FaceEncoding", "CHOGStageChecks"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "FaceLedgerTests", dependencies: ["FaceCore", "FaceLedger"]),
        .testTarget(name: "FaceWatchTests", dependencies: ["FaceCore", "FaceEncoding", "FaceLedger", "FaceWatch"]),
        .testTarget(name: "EndToEndTests", dependencies: ["FaceCore"]),
    ],
    swiftLanguageModes: [.v6],
    cxxLanguageStandard: .cxx17
)
