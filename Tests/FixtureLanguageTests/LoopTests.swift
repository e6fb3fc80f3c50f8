import FixtureLanguage
import Testing

/// `repeat COUNT as VAR` ... `end` and indexed names (an extension of v1).
@Suite struct LoopTests {
  /// The body is stored once: a loop of 256 costs its own lines, not 256 copies.
  @Test func bodyStoredOnce() throws {
    let parsed = parse(
      """
      repeat 256 as i
        rx[i] = alloc_pages
        h[i] = dma_map nic rx[i]+0x10 size=64
      end
      free_pages rx[17]
      expect report freed-while-mapped page=rx[17]
      """, preamble: true)
    #expect(parsed.diagnostics.isEmpty, "\(parsed.diagnostics)")
    #expect(parsed.statements.count == 4 + 5)
    guard case .repeatBlock(256, let variable, let end) = parsed.statements[4].operation else {
      Issue.record("not a repeat: \(parsed.statements[4].operation)")
      return
    }
    #expect(variable.name == "i" && end == 7)
    #expect(parsed.statements[7].operation == .end(begin: 4))
    let map = parsed.statements[6]
    #expect(map.usesLoopVariables)
    #expect(map.binding?.index == NameIndex(base: "h", variable: "i", offset: 0))
    let free = parsed.statements[8]
    #expect(!free.usesLoopVariables)
    #expect(free.operation == .freePages(NameReference(name: "rx[17]", location: at(9, 12)), order: nil))
  }

  /// One iteration's statement names elements: `rx[i+1]` with i = 3 is `rx[4]`.
  @Test func instantiation() throws {
    let parsed = parse(
      """
      repeat 4 as i
        rx[i] = alloc_pages
      end
      repeat 3 as i
        free_pages rx[i+1]
        expect no-report
      end
      """, preamble: true)
    #expect(parsed.diagnostics.isEmpty, "\(parsed.diagnostics)")
    var env = LoopEnvironment()
    env.push("i", 2)
    var failed: NameReference?
    let s = try #require(parsed.statements[8].instantiated(in: env, failed: &failed))
    guard case .freePages(let ref, _) = s.operation else { return }
    #expect(ref.name == "rx[3]" && ref.index == nil)
    #expect(s.text == "free_pages rx[i+1] (i=2)")
    env.setInnermost(-2)
    #expect(parsed.statements[8].instantiated(in: env, failed: &failed) == nil)
    #expect(failed?.name == "rx[i+1]")
  }

  @Test func mistakes() {
    #expect(
      diagnostics("repeat 2 as i\nx[j] = alloc_pages\nend\n") == [
        "2:3: error: 'j' in 'x[j]' is not the variable of an enclosing 'repeat'; the loop variables here: i"
      ])
    #expect(
      diagnostics("free_pages x[i]\n").first
        == "1:14: error: 'i' in 'x[i]' is not the variable of an enclosing 'repeat'; indexes by a variable only inside 'repeat N as i'"
    )
    #expect(diagnostics("end\n") == ["1:1: error: 'end' without a 'repeat' to close"])
    #expect(
      diagnostics("repeat 2 as i\n") == [
        "1:1: error: 'repeat' has no matching 'end' (add 'end' after the last statement of its block)"
      ])
    #expect(diagnostics("repeat 0 as i\nend\n").first?.contains("'repeat 0' runs nothing") == true)
    #expect(diagnostics("repeat 2 i\nend\n").first?.contains("expected 'repeat COUNT as VAR'") == true)
    #expect(
      diagnostics("repeat 2 as i\nrepeat 2 as i\nend\nend\n") == [
        "2:13: error: loop variable 'i' is already the variable of the 'repeat' at line 1; give this one another name"
      ])
    #expect(
      diagnostics("repeat 2 as i\nend\nexpect no-report\n") == [
        "3:1: error: 'expect' cannot check 'end': put it after a statement of the block"
      ])
    #expect(
      diagnostics("repeat 2 as i\niommu m model=vtd\nend\n").first?.contains("cannot be inside a 'repeat' block")
        == true)
    #expect(diagnostics("x[ = alloc_pages\n").first?.contains("invalid indexed name 'x['") == true)
  }

  /// Loops multiply: a run executes at most `FixtureLimits.maxExecutedStatements` statements.
  @Test func executedStatementsAreBounded() {
    let text = "repeat 1000 as i\nrepeat 1000 as j\nb = alloc_pages\nfree_pages b\nend\nend\n"
    #expect(diagnostics(text).first?.contains("too many statements to run") == true)
    let fits = parse("repeat 1000 as i\nrepeat 1000 as j\nb = alloc_pages\nend\nend\n")
    #expect(fits.diagnostics.isEmpty && fits.statements.count == 5 && fits.executedStatements == 1_000_000)
  }

  /// A literal element is a name of its own; the array's kind checks it.
  @Test func literalElements() {
    #expect(
      diagnostics("repeat 2 as i\nv[i] = vmalloc 4K\nend\nfree_pages v[1]\n").first?.contains("is a vmalloc area")
        == true)
    #expect(diagnostics("b[0x10] = alloc_pages\nfree_pages b[16]\n").isEmpty)
  }
}

/// `NAME+VAR*N` addresses: descriptor i of a ring.
@Suite struct ScaledAddressTests {
  @Test func scaledOffsets() throws {
    let parsed = parse("repeat 4 as i\ndma nic read buf+i*16\nend\n", preamble: true)
    #expect(parsed.diagnostics.isEmpty, "\(parsed.diagnostics)")
    var env = LoopEnvironment()
    env.push("i", 3)
    var failed: NameReference?
    let s = try #require(parsed.statements[5].instantiated(in: env, failed: &failed))
    guard case .dma(let access) = s.operation else { return }
    #expect(access.address == .name(NameReference(name: "buf", location: at(6, 14)), offset: 48))
    #expect(diagnostics("dma nic read buf+j*16\n", preamble: true).first?.contains("not the variable") == true)
    #expect(
      diagnostics("repeat 2 as i\ndma nic read buf+i*x\nend\n", preamble: true).first?.contains("invalid scale")
        == true)
  }
}
