/// The shared test support (`Tests/IOMMUSanTestSupport`: `ctx`, `errno`,
/// `TestMachine`, `SplitMix64`), for every file of this target.
@_exported import IOMMUSanTestSupport
