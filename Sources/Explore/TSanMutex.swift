#if IOMMUSAN_TSAN
  import MemoryModel

  /// ThreadSanitizer builds only: this module's `Mutex` is MemoryModel's
  /// pthread-based one (see MemoryModel/TSanMutex.swift). A module-local
  /// name shadows `Synchronization.Mutex`; an imported one would not.
  typealias Mutex<Value: ~Copyable> = TSanMutex<Value>
#endif
