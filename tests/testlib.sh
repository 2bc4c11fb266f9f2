# Shared helpers for the command-line tests (sourced): assertions, the shared-data rule, counts.
# Each test script ends with `finish`, which prints "N passed, N failed" and sets the exit code.
set -u
ELM=${1:?usage: $0 PATH/TO/edgelm}
DATA=${EDGELM_TEST_DATA:-${ELM_TEST_DATA_DEFAULT:-$(dirname "$0")/../../shared/data}}
FIXTURES=${ELM_FIXTURES_DIR:-$(dirname "$0")/fixtures}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
n_pass=0
n_fail=0

ok()   { n_pass=$((n_pass + 1)); echo "ok: $*"; }
bad()  { n_fail=$((n_fail + 1)); echo "FAIL: $*"; }

# run CMD...: run it, keep stdout in $TMP/out, stderr in $TMP/err, status in $rc.
run() { "$@" >"$TMP/out" 2>"$TMP/err"; rc=$?; }

expect_rc()       { [ "$rc" = "$1" ] && ok "$2 (exit $rc)" || { bad "$2: exit $rc, wanted $1"; cat "$TMP/err"; }; }
expect_out()      { grep -qE -- "$1" "$TMP/out" && ok "$2" || { bad "$2: stdout lacks /$1/"; head -40 "$TMP/out"; }; }
expect_err()      { grep -qE -- "$1" "$TMP/err" && ok "$2" || { bad "$2: stderr lacks /$1/"; cat "$TMP/err"; }; }

# need_data REL: the path of a shared-data file, or empty (and SKIPPED, or FAIL when required).
need_data() {
  if [ -e "$DATA/$1" ]; then echo "$DATA/$1"; return 0; fi
  if [ "${EDGELM_REQUIRE_DATA:-0}" = 1 ]; then
    echo "FAIL: required test data $DATA/$1 is missing (set EDGELM_TEST_DATA)" >&2
    # callers run this in a subshell ($(need_data ...)): finish counts the failure from the file
    echo "$1" >>"$TMP/required-missing"
  else
    echo "SKIPPED: $DATA/$1 is missing (set EDGELM_TEST_DATA)" >&2
  fi
  return 1
}

# run_py SCRIPT ARGS...: run tests/SCRIPT (a python test printing ok:/FAIL: lines) as one check,
# its lines indented below; on a failure all of its output.
run_py() {
  local script=$1
  shift
  if python3 "$(dirname "$0")/$script" "$@" >"$TMP/py" 2>&1; then
    ok "$script: $(tail -1 "$TMP/py")"
    grep -E '^(ok|FAIL):' "$TMP/py" | sed 's/^/  /'
  else
    bad "$script"
    cat "$TMP/py"
  fi
}

# skip WHY: the rest cannot run here: SKIPPED (FAIL when EDGELM_REQUIRE_DATA=1), then finish.
skip() {
  if [ "${EDGELM_REQUIRE_DATA:-0}" = 1 ]; then bad "$1"; else echo "SKIPPED: $1"; fi
  finish
  exit $?
}

# openai_client DIR: the official OpenAI client (npm openai, pinned in tests/openai/) and
# compat.mjs installed into DIR with `npm ci`, or skip when node, npm or the registry is missing.
openai_client() {
  local here
  here=$(cd "$(dirname "$0")" && pwd)
  command -v node >/dev/null && command -v npm >/dev/null || skip "node and npm are needed"
  mkdir -p "$1"
  cp "$here/openai/package.json" "$here/openai/package-lock.json" "$here/openai/compat.mjs" "$1/"
  if ! (cd "$1" && npm ci --no-audit --no-fund --loglevel=error >"$TMP/npm" 2>&1); then
    cat "$TMP/npm"
    skip "npm ci could not install the openai package (no registry?)"
  fi
}

# start_bg NAME CMD...: run a server in the background (output in $TMP/NAME.out and .err); sets
# $pid, and $port once it prints "listening on http://127.0.0.1:PORT" (empty if it never does).
start_bg() {
  local name=$1
  shift
  "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  pid=$!
  for _ in $(seq 100); do grep -q listening "$TMP/$name.out" && break; sleep 0.1; done
  port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/$name.out")
}

finish() {
  if [ -s "$TMP/required-missing" ]; then
    n_fail=$((n_fail + $(wc -l <"$TMP/required-missing")))
    rm -f "$TMP/required-missing"
  fi
  echo "$n_pass passed, $n_fail failed"
  [ "$n_fail" = 0 ]
}
