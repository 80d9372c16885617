"""Ray on the workloads of WORKLOADS.md, with as many worker processes as Aloft gets containers.
W1-W3 and W7 use tasks; W4 uses 2 actors with max_concurrency=50 (threaded for the blocking body, asyncio for the
async one): Ray tasks run one at a time per worker."""
import asyncio
import os
import sys
import time

import ray

from common import quick_flag, report_cold_start, run_sleepy, run_workloads

workers = int(os.environ.get("BENCH_WORKERS", "4"))
started = time.perf_counter()
ray.init(num_cpus=workers, include_dashboard=False, logging_level="ERROR", log_to_driver=False)


@ray.remote
def square(x):
    return x * x


@ray.remote
def payload_size(payload):
    return len(payload)


@ray.remote(num_cpus=0, max_concurrency=50)
class Sleeper:
    def sleepy(self, seconds):
        time.sleep(seconds)
        return 0


@ray.remote(num_cpus=0, max_concurrency=50)
class AsyncSleeper:
    async def sleepy(self, seconds):
        await asyncio.sleep(seconds)
        return 0


ray.get(square.remote(0))
report_cold_start("ray", started, time.perf_counter(), lambda cmdline: cmdline.startswith("ray::"))
ray.get([square.remote(i) for i in range(workers * 2)])  # start the other workers
run_workloads("ray", lambda i: ray.get(square.remote(i)), lambda xs: ray.get([square.remote(x) for x in xs]), quick_flag(),
              lambda payload: ray.get(payload_size.remote(payload)))
for body, actor_class in [("blocking", Sleeper), ("async", AsyncSleeper)]:
    actors = [actor_class.remote() for _ in range(2)]
    run_sleepy("ray", body, lambda seconds: ray.get([actors[i % 2].sleepy.remote(s) for i, s in enumerate(seconds)]))
ray.shutdown()
sys.exit(0)
