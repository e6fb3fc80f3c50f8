#if IOMMUSAN_TSAN
  import KernelTypes

  /// ThreadSanitizer builds only: this module's `Mutex` is KernelTypes'
  /// pthread-based one (see KernelTypes/TSanMutex.swift). A module-local
  /// name shadows `Synchronization.Mutex`; an imported one would not.
  typealias Mutex<Value: ~Copyable> = TSanMutex<Value>
#endif
