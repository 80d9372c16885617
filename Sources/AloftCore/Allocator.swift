import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Tunes glibc's allocator for large payloads, once per process (caller, container, control plane).
///
/// Every large argument is copied several times on its way (encoding, socket, decoding), each time into a fresh
/// buffer; by default glibc maps buffers over 128 KiB-32 MiB freshly and unmaps them when freed, so every copy paid
/// a page fault per 4 KiB page (285,000 faults, two thirds of the CPU time, in W7 of bench/README.md). Keeping up to
/// 64 MiB of freed memory for reuse cut a 16 MiB call from ~70 ms to ~30 ms. `MALLOC_MMAP_THRESHOLD_` or
/// `MALLOC_TRIM_THRESHOLD_` in the environment (glibc's own switches) leave the allocator as the user set it.
package enum AllocatorTuning {
    private static let done = Atomic(false)

    package static func apply() {
        guard done.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        #if canImport(Glibc)
        let environment = ProcessInfo.processInfo.environment
        guard environment["MALLOC_MMAP_THRESHOLD_"] == nil, environment["MALLOC_TRIM_THRESHOLD_"] == nil else { return }
        _ = glibcMallopt(-3, 32 * 1024 * 1024)  // M_MMAP_THRESHOLD
        _ = glibcMallopt(-1, 64 * 1024 * 1024)  // M_TRIM_THRESHOLD
        #endif
    }
}

#if canImport(Glibc)
// <malloc.h> is not part of the Glibc module.
@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif
