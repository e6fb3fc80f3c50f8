// swift-tools-version: 6.2
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
    // The kernel vocabulary every module shares: addresses, errnos, DMA
    // directions, domain types, gfp flags, IOMMU models and their page
    // sizes, report kinds, WARN sites, command-line policies.
    .target(name: "KernelTypes"),
    // The machine model.
    .target(name: "MemoryModel", dependencies: ["KernelTypes"], swiftSettings: debugPageAlloc),
    .target(name: "IOMMU", dependencies: ["KernelTypes", "MemoryModel"], swiftSettings: debugPageAlloc),
    // Report values and their renderers; `explain` texts compiled in (see ReportKind+Explain.swift).
    .target(name: "Reports", dependencies: ["KernelTypes", "MemoryModel"], resources: [.embedInCode("Explanations")]),
    // Replaying ftrace logs through a streaming IOMMU_DEBUG_PAGEALLOC model.
    .target(name: "Replay", dependencies: ["KernelTypes", "Reports", "MemoryModel"]),
    // The sanitizer: shadow state and checks, attached to the model's hooks.
    .target(
      name: "Sanitizer", dependencies: ["KernelTypes", "MemoryModel", "IOMMU", "Reports"],
      swiftSettings: debugPageAlloc),
    // The fixture language and its runner.
    .target(name: "FixtureLanguage", dependencies: ["KernelTypes"]),
    .target(
      name: "FixtureRunner",
      dependencies: ["KernelTypes", "FixtureLanguage", "MemoryModel", "IOMMU", "Sanitizer", "Reports"],
      swiftSettings: debugPageAlloc),
    // `iommusan explore`: a scheduler above the fixture runner.
    .target(
      name: "Explore",
      dependencies: ["KernelTypes", "FixtureLanguage", "FixtureRunner", "IOMMU", "MemoryModel", "Reports", "SplitMix"]),
    // `iommusan conformance`: the map counts checked against the page tables, per kernel.
    .target(name: "Conformance", dependencies: ["KernelTypes", "FixtureLanguage", "FixtureRunner"]),
    // The benchmark: dma_map_benchmark's loop, its matrix of configurations and their ratios.
    .target(
      name: "Bench", dependencies: ["KernelTypes", "FixtureRunner", "Sanitizer", "IOMMU", "MemoryModel", "Reports"],
      swiftSettings: debugPageAlloc),
    .executableTarget(
      name: "iommusan",
      dependencies: [
        "KernelTypes", "FixtureRunner", "FixtureLanguage", "Reports", "Sanitizer", "IOMMU", "MemoryModel", "Replay",
        "Bench", "Explore", "Conformance",
      ],
      swiftSettings: debugPageAlloc),
    // The fuzz target (.ci/fuzz builds it with libFuzzer; a plain build is a replay driver).
    .executableTarget(
      name: "IOMMUSanFuzz", dependencies: ["FixtureRunner", "Replay", "Reports", "SplitMix"],
      swiftSettings: debugPageAlloc),
    // Test support, as swift-collections' _CollectionsTestSupport: plain targets
    // under Tests/. SplitMix is its own so the fuzz driver needs no Testing.
    .target(name: "SplitMix", dependencies: ["KernelTypes"], path: "Tests/SplitMix"),
    .target(
      name: "IOMMUSanTestSupport",
      dependencies: ["SplitMix", "KernelTypes", "Sanitizer", "IOMMU", "MemoryModel", "Reports"],
      path: "Tests/IOMMUSanTestSupport"),
    .testTarget(name: "MemoryModelTests", dependencies: ["KernelTypes", "MemoryModel", "IOMMUSanTestSupport"]),
    .testTarget(name: "IOMMUTests", dependencies: ["KernelTypes", "IOMMU", "MemoryModel", "IOMMUSanTestSupport"]),
    .testTarget(
      name: "SanitizerTests",
      dependencies: ["KernelTypes", "Sanitizer", "IOMMU", "MemoryModel", "Reports", "IOMMUSanTestSupport"],
      swiftSettings: debugPageAlloc),
    .testTarget(name: "FixtureLanguageTests", dependencies: ["KernelTypes", "FixtureLanguage", "IOMMUSanTestSupport"]),
    .testTarget(
      name: "ReportsTests",
      dependencies: ["KernelTypes", "Reports", "MemoryModel", "FixtureLanguage", "IOMMUSanTestSupport"],
      exclude: ["GoldenRenderedReports"]),
    .testTarget(
      name: "ReplayTests", dependencies: ["KernelTypes", "Replay", "Reports", "MemoryModel", "IOMMUSanTestSupport"],
      exclude: ["GoldenReplayOutput"]),
    .testTarget(name: "BenchTests", dependencies: ["Bench", "Reports"]),
    .testTarget(
      name: "ExploreTests", dependencies: ["Explore", "FixtureRunner", "FixtureLanguage", "KernelTypes", "Reports"],
      exclude: ["Fixtures"]),
    .testTarget(name: "ConformanceTests", dependencies: ["Conformance", "FixtureRunner", "KernelTypes"]),
    .testTarget(
      name: "FixtureRunnerTests",
      dependencies: [
        "KernelTypes", "FixtureRunner", "FixtureLanguage", "Reports", "Sanitizer", "IOMMU", "MemoryModel",
        "Replay", "IOMMUSanTestSupport",
      ],
      exclude: ["GoldenRunOutput", "BadInputs"]),
  ],
  swiftLanguageModes: [.v6]
)
