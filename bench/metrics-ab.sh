#!/usr/bin/env bash
# What metrics cost on the call path: W1 and W3 with the embedded control plane recording into a Prometheus registry
# (ALOFT_BENCH_METRICS=prometheus, as `aloft server` does) and without a metrics backend (the embedded default),
# alternating in one run. Usage: bench/metrics-ab.sh [rounds] (default 4).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-4}
swift build -c release --product aloft-bench >&2
echo "# $(date -u +%FT%TZ) $(uname -m) $(nproc) cores"
for round in $(seq "$rounds"); do
  for side in off prometheus; do
    ALOFT_BENCH_METRICS=$side .build/release/aloft-bench -- w1 w3 | grep -E "^W1|^W3" | sed "s/^/$side /"
  done
done
