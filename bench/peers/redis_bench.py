"""W8 (queue) and W9 (dict) for Redis 7 (Debian's redis-server on loopback, no persistence) through redis-py, as
bench/aloft-bench/Storage.swift measures them for Aloft: one client, sequential requests.

    python3 bench/peers/redis_bench.py [--quick]
"""
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
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory],
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

        # W8: n items through one list, one at a time (LPUSH/BRPOP) or in batches of 100 (LPUSH many / RPOP count).
        for batch in (1, 100):
            gets = []
            start = time.perf_counter()
            taken = 0
            for first in range(0, n, batch):
                items = list(range(first, min(n, first + batch)))
                client.lpush("w8", *items)
                began = time.perf_counter()
                if batch == 1:
                    got = [client.brpop("w8", timeout=5)]
                else:
                    got = client.rpop("w8", batch)
                gets.append((time.perf_counter() - began) * 1e6)
                taken += len(got)
            assert taken == n
            rate = n / (time.perf_counter() - start)
            print(f"W8-queue system=redis version={version} n={n} batch={batch} items_per_s={rate:.0f} "
                  f"get_p50_us={p50(gets):.1f}")
    finally:
        process.terminate()
        process.wait()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
