#!/usr/bin/env bash
# Install the Debian packages edgelm needs to build and test. Idempotent: packages already present
# are skipped; says what it installs; works as root or through sudo.
set -euo pipefail

packages=(
  build-essential   # gcc, make, libc headers
  cmake             # the build
  libcmocka-dev     # unit tests
  libcjson-dev      # JSON output and parsing
  libpcre2-dev      # tokenizer pre-tokenizer regexes (with JIT)
  libutf8proc-dev   # Unicode categories and normalization for tokenizers
  libsqlite3-dev    # the results store
  libevent-dev      # serve's HTTP server (evhttp)
  libhiredis-dev    # the gateway's limits shared through Redis
  redis-server      # the Redis the gateway tests start
  python3           # tests read reference JSON and check JSON output
  clang             # libFuzzer harnesses
  libclang-rt-dev   # clang's sanitizer and fuzzer runtimes
)
# The aarch64 leg of `make test` (tests/cross/run.sh): cross-compiled kernel tests run under
# qemu-user. An aarch64 machine runs them natively and needs none of these.
if [ "$(uname -m)" != aarch64 ]; then
  packages+=(
    gcc-aarch64-linux-gnu   # the cross compiler
    libc6-dev-arm64-cross   # its C library headers (only recommended by the compiler package)
    qemu-user               # qemu-aarch64, to run what it builds
  )
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "install-deps: need root or sudo to install: ${missing[*]}" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
