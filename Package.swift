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
    .target(name: "PhysicalMemory", swiftSettings: debugPageAlloc),
    .target(name: "IOMMU", dependencies: ["PhysicalMemory"], swiftSettings: debugPageAlloc),
    // Report values and their renderers.
    .target(name: "Reports", dependencies: ["PhysicalMemory"]),
    // The sanitizer: shadow state and checks, attached to the model's hooks.
    .target(
      name: "Sanitizer", dependencies: ["PhysicalMemory", "IOMMU", "Reports"],
      swiftSettings: debugPageAlloc),
    // The fixture language and its runner.
    .target(name: "FixtureLanguage"),
    .target(
      name: "FixtureRunner",
      dependencies: ["FixtureLanguage", "PhysicalMemory", "IOMMU", "Sanitizer", "Reports"],
      swiftSettings: debugPageAlloc),
    .executableTarget(
      name: "iommusan",
      dependencies: ["FixtureRunner", "FixtureLanguage", "Reports", "Sanitizer", "IOMMU", "PhysicalMemory"],
      swiftSettings: debugPageAlloc),
    .testTarget(name: "PhysicalMemoryTests", dependencies: ["PhysicalMemory"]),
    .testTarget(name: "IOMMUTests", dependencies: ["IOMMU", "PhysicalMemory"]),
    .testTarget(
      name: "SanitizerTests",
      dependencies: ["Sanitizer", "IOMMU", "PhysicalMemory", "Reports"],
      swiftSettings: debugPageAlloc),
    .testTarget(name: "FixtureLanguageTests", dependencies: ["FixtureLanguage"]),
    .testTarget(
      name: "FixtureRunnerTests",
      dependencies: ["FixtureRunner", "FixtureLanguage", "Reports", "Sanitizer", "IOMMU", "PhysicalMemory"]),
  ],
  swiftLanguageModes: [.v6]
)
