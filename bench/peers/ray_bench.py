"""Ray on the workloads of WORKLOADS.md, with as many worker processes as Aloft gets containers.
W1-W3 and W7 use tasks; W4 uses 2 actors with max_concurrency=50 (threaded for the blocking body, asyncio for the
async one): Ray tasks run one at a time per worker. W8 moves items through `ray.util.queue.Queue` (an actor, in
memory) from 4 producer to 4 consumer tasks."""
import asyncio
import os
import sys
import time

import ray
from ray.util.queue import Empty, Queue

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


@ray.remote(num_cpus=0)
def produce(queue, first, count, batch):
    for start in range(first, first + count, batch):
        items = list(range(start, min(first + count, start + batch)))
        if batch == 1:
            queue.put(items[0])
        else:
            queue.put_nowait_batch(items)
    return count


@ray.remote(num_cpus=0)
def consume(queue, count, batch):
    gets, taken = [], 0
    while taken < count:
        began = time.perf_counter()
        if batch == 1:
            queue.get(block=True, timeout=60)
            taken += 1
        else:
            # get_nowait_batch takes exactly k items or raises Empty: then wait for one, as BLMPOP would.
            try:
                taken += len(queue.get_nowait_batch(min(batch, count - taken)))
            except Empty:
                queue.get(block=True, timeout=60)
                taken += 1
        gets.append((time.perf_counter() - began) * 1e6)
    return gets


n = 10_000 if quick_flag() else 100_000
share = n // 4
for batch in (1, 100):
    queue = Queue()
    ray.get([produce.remote(queue, 0, 0, 1) for _ in range(4)] + [consume.remote(queue, 0, 1) for _ in range(4)])
    start = time.perf_counter()
    producers = [produce.remote(queue, i * share, share, batch) for i in range(4)]
    consumers = [consume.remote(queue, share, batch) for _ in range(4)]
    gets = sorted(sample for part in ray.get(consumers) for sample in part)
    ray.get(producers)
    rate = 4 * share / (time.perf_counter() - start)
    assert queue.size() == 0
    print(f"W8-queue system=ray n={4 * share} batch={batch} items_per_s={rate:.0f} get_p50_us={gets[len(gets) // 2]:.1f}",
          flush=True)
    queue.shutdown()
ray.shutdown()
sys.exit(0)
