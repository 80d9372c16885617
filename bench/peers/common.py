"""Shared measurement helpers for the peer benchmarks: the same workloads as bench/aloft-bench (WORKLOADS.md)."""
import os
import resource
import sys
import time


def percentile(samples, p):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def report(name, **fields):
    print(" ".join([name] + [f"{key}={value}" for key, value in fields.items()]), flush=True)


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def quick_flag():
    return "--quick" in sys.argv[1:]


def descendants_memory_mib(matches):
    """(resident, unshared) memory in MiB of each process below this one whose command line satisfies matches."""
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                parents[int(entry)] = int(file.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            pass
    mine = {os.getpid()}
    changed = True
    while changed:
        changed = False
        for pid, parent in parents.items():
            if parent in mine and pid not in mine:
                mine.add(pid)
                changed = True
    sizes = []
    for pid in mine - {os.getpid()}:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as file:
                cmdline = file.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{pid}/smaps_rollup") as file:
                fields = {line.split(":")[0]: int(line.split()[1]) for line in file if line.endswith("kB\n")}
        except (OSError, IndexError, ValueError):
            continue
        if matches(cmdline):
            sizes.append((fields["Rss"] / 1024, (fields["Private_Clean"] + fields["Private_Dirty"]) / 1024))
    return sizes


def report_cold_start(system, started, first_result, worker_matches):
    """W5: `started` and `first_result` are perf_counter() readings; idle worker RSS is read a second later."""
    time.sleep(1)
    sizes = descendants_memory_mib(worker_matches)
    count = max(1, len(sizes))
    report("W5", system=system, cold_start_ms=f"{(first_result - started) * 1e3:.1f}",
           idle_worker_rss_mib=f"{sum(rss for rss, _ in sizes) / count:.1f}",
           idle_worker_private_mib=f"{sum(unshared for _, unshared in sizes) / count:.1f}", workers=len(sizes))


def run_workloads(system, call_one, call_many, quick, call_with_payload=None):
    """call_one(i) -> result, blocking; call_many(list) -> list of results, submitted at once and gathered;
    call_with_payload(bytes) -> len(bytes), blocking (W7)."""
    for i in range(100):
        call_one(i)
    samples = []
    for i in range(200 if quick else 1000):
        start = time.perf_counter()
        call_one(i)
        samples.append((time.perf_counter() - start) * 1e6)
    report("W1", system=system, p50_us=f"{percentile(samples, 0.5):.1f}", p99_us=f"{percentile(samples, 0.99):.1f}")

    batches = []
    for batch in range(7 if quick else 22):
        start = time.perf_counter()
        call_many(list(range(100)))
        batches.append((time.perf_counter() - start) * 1e3)
    batches = batches[2:]
    report("W2", system=system, median_ms=f"{percentile(batches, 0.5):.2f}", p90_ms=f"{percentile(batches, 0.9):.2f}")

    for n in ([10_000] if quick else [10_000, 100_000]):
        start = time.perf_counter()
        results = call_many(list(range(n)))
        assert len(results) == n
        rate = n / (time.perf_counter() - start)
        report("W3", system=system, n=n, calls_per_s=f"{rate:.0f}", caller_peak_rss_mib=f"{peak_rss_mib():.0f}")

    if call_with_payload is not None:
        for size, label, calls in [(1024, "1KiB", 1000), (100 * 1024, "100KiB", 300), (2 << 20, "2MiB", 30), (16 << 20, "16MiB", 8)]:
            payload = bytes(i % 256 for i in range(size)) if size <= 1 << 20 else os.urandom(size)
            for _ in range(3):
                assert call_with_payload(payload) == size
            samples = []
            for _ in range(max(3, calls // 5) if quick else calls):
                start = time.perf_counter()
                call_with_payload(payload)
                samples.append((time.perf_counter() - start) * 1e6)
            p50 = percentile(samples, 0.5)
            report("W7", system=system, size=label, p50_us=f"{p50:.1f}", mb_per_s=f"{size / p50:.1f}")


def run_sleepy(system, body, call_all):
    """W4: call_all(list of seconds) runs them at once and gathers; a warm-up round first."""
    call_all([0.05] * 100)
    start = time.perf_counter()
    results = call_all([1.0] * 100)
    assert len(results) == 100
    report("W4", system=system, body=body, wall_s=f"{time.perf_counter() - start:.3f}")
