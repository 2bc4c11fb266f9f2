#!/usr/bin/env bash
# Run every libFuzzer harness in BUILD_DIR: first over its kept inputs (fuzz/corpus/NAME and the
# regression fixtures), then for SECONDS each on a scratch copy of that corpus. Exits non-zero on
# the first crash.
set -euo pipefail
build=${1:?usage: run-fuzzers.sh BUILD_DIR SECONDS}
seconds=${2:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
shopt -s nullglob
found=0
for bin in "$build"/fuzz_*; do
  [ -x "$bin" ] || continue
  found=1
  name=$(basename "$bin")
  corpus=()
  for d in "$root/fuzz/corpus/$name" "$root/tests/fixtures/${name#fuzz_}"; do
    [ -d "$d" ] && corpus+=("$d")
  done
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  echo "fuzz: $name: replaying ${#corpus[@]} corpus folder(s), then ${seconds}s of fuzzing"
  "$bin" -runs=0 "${corpus[@]}" 2>&1 | tail -n 2
  "$bin" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=0 \
      "$scratch" "${corpus[@]}" 2>&1 | tail -n 2
  rm -rf "$scratch"
done
[ "$found" = 1 ] || { echo "fuzz: no harness built in $build" >&2; exit 1; }
echo "fuzz: all harnesses ran without a crash"
