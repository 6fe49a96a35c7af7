// swift-tools-version: 6.0
import PackageDescription

// The C++ that instantiates dlib's detector templates is compiled with these flags in every
// configuration: -O0 makes detection ~150x slower, and FMA contraction (-march=native) changes boxes.
// docs/ARCHITECTURE.md, "The engine", says what was measured.
let nativeOptimization: [CXXSetting] = [
    .unsafeFlags(["-O3", "-mavx2", "-ffp-contract=off"], .when(platforms: [.linux]))
]
let codecOptimization: [CSetting] = [
    .unsafeFlags(["-O2"], .when(platforms: [.linux]))
]

let package = Package(
    name: "facewatch",
    products: [
        .executable(name: "facewatch", targets: ["facewatch"]),
        // `make bench` only: a ledger of many records, to time a daemon's start on it.
        .executable(name: "facewatch-bench-root", targets: ["BenchRoot"]),
        .library(name: "FaceEncoding", targets: ["FaceEncoding"]),
        .library(name: "FaceDaemon", targets: ["FaceDaemon"]),
        .library(name: "FaceClient", targets: ["FaceClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // The PostgreSQL ledger (FaceLedgerPostgres): the wire protocol, TLS (NIOSSL), SCRAM.
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        // Tests only: runs the programs the tests call (facewatch, make, systemd's tools).
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
    ],
    targets: [
        // C: sniffing, header limits, EXIF and decoding to 8-bit RGB: JPEG (libjpeg), PNG (libpng),
        // WebP (libwebp, libwebpdemux), HEIF (libheif with libde265), AVIF (libavif with dav1d).
        .target(
            name: "CImageCodec",
            cSettings: codecOptimization,
            linkerSettings: [
                .linkedLibrary("jpeg"), .linkedLibrary("png"), .linkedLibrary("z"), .linkedLibrary("webp"),
                .linkedLibrary("webpdemux"), .linkedLibrary("heif"), .linkedLibrary("avif"),
            ]
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
        // glibc's mallopt (malloc.h), for the memory budget.
        .systemLibrary(name: "CMalloc", path: "Sources/CMalloc"),
        // Value types shared by every module: faces, errors, the result document.
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL"),
        .target(name: "FaceCore", dependencies: ["COpenSSL"]),
        // The search over stored faces: an AVX2 kernel for squared distances, sealed behind a C ABI.
        .target(name: "CFaceScan", cSettings: [.unsafeFlags(["-O3", "-mavx2"], .when(platforms: [.linux]))]),
        // Known people and face search: distances, matching against known people, the face table.
        .target(name: "FaceMatch", dependencies: ["FaceCore", "CFaceScan"]),
        // Images: sniffing, header limits, decoding to 8-bit RGB, reading files (no dlib).
        .target(name: "FaceImage", dependencies: ["FaceCore", "CImageCodec"]),
        // The engine: models, FaceEngine (detection and encoding over dlib), EncoderPool.
        .target(name: "FaceEncoding", dependencies: ["FaceCore", "FaceImage", "CImageCodec", "CDlibFace"]),
        // The durable ledger: LMDB behind one Swift type.
        .target(name: "FaceLedger", dependencies: ["FaceCore", "CLMDB"]),
        // The shared ledger on PostgreSQL: the same `Ledger` over postgres-nio, for several hosts.
        .target(
            name: "FaceLedgerPostgres",
            dependencies: [
                "FaceCore", "FaceLedger",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // A root as daemon and clients both see it: the settings and configuration, the file-system
        // helpers, where things are (store, results, stats.json), the root lock, and the ledger's
        // opener (the one place that chooses a backend).
        .target(
            name: "FaceRoot",
            dependencies: [
                "FaceCore", "FaceImage", "FaceEncoding", "FaceLedger", "FaceLedgerPostgres", "FaceMatch",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Seeing results: annotated images (boxes, names) and the static HTML report.
        .target(name: "FaceReport", dependencies: ["FaceCore", "FaceImage", "FaceLedger", "CImageCodec"]),
        // The daemon, one folder per part: Configuration, FileSystem, Inbox, Store, Pipeline,
        // Lifecycle, Observability, Systemd (docs/ARCHITECTURE.md walks through them).
        .target(
            name: "FaceDaemon",
            dependencies: [
                "FaceCore", "FaceImage", "FaceEncoding", "FaceLedger", "FaceRoot", "FaceMatch", "FaceReport", "CMalloc",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // The client side of a root: queries on the ledger, submit, waiting for results, status.
        .target(name: "FaceClient", dependencies: ["FaceCore", "FaceLedger", "FaceRoot", "FaceMatch", "FaceReport"]),
        // Command line only.
        .executableTarget(
            name: "facewatch",
            dependencies: [
                "FaceCore", "FaceImage", "FaceEncoding", "FaceLedger", "FaceRoot", "FaceDaemon", "FaceClient",
                "FaceMatch",
                "FaceReport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(name: "BenchRoot", dependencies: ["FaceCore", "FaceLedger"]),
        // `make bench-match`: the face search over a generated table of a million faces, and with
        // `--postgres` (`make bench-match-postgres`) on a PostgreSQL ledger of as many.
        .executableTarget(
            name: "MatchBench",
            dependencies: ["FaceCore", "FaceMatch", "FaceLedger", "FaceLedgerPostgres", "FaceRoot", "FaceClient"]),
        // `make conformance-people-groups` and `make bench-people`: the grouping on faces from a file
        // or generated, outside the daemon.
        .executableTarget(name: "PeopleGroupingTool", dependencies: ["FaceMatch"]),
        .testTarget(name: "FaceCoreTests", dependencies: ["FaceCore"]),
        .testTarget(name: "FaceMatchTests", dependencies: ["FaceCore", "FaceMatch", "FaceTestSupport"]),
        .testTarget(
            name: "FaceEncodingTests",
            dependencies: ["FaceCore", "FaceImage", "FaceEncoding", "CHOGStageChecks", "FaceTestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "FaceReportTests",
            dependencies: ["FaceCore", "FaceImage", "FaceEncoding", "FaceLedger", "FaceReport", "FaceTestSupport"]),
        .testTarget(
            name: "FaceLedgerTests", dependencies: ["FaceCore", "FaceLedger", "FaceLedgerPostgres", "FaceTestSupport"]),
        .testTarget(
            name: "FaceDaemonTests",
            dependencies: [
                "FaceCore", "FaceImage", "FaceEncoding", "FaceLedger", "FaceRoot", "FaceDaemon", "FaceClient",
                "FaceTestSupport",
            ]),
        // The shipped files: the Debian packages, `make install`, the unit, the examples, the man page.
        .testTarget(
            name: "PackagingTests",
            dependencies: ["FaceCore", "FaceEncoding", "FaceRoot", "FaceDaemon", "FaceTestSupport"]),
        .testTarget(
            name: "FaceClientTests",
            dependencies: ["FaceCore", "FaceLedger", "FaceRoot", "FaceDaemon", "FaceClient", "FaceTestSupport"]),
        .testTarget(
            name: "FacewatchCLITests",
            dependencies: [
                "facewatch", "FaceCore", "FaceRoot", "FaceDaemon", "FaceImage", "FaceEncoding", "FaceLedger",
                "FaceReport", "FaceTestSupport",
            ]),
        // What several test targets share: scratch directories, tiny images, a daemon root, waiting
        // for an event with a deadline, running a program.
        .target(
            name: "FaceTestSupport",
            dependencies: [
                "FaceCore", "FaceLedger", "FaceLedgerPostgres", "FaceRoot", "FaceDaemon",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            path: "Tests/TestSupport"),
        .testTarget(name: "TestSupportTests", dependencies: ["FaceTestSupport"]),
        .testTarget(name: "EndToEndTests", dependencies: ["FaceCore", "FaceImage", "FaceReport", "FaceTestSupport"]),
    ],
    swiftLanguageModes: [.v6],
    cxxLanguageStandard: .cxx17
)
