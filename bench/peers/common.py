"""Shared measurement helpers for the peer benchmarks: the same workloads as bench/aloft-bench (WORKLOADS.md)."""
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


def run_workloads(system, call_one, call_many, quick):
    """call_one(i) -> result, blocking; call_many(list) -> list of results, submitted at once and gathered."""
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


def quick_flag():
    return "--quick" in sys.argv[1:]
