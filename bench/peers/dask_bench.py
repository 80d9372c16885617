"""Dask distributed on the workloads of WORKLOADS.md, with as many worker processes as Aloft gets containers.
W4 runs on a second cluster of 2 workers x 50 threads (the blocking body; Dask has no async task bodies)."""
import os
import time

from dask.distributed import Client, LocalCluster

from common import quick_flag, report_cold_start, run_sleepy, run_workloads


def square(x):
    return x * x


def payload_size(payload):
    return len(payload)


def sleepy(seconds):
    time.sleep(seconds)
    return 0


def is_worker(cmdline):
    return "spawn_main" in cmdline  # not multiprocessing's resource tracker


if __name__ == "__main__":
    workers = int(os.environ.get("BENCH_WORKERS", "4"))
    started = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            client.submit(square, 0, pure=False).result()
            report_cold_start("dask", started, time.perf_counter(), is_worker)
            client.gather(client.map(square, range(workers * 2), pure=False))  # start the workers
            run_workloads(
                "dask",
                lambda i: client.submit(square, i, pure=False).result(),
                lambda xs: client.gather(client.map(square, xs, pure=False)),
                quick_flag(),
                lambda payload: client.submit(payload_size, payload, pure=False).result(),
            )
    with LocalCluster(n_workers=2, threads_per_worker=50, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            run_sleepy("dask", "blocking", lambda seconds: client.gather(client.map(sleepy, seconds, pure=False)))
