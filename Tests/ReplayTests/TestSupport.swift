/// The shared test support (`Tests/IOMMUSanTestSupport`), for every file of this target.
@_exported import IOMMUSanTestSupport
