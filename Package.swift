// swift-tools-version: 6.1
import PackageDescription

/// `DebugPageAlloc` is the package's CONFIG_IOMMU_DEBUG_PAGEALLOC: with the
/// trait off (`--disable-default-traits`) the model's debug hooks compile away.
let debugPageAlloc: [SwiftSetting] = [
  .define("IOMMU_DEBUG_PAGEALLOC", .when(traits: ["DebugPageAlloc"]))
]

let package = Package(
  name: "iommusan",
  products: [
    .executable(name: "iommusan", targets: ["iommusan"])
  ],
  traits: [
    .trait(
      name: "DebugPageAlloc",
      description: "CONFIG_IOMMU_DEBUG_PAGEALLOC=y: the IOMMU debug hooks are compiled in."
    ),
    .default(enabledTraits: ["DebugPageAlloc"]),
  ],
  targets: [
    // The machine model.
    .target(name: "MemoryModel", swiftSettings: debugPageAlloc),
    .target(name: "IOMMU", dependencies: ["MemoryModel"], swiftSettings: debugPageAlloc),
    // Report values and their renderers.
    .target(name: "Reports", dependencies: ["MemoryModel"]),
    // Replaying ftrace logs through a streaming IOMMU_DEBUG_PAGEALLOC model.
    .target(name: "Replay", dependencies: ["Reports", "MemoryModel"]),
    // The sanitizer: shadow state and checks, attached to the model's hooks.
    .target(
      name: "Sanitizer", dependencies: ["MemoryModel", "IOMMU", "Reports"],
      swiftSettings: debugPageAlloc),
    // The fixture language and its runner.
    .target(name: "FixtureLanguage"),
    .target(
      name: "FixtureRunner",
      dependencies: ["FixtureLanguage", "MemoryModel", "IOMMU", "Sanitizer", "Reports"],
      swiftSettings: debugPageAlloc),
    // The benchmark: dma_map_benchmark's loop, its matrix of configurations and their ratios.
    .target(
      name: "Bench", dependencies: ["FixtureRunner", "Sanitizer", "IOMMU", "MemoryModel", "Reports"],
      swiftSettings: debugPageAlloc),
    .executableTarget(
      name: "iommusan",
      dependencies: [
        "FixtureRunner", "FixtureLanguage", "Reports", "Sanitizer", "IOMMU", "MemoryModel", "Replay", "Bench",
      ],
      swiftSettings: debugPageAlloc),
    // The fuzz target (.ci/fuzz builds it with libFuzzer; a plain build is a replay driver).
    .executableTarget(name: "IOMMUSanFuzz", dependencies: ["FixtureRunner"], swiftSettings: debugPageAlloc),
    .testTarget(name: "MemoryModelTests", dependencies: ["MemoryModel"]),
    .testTarget(name: "IOMMUTests", dependencies: ["IOMMU", "MemoryModel"]),
    .testTarget(
      name: "SanitizerTests",
      dependencies: ["Sanitizer", "IOMMU", "MemoryModel", "Reports"],
      swiftSettings: debugPageAlloc),
    .testTarget(name: "FixtureLanguageTests", dependencies: ["FixtureLanguage"]),
    .testTarget(name: "ReportsTests", dependencies: ["Reports", "MemoryModel"], exclude: ["Golden"]),
    .testTarget(name: "ReplayTests", dependencies: ["Replay", "Reports", "MemoryModel"]),
    .testTarget(name: "BenchTests", dependencies: ["Bench", "Reports"]),
    .testTarget(
      name: "FixtureRunnerTests",
      dependencies: ["FixtureRunner", "FixtureLanguage", "Reports", "Sanitizer", "IOMMU", "MemoryModel"],
      exclude: ["Golden", "BadInputs"]),
  ],
  swiftLanguageModes: [.v6]
)
