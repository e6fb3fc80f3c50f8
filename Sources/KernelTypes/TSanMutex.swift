#if IOMMUSAN_TSAN
  #if canImport(Glibc)
    import Glibc
  #elseif canImport(Musl)
    import Musl
  #elseif canImport(Darwin)
    import Darwin
  #endif

  /// ThreadSanitizer builds only (`-Xswiftc -DIOMMUSAN_TSAN`, see .ci/run):
  /// a `Mutex` with the API of `Synchronization.Mutex`, on a pthread mutex.
  /// On Linux `Synchronization.Mutex` locks with futexes inside the
  /// uninstrumented standard library, so TSan cannot see it and reports
  /// every access it protects as a race. This module-local type shadows it,
  /// so TSan checks the real locking discipline: what is accessed under
  /// which lock. Normal builds use `Synchronization.Mutex`. The alias is
  /// internal: each module that wants it declares its own (an imported
  /// alias would be ambiguous with `Synchronization.Mutex`, not shadow it).
  typealias Mutex<Value: ~Copyable> = TSanMutex<Value>
  package struct TSanMutex<Value: ~Copyable>: ~Copyable, @unchecked Sendable {
    private let lock: UnsafeMutablePointer<pthread_mutex_t>
    private let value: UnsafeMutablePointer<Value>

    package init(_ initialValue: consuming sending Value) {
      lock = .allocate(capacity: 1)
      lock.initialize(to: pthread_mutex_t())
      pthread_mutex_init(lock, nil)
      value = .allocate(capacity: 1)
      value.initialize(to: initialValue)
    }

    deinit {
      pthread_mutex_destroy(lock)
      lock.deallocate()
      value.deinitialize(count: 1)
      value.deallocate()
    }

    package borrowing func withLock<Result: ~Copyable, E: Error>(
      _ body: (inout sending Value) throws(E) -> sending Result
    ) throws(E) -> sending Result {
      pthread_mutex_lock(lock)
      defer { pthread_mutex_unlock(lock) }
      return try body(&value.pointee)
    }
  }
#endif
