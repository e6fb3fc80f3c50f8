import FixtureLanguage
import IOMMU

/// Section 7 of the fixture language: processes, their memory, and SVA.
extension Execution {
  /// `NAME = process [comm="..."]`.
  func createProcess(comm: String?, _ run: inout StatementRun) {
    let comm = comm ?? run.statement.binding?.name ?? "process"
    do { bind(run.statement, .process(try machine.createProcess(comm: comm, context: run.context))) } catch {
      run.fail(error)
    }
  }

  /// `NAME = mmap PROCESS SIZE [populate]`.
  func mmap(_ ref: NameReference, size: UInt64, populate: Bool, _ run: inout StatementRun) throws(FatalError) {
    let p = try bound(ref, as: Process.self)
    do {
      let area = try machine.mmap(p, size: size, populate: populate, context: run.context)
      bind(run.statement, .mmap(UserMapping(process: p, area: area)))
    } catch { run.fail(error) }
  }

  /// `munmap NAME`.
  func munmap(_ ref: NameReference, _ run: inout StatementRun) throws(FatalError) {
    let m = try bound(ref, as: UserMapping.self)
    do { try machine.munmap(m.process, area: m.area, context: run.context) } catch { run.fail(error) }
  }

  /// `exit PROCESS`.
  func exitProcess(_ ref: NameReference, _ run: inout StatementRun) throws(FatalError) {
    let p = try bound(ref, as: Process.self)
    do { try machine.exitProcess(p, context: run.context) } catch { run.fail(error) }
  }

  /// `NAME = sva_bind DEVICE PROCESS`.
  func svaBind(_ devRef: NameReference, _ processRef: NameReference, _ run: inout StatementRun) throws(FatalError) {
    let dev = try bound(devRef, as: Device.self)
    let p = try bound(processRef, as: Process.self)
    do { bind(run.statement, .sva(try machine.svaBind(dev, p, context: run.context))) } catch { run.fail(error) }
  }

  /// `sva_unbind NAME`.
  func svaUnbind(_ ref: NameReference, _ run: inout StatementRun) throws(FatalError) {
    let bond = try bound(ref, as: SVABond.self)
    do { try machine.svaUnbind(bond, context: run.context) } catch { run.fail(error) }
  }
}
