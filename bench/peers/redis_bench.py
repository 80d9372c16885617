"""W8 (queue) and W9 (dict) for Redis 7 (Debian's redis-server on loopback) through redis-py, as
bench/aloft-bench/Storage.swift measures them for Aloft. Durable as Aloft's SQLite store is against a crash of
the server (not of the machine): the append-only file, written before each reply, fsync'd every second.
W9: one client, sequential requests. W8: 4 producer and 4 consumer processes on one list.

    python3 bench/peers/redis_bench.py [--quick]
"""
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def p50(samples):
    samples = sorted(samples)
    return samples[len(samples) // 2]


def produce(port, first, count, batch, ready):
    import redis
    client = redis.Redis(port=port)
    client.ping()
    ready.wait()
    for start in range(first, first + count, batch):
        client.lpush("w8", *range(start, min(first + count, start + batch)))


def consume(port, count, batch, ready, results):
    import redis
    client = redis.Redis(port=port)
    client.ping()
    ready.wait()
    gets, taken = [], 0
    while taken < count:
        began = time.perf_counter()
        if batch == 1:
            got = 1 if client.brpop("w8", timeout=60) else 0
        else:
            reply = client.blmpop(60, 1, "w8", direction="RIGHT", count=min(batch, count - taken))
            got = len(reply[1]) if reply else 0
        assert got, "no item within 60 s"
        gets.append((time.perf_counter() - began) * 1e6)
        taken += got
    results.put(gets)


def main():
    import redis

    quick = "--quick" in sys.argv[1:]
    n = 10_000 if quick else 100_000
    server = shutil.which("redis-server")
    if server is None:
        print("redis-server not found (apt-get install redis-server)", file=sys.stderr)
        sys.exit(1)
    port = free_port()
    directory = tempfile.mkdtemp(prefix="aloft-redis-")
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
         "--appendfsync", "everysec", "--dir", directory],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        version = client.info()["redis_version"]

        # W9: n SET then n GET of 100-byte values.
        value = b"v" * 100
        puts, gets = [], []
        start = time.perf_counter()
        for i in range(n):
            began = time.perf_counter()
            client.set(f"key-{i}", value)
            puts.append((time.perf_counter() - began) * 1e6)
        for i in range(n):
            began = time.perf_counter()
            assert client.get(f"key-{i}") == value
            gets.append((time.perf_counter() - began) * 1e6)
        ops = 2 * n / (time.perf_counter() - start)
        print(f"W9-dict system=redis version={version} n={n} put_p50_us={p50(puts):.1f} get_p50_us={p50(gets):.1f} "
              f"ops_per_s={ops:.0f}")

        # W8: n items through one list from 4 producer to 4 consumer processes, one at a time (LPUSH/BRPOP) or in
        # batches of 100 (LPUSH of 100 / BLMPOP COUNT 100).
        context = multiprocessing.get_context("fork")
        share = n // 4
        for batch in (1, 100):
            ready = context.Barrier(9)
            results = context.Queue()
            workers = [context.Process(target=produce, args=(port, i * share, share, batch, ready)) for i in range(4)]
            workers += [context.Process(target=consume, args=(port, share, batch, ready, results)) for _ in range(4)]
            for worker in workers:
                worker.start()
            ready.wait()
            start = time.perf_counter()
            gets = []
            for _ in range(4):
                gets += results.get()
            rate = 4 * share / (time.perf_counter() - start)
            for worker in workers:
                worker.join()
            assert client.llen("w8") == 0
            print(f"W8-queue system=redis version={version} n={4 * share} batch={batch} items_per_s={rate:.0f} "
                  f"get_p50_us={p50(gets):.1f}")
    finally:
        process.terminate()
        process.wait()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
