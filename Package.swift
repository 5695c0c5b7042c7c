// swift-tools-version:6.0
// Orrery: a terminal deep-learning playground on its own CPU compute core.
// Layers (dependencies point downwards): orrery → Playground → Labs → Models → NN, Formats → Compute → CKernels.
import PackageDescription

// Hot targets get -Ounchecked and no exclusivity checks in release builds. No CPU-specific flags here:
// the SIMD micro-kernels live in CKernels behind run-time CPU-feature dispatch, so one binary runs on
// AVX-512, AVX2 and baseline x86-64, and on arm64.
let hot: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-enforce-exclusivity=unchecked"], .when(configuration: .release)),
    .swiftLanguageMode(.v5),
]

// Targets that read files, flags and configs a user or a hostile file controls keep Swift's bounds and
// overflow checks in release builds: a malformed input must end in a thrown error, never in a read past
// a buffer. Only the numeric targets (kernels, layers, the terminal renderer) drop them.
let checked: [SwiftSetting] = [
    .swiftLanguageMode(.v5)
]

// Targets that own threads (the session runners, the UI loop, the command line) are compiled in the
// Swift 6 language mode, so data races between them are compile errors.
let concurrent: [SwiftSetting] = [.swiftLanguageMode(.v6)]
let concurrentHot: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-enforce-exclusivity=unchecked"], .when(configuration: .release)),
    .swiftLanguageMode(.v6),
]

let package = Package(
    name: "Orrery",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "orrery", targets: ["orrery"]),
        .library(name: "Compute", targets: ["Compute"]),
        .library(name: "NN", targets: ["NN"]),
        .library(name: "Formats", targets: ["Formats"]),
        .library(name: "Models", targets: ["Models"]),
        .library(name: "Labs", targets: ["Labs"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
    ],
    targets: [
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])]),
        .target(name: "CAssets", cSettings: [.unsafeFlags(["-Wno-c23-extensions"])]),
        .target(name: "CTerm", linkerSettings: [.linkedLibrary("ncursesw"), .linkedLibrary("tinfo")]),
        .target(name: "CPNG", linkerSettings: [.linkedLibrary("png16")]),
        .target(name: "TerminalUI", dependencies: ["CTerm"], swiftSettings: concurrentHot),
        .target(
            name: "Playground", dependencies: ["TerminalUI", "Labs", "Models", "Compute", "NN", "CPNG"],
            swiftSettings: concurrentHot),
        .target(name: "Compute", dependencies: ["CKernels"], swiftSettings: hot),
        .target(name: "NN", dependencies: ["Compute"], swiftSettings: hot),
        .target(name: "Formats", dependencies: ["Compute"], swiftSettings: checked),
        .target(name: "Models", dependencies: ["Compute", "NN"], swiftSettings: checked),
        .target(
            name: "Labs", dependencies: ["Compute", "NN", "Models", "Formats", "CAssets"], swiftSettings: concurrent),
        .executableTarget(
            name: "orrery",
            dependencies: [
                "Compute", "NN", "Formats", "Models", "Labs", "Playground", "TerminalUI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: concurrent),
        .target(name: "TestSupport", path: "Tests/TestSupport", swiftSettings: checked),
        .testTarget(name: "ComputeTests", dependencies: ["TestSupport", "Compute", "NN"], swiftSettings: hot),
        .testTarget(name: "NNTests", dependencies: ["TestSupport", "Compute", "NN", "Models"], swiftSettings: hot),
        .testTarget(name: "ModelsTests", dependencies: ["TestSupport", "Compute", "NN", "Models"], swiftSettings: hot),
        .testTarget(
            name: "LabsTests", dependencies: ["TestSupport", "Compute", "NN", "Models", "Labs", "Formats"],
            swiftSettings: hot),
        .testTarget(name: "TerminalUITests", dependencies: ["TestSupport", "TerminalUI"], swiftSettings: hot),
        .testTarget(
            name: "PlaygroundTests",
            dependencies: ["TestSupport", "Playground", "TerminalUI", "Labs", "Models", "Compute"],
            swiftSettings: hot),
        .testTarget(name: "FormatsTests", dependencies: ["TestSupport", "Compute", "Formats"], swiftSettings: hot),
        .testTarget(
            name: "OrreryCLITests", dependencies: ["TestSupport", "orrery", "CPNG", "Formats"], swiftSettings: hot),
    ]
)
