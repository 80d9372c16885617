#!/usr/bin/env bash
# Quick W1/W2/W3 numbers for Aloft over both local transports, with the loopback floor measured in the same run.
# Usage: bench/quick.sh [rounds]   (release build; about a minute a round)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
swift build -c release --product aloft-bench >/dev/null
out=$(mktemp -d)
gcc -O2 bench/floor/pingpong-tcp.c -o "$out/pingpong-tcp"
gcc -O2 bench/floor/pingpong-unix.c -o "$out/pingpong-unix"
echo "# $(date -u +%FT%TZ) $(uname -m) $(nproc) cores, $(swift --version 2>&1 | head -1)"
for round in $(seq "$rounds"); do
  echo "## round $round"
  "$out/pingpong-tcp" | sed 's/^/tcp /'
  "$out/pingpong-unix"
  ALOFT_BENCH_TRANSPORT=tcp .build/release/aloft-bench -- w1 w2 w3
  ALOFT_BENCH_TRANSPORT=unix .build/release/aloft-bench -- w1 w2 w3
done
rm -rf "$out"
