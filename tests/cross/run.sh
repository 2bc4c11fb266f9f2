#!/usr/bin/env bash
# The aarch64 leg of `make test` (`make test-arm`): builds the kernel tests of tests/cross for
# aarch64 and runs them. On x86 it cross-compiles with Debian's gcc-aarch64-linux-gnu and runs
# every test under qemu-user twice: on a Cortex-A76 model (NEON + dotprod, the Raspberry Pi 5's
# core) and on a Cortex-A53 model (plain NEON), so both kernel tiers are checked. On an aarch64
# machine it builds and runs them natively, on whatever tiers the CPU has.
# Usage: tests/cross/run.sh BUILD_DIR [JOBS]. Without the cross compiler or qemu it prints SKIPPED
# with the reason and succeeds, unless EDGELM_REQUIRE_DATA=1 (CI), which makes that a failure.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-build-arm}
jobs=${2:-2}
triple=aarch64-linux-gnu
sysroot=/usr/$triple

skip() {
  if [ "${EDGELM_REQUIRE_DATA:-}" = 1 ]; then
    echo "test-arm: FAILED: $1 (EDGELM_REQUIRE_DATA=1 requires the aarch64 leg; run scripts/install-deps.sh)" >&2
    exit 1
  fi
  echo "test-arm: SKIPPED: $1 (scripts/install-deps.sh installs it on Debian)"
  exit 0
}

if [ "$(uname -m)" = aarch64 ]; then
  test -f "$build/CMakeCache.txt" ||
    cmake -S "$root/tests/cross" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" -j "$jobs" -- --no-print-directory
  echo "test-arm: native aarch64, CPU features as detected"
  cd "$build" && exec ctest --output-on-failure -j "$jobs"
fi

command -v "$triple-gcc" >/dev/null 2>&1 || skip "no aarch64 cross compiler: $triple-gcc not found (Debian package gcc-aarch64-linux-gnu)"
test -f "$sysroot/include/stdio.h" || skip "no aarch64 C library headers in $sysroot/include (Debian package libc6-dev-arm64-cross)"
command -v qemu-aarch64 >/dev/null 2>&1 || skip "no qemu-aarch64 to run aarch64 programs (Debian package qemu-user)"

test -f "$build/CMakeCache.txt" ||
  cmake -S "$root/tests/cross" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_TOOLCHAIN_FILE="$root/cmake/aarch64-linux-gnu.cmake" >/dev/null
cmake --build "$build" -j "$jobs" -- --no-print-directory

# CPU model, and the features the library must detect on it.
status=0
for run in "cortex-a76:neon dotprod" "cortex-a53:neon"; do
  cpu=${run%%:*}
  echo "test-arm: qemu-aarch64 -cpu $cpu (expect: ${run#*:})"
  (cd "$build" && QEMU_CPU=$cpu QEMU_LD_PREFIX=$sysroot EDGELM_TEST_EXPECT_FEATURES=${run#*:} \
    ctest --output-on-failure -j "$jobs") || status=1
done
exit $status
