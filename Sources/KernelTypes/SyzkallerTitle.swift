import Synchronization

/// How syzkaller's Linux report parser (`pkg/report/linux.go`, commit
/// 1e72964b0111) picks a report's title frame, and the driver symbols that
/// survive it: a `WARNING` is titled after the first frame from `RIP:` on
/// that matches none of `linuxStackParams.skipPatterns`, so a driver frame
/// named `acme_alloc_pages_buf` (`alloc_page`) or `kmalloc_leak_dma_map_h`
/// (`k?v?(?:m|z|c)alloc`) is skipped and the report takes its detector's
/// title. `symbol(_:)` makes a name the parser keeps.
package enum SyzkallerTitle {
  /// `linuxStackParams.skipPatterns`, verbatim and in order (Go RE2 syntax;
  /// every one is also valid as a Swift regex).
  package static let skipPatterns: [String] = [
    #"__sanitizer"#, #"__asan"#, #"kasan"#, #"hwasan"#, #"__msan"#, #"kmsan"#, #"kcsan_setup_watchpoint"#,
    #"check_memory_region"#, #"check_heap_object"#, #"check_object"#, #"read_word_at_a_time"#,
    #"(read|write)_once_.*nocheck"#, #"print_address_description"#, #"panic"#, #"invalid_op"#, #"report_bug"#,
    #"fixup_bug"#, #"print_report"#, #"print_usage_bug"#, #"do_error"#, #"invalid_op"#, #"_trap$|do_trap"#,
    #"show_stack"#, #"dump_stack"#, #"walk_stack"#, #"dump_backtrace"#, #"warn_slowpath"#, #"warn_alloc"#,
    #"warn_bogus"#, #"__warn"#, #"alloc_page"#, #"k?v?(?:m|z|c)alloc"#, #"krealloc"#, #"kmem_cache"#,
    #"allocate_slab"#, #"__alloc_frozen_pages_noprof"#, #"folio_(?:alloc|unlock)"#, #"filemap_alloc_folio"#,
    #"__filemap_get_folio"#, #"find_or_create_page"#, #"do_read_cache_folio"#, #"read_cache_page"#,
    #"pagecache_get_page"#, #"grab_cache_page_write_begin"#, #"slab_"#, #"debug_object"#, #"timer_is_static_object"#,
    #"work_is_static_object"#, #"__might_fault"#, #"print_unlock"#, #"imbalance_bug"#, #"lockdep"#, #"bh_enable"#,
    #"bh_disable"#, #"perf_trace"#, #"lock_acquire"#, #"lock_release"#, #"lock_class"#, #"mark_lock"#,
    #"(reacquire|mark)_held_locks"#, #"raw_spin_rq"#, #"spin_lock"#, #"spin_trylock"#, #"spin_unlock"#,
    #"read_lock"#, #"read_trylock"#, #"write_lock"#, #"write_trylock"#, #"read_unlock"#, #"write_unlock"#,
    #"^down$"#, #"down_read"#, #"down_write"#, #"down_read_trylock"#, #"down_write_trylock"#, #"down_trylock"#,
    #"up_read"#, #"up_write"#, #"^mutex_"#, #"^__mutex_"#, #"^rt_mutex_"#, #"owner_on_cpu"#, #"osq_lock"#,
    #"osq_unlock"#, #"atomic(64)?_(dec|inc|read|set|or|xor|and|add|sub|fetch|xchg|cmpxchg|try)"#,
    #"(set|clear|change|test)_bit"#, #"__wake_up"#, #"^refcount_"#, #"^kref_"#, #"ref_tracker"#, #"seqprop_assert"#,
    #"memcpy"#, #"memcmp"#, #"memset"#, #"memchr"#, #"memmove"#, #"memdup"#, #"strcmp"#, #"strncmp"#, #"strcpy"#,
    #"strlcpy"#, #"strncpy"#, #"strscpy"#, #"strlen"#, #"strstr"#, #"strnstr"#, #"strnlen"#, #"strchr"#, #"strdup"#,
    #"strndup"#, #"copy_to_user"#, #"copy_from_user"#, #"copy_to_iter"#, #"copy_from_iter"#, #"copy_page_to_iter"#,
    #"copy_page_from_iter"#, #"copy_folio_to_iter"#, #"^copyin$"#, #"^copyout$"#, #"put_user"#, #"get_user"#,
    #"might_fault"#, #"might_sleep"#, #"list_add"#, #"list_del"#, #"list_replace"#, #"list_move"#, #"list_splice"#,
    #"^rb_"#, #"^__rb_"#, #"_indirect_thunk_"#, #"string"#, #"pointer"#, #"snprintf"#, #"scnprintf"#, #"kasprintf"#,
    #"kvasprintf"#, #"printk"#, #"va_format"#, #"dev_info"#, #"dev_notice"#, #"dev_warn"#, #"dev_err"#,
    #"dev_alert"#, #"dev_crit"#, #"dev_emerg"#, #"program_check_exception"#, #"program_check_common"#, #"del_timer"#,
    #"flush_work"#, #"__cancel_work_timer"#, #"cancel_work_sync"#, #"try_to_grab_pending"#, #"flush_workqueue"#,
    #"drain_workqueue"#, #"destroy_workqueue"#, #"queue_work"#, #"finish_wait"#, #"kthread_stop"#, #"kobject_"#,
    #"add_uevent_var"#, #"get_device_parent"#, #"device_add"#, #"device_del"#, #"device_unregister"#,
    #"device_destroy"#, #"device_release"#, #"devres_release_all"#, #"hwrng_unregister"#, #"i2c_del_adapter"#,
    #"__unregister_client"#, #"device_for_each_child"#, #"rollback_registered"#, #"unregister_netdev"#,
    #"sysfs_remove"#, #"device_remove_file"#, #"tty_unregister_device"#, #"dummy_urb_enqueue"#, #"usb_kill_urb"#,
    #"usb_kill_anchored_urbs"#, #"usb_control_msg"#, #"usb_hcd_submit_urb"#, #"usb_submit_urb"#, #"^complete$"#,
    #"wait_for_completion"#, #"^kv?free$"#, #"kfree_skb"#, #"readb$"#, #"readw$"#, #"readl$"#, #"readq$"#,
    #"writeb$"#, #"writew$"#, #"writel$"#, #"writeq$"#, #"logic_in"#, #"logic_out"#, #"^crc\d+"#, #"crc_itu_t"#,
    #"__might_resched"#, #"assertfail"#, #"^iput$"#, #"^iput_final$"#, #"^ihold$"#, #"hex_dump_to_buffer"#,
    #"print_hex_dump"#, #"^klist_"#, #"(trace|lockdep)_(hard|soft)irq"#, #"^(un)?lock_page"#,
    #"stack_trace_consume_entry"#, #"arch_stack_walk"#, #"stack_trace_save"#, #"insert_work"#,
    #"__queue_delayed_work"#, #"queue_delayed_work_on"#, #"ida_free"#, #"do_(kernel|translation)_fault"#,
    #"do_mem_abort"#, #"el1_abort"#, #"el1h_64_sync(?:_handler)?"#, #"print_tainted"#, #"xas_(?:start|load|find)"#,
    #"find_lock_entries"#, #"truncate_inode_pages_range"#, #"__phys_addr"#, #"__fortify_report"#,
    #"cleanup_srcu_struct"#, #"rhashtable_lookup"#, #"extract_(user|iter)_to_sg"#, #"drop_nlink"#, #"^get_taint$"#,
    #"^put_device$"#, #"lock_timer_base"#, #"__timer_delete_sync"#, #"sk_stop_timer_sync"#, #"__mod_timer"#,
    #"fast_dput"#, #"dput"#, #"mark_buffer_dirty"#,
  ]

  /// The Go regexp syzkaller builds: the patterns joined by `|`, unanchored.
  /// A `Regex` value shares its lazily compiled program between copies, and
  /// that compilation is not synchronized: explore's and check's threads
  /// would race on the first match (ThreadSanitizer reports it). So the
  /// regex is built and compiled once, when the lock is made, and every
  /// match runs under the lock (`symbol` memoizes, so matches are rare).
  private static let skipRegex: Mutex<Regex<AnyRegexOutput>> = {
    // The patterns are a constant list, checked by a test.
    // swift-format-ignore: NeverUseForceTry
    let regex = try! Regex(skipPatterns.joined(separator: "|"))
    _ = try? regex.firstMatch(in: "")
    return Mutex(regex)
  }()

  /// Where the first skip pattern matches in `s`, or nil.
  private static func firstSkipMatch(in s: String) -> Range<String.Index>? {
    skipRegex.withLock { regex in (try? regex.firstMatch(in: s)).map(\.range) }
  }

  /// The part of `name` the first skip pattern matches, or nil when the
  /// parser would keep the frame.
  package static func skipMatch(_ name: String) -> Substring? {
    firstSkipMatch(in: name).map { name[$0] }
  }

  /// `name` with its first lowercase letter in every skip-pattern match
  /// upper-cased until no pattern matches (syzkaller matches case-sensitively
  /// and every pattern spells a lowercase letter, so this ends): `acme_alloc_pages_buf`
  /// becomes `acme_Alloc_pages_buf`. Deterministic, and a name no pattern
  /// matches is returned as is.
  package static func symbol(_ name: String) -> String {
    if let known = symbols.withLock({ $0[name] }) { return known }
    var s = name
    while let range = firstSkipMatch(in: s) {
      guard let i = s[range].firstIndex(where: { $0.isLowercase && $0.isASCII }) else { break }
      s.replaceSubrange(i...i, with: s[i].uppercased())
    }
    symbols.withLock { table in
      // Bounded: a process that runs many fixtures (conformance) starts over.
      if table.count >= 4096 { table.removeAll(keepingCapacity: true) }
      table[name] = s
    }
    return s
  }

  /// Names already made into symbols: the regex costs far more than the lookup.
  private static let symbols = Mutex<[String: String]>([:])
}
