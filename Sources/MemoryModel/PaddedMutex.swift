import Synchronization

/// A `Mutex` alone on its cache lines, for arrays of shards: two threads
/// taking neighbouring shards must not bounce one cache line between them.
struct PaddedMutex<Value>: ~Copyable, Sendable {
  let lock: Mutex<Value>
  private let padding: InlineArray<14, UInt64> = InlineArray(repeating: 0)

  init(_ value: sending Value) { lock = Mutex(value) }
}
