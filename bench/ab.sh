#!/usr/bin/env bash
# A/B of the quick workloads (W1-W3) between an earlier revision and the working tree, with the loopback floor
# measured in the same run: release builds of both, then rounds that alternate old and new.
# Usage: bench/ab.sh OLD_REV [rounds]   (default 3 rounds; builds in .build-ab/, a worktree of OLD_REV in it)
set -euo pipefail
cd "$(dirname "$0")/.."
old_rev=${1:?usage: bench/ab.sh OLD_REV [rounds]}
rounds=${2:-3}
scratch=.build-ab
mkdir -p "$scratch"
if [ ! -d "$scratch/old-tree" ]; then git worktree add --detach "$scratch/old-tree" "$old_rev" >/dev/null; fi
git -C "$scratch/old-tree" checkout --quiet --detach "$old_rev"
swift build -c release --product aloft-bench --package-path "$scratch/old-tree" --scratch-path "$scratch/old" >&2
swift build -c release --product aloft-bench --scratch-path "$scratch/new" >&2
gcc -O2 bench/floor/pingpong-unix.c -o "$scratch/pingpong-unix"
echo "# $(date -u +%FT%TZ) $(uname -m) $(nproc) cores; old = $(git rev-parse --short "$old_rev"), new = working tree"
for round in $(seq "$rounds"); do
  echo "## round $round"
  "$scratch/pingpong-unix"
  for side in old new; do
    "$scratch/$side/release/aloft-bench" -- w1 w2 w3 | sed "s/^/$side /"
  done
done
