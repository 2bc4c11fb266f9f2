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
  else
    echo "SKIPPED: $DATA/$1 is missing (set EDGELM_TEST_DATA)" >&2
  fi
  return 1
}

finish() {
  echo "$n_pass passed, $n_fail failed"
  [ "$n_fail" = 0 ]
}
