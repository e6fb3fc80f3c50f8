import KernelTypes

extension MemoryConfiguration {
  /// Checks the layout: sizes, alignment and wrap-around.
  package func validate(maximumRAM: UInt64 = defaultMaximumRAM) -> MachineError? {
    guard size > 0 else { return MachineError(.EINVAL, "memory size is 0") }
    guard size <= maximumRAM else {
      return MachineError(
        .E2BIG, "memory \(ByteSize.describe(size)) exceeds the limit of \(ByteSize.describe(maximumRAM))")
    }
    guard size % pageSize == 0 else { return MachineError(.EINVAL, "memory size is not a multiple of the page size") }
    guard base.rawValue % pageSize == 0 else { return MachineError(.EINVAL, "memory base is not page aligned") }
    guard base.adding(size) != nil, base.rawValue &+ size <= (1 << 52) else {
      return MachineError(.ERANGE, "memory base+size exceeds the 52-bit physical address space")
    }
    return nil
  }
}
