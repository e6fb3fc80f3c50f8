import Foundation
import KernelTypes

/// Reads a whole file (`-`: standard input), or nil.
func readFile(_ path: String) -> [UInt8]? {
  var bytes: [UInt8] = []
  do {
    try InputFile.read(path: path) { chunk in
      bytes.append(contentsOf: chunk)
      return true
    }
  } catch { return nil }
  return bytes
}

/// Every `.fixture` file under `paths` (files are taken as given), sorted.
package func fixtureFiles(under paths: [String]) -> (files: [String], missing: [String]) {
  var files: [String] = []
  var missing: [String] = []
  let fm = FileManager.default
  for p in paths {
    var isDir: ObjCBool = false
    guard fm.fileExists(atPath: p, isDirectory: &isDir) else {
      missing.append(p)
      continue
    }
    if !isDir.boolValue {
      files.append(p)
      continue
    }
    guard let e = fm.enumerator(atPath: p) else { continue }
    while let rel = e.nextObject() as? String {
      if rel.hasSuffix(".fixture") { files.append((p.hasSuffix("/") ? p : p + "/") + rel) }
    }
  }
  return (Array(Set(files)).sorted(), missing)
}
