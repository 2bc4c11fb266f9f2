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
  libedit-dev       # edgelm chat's line editing and history
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
# Wanted but not required: without it the tests that need it say SKIPPED with the reason.
optional=(
  chromium          # headless: the report tests render the HTML report to a PNG and a PDF
)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for p in "${packages[@]}" "${optional[@]}"; do
  installed "$p" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all $((${#packages[@]} + ${#optional[@]})) packages present"
  exit 0
fi

required=()
for p in "${missing[@]}"; do
  [[ " ${optional[*]} " == *" $p "* ]] || required+=("$p")
done

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
elif [ ${#required[@]} -eq 0 ]; then
  echo "install-deps: no root or sudo to install ${missing[*]} (optional): the tests that need it will skip" >&2
  exit 0
else
  echo "install-deps: need root or sudo to install: ${missing[*]}" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
if [ ${#required[@]} -gt 0 ]; then
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${required[@]}"
fi
for p in "${optional[@]}"; do
  installed "$p" && continue
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$p" ||
    echo "install-deps: could not install $p (optional): the tests that need it will skip" >&2
done
