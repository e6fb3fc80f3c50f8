import KernelTypes

/// A device's own memory access (`dma DEVICE read|write ADDR [len=] [pasid=] [value=] [priv=]`).
package struct DeviceAccess: Sendable, Hashable {
  /// The device that accesses memory.
  package var device: NameReference
  /// Read or write.
  package var kind: DMAAccessKind
  /// The address the device puts on the bus.
  package var address: AddressExpression
  /// Bytes accessed: default 8, at least 1, at most 8 for a read.
  package var length: UInt64
  /// The PASID the request carries, or nil for none.
  package var pasid: PASIDSelector?
  /// The value a write stores (default 0; fits in `length` bytes when `length < 8`).
  package var value: UInt64
  /// `priv=`, an extension for PASID requests, or nil when not written.
  package var privilege: Privilege?

  /// The default `len=`.
  package static let defaultLength: UInt64 = 8

  package init(
    device: NameReference, kind: DMAAccessKind, address: AddressExpression,
    length: UInt64 = DeviceAccess.defaultLength, pasid: PASIDSelector? = nil, value: UInt64 = 0,
    privilege: Privilege? = nil
  ) {
    self.device = device
    self.kind = kind
    self.address = address
    self.length = length
    self.pasid = pasid
    self.value = value
    self.privilege = privilege
  }
}
