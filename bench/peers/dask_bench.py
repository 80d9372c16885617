"""Dask distributed on the workloads of WORKLOADS.md, with as many worker processes as Aloft gets containers."""
import os

from dask.distributed import Client, LocalCluster

from common import quick_flag, run_workloads


def square(x):
    return x * x


if __name__ == "__main__":
    workers = int(os.environ.get("BENCH_WORKERS", "4"))
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            client.gather(client.map(square, range(workers * 2), pure=False))  # start the workers
            run_workloads(
                "dask",
                lambda i: client.submit(square, i, pure=False).result(),
                lambda xs: client.gather(client.map(square, xs, pure=False)),
                quick_flag(),
            )
