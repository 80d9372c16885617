"""Ray tasks on the workloads of WORKLOADS.md, with as many worker processes as Aloft gets containers."""
import os
import sys

import ray

from common import quick_flag, run_workloads

workers = int(os.environ.get("BENCH_WORKERS", "4"))
ray.init(num_cpus=workers, include_dashboard=False, logging_level="ERROR", log_to_driver=False)


@ray.remote
def square(x):
    return x * x


ray.get([square.remote(i) for i in range(workers * 2)])  # start the workers
run_workloads("ray", lambda i: ray.get(square.remote(i)), lambda xs: ray.get([square.remote(x) for x in xs]), quick_flag())
ray.shutdown()
sys.exit(0)
