# `edgelm report`: help, bad arguments and inputs, the empty store's report (what to run per
# figure), and the full report of a fixture store, simulation and gateway log checked as XML,
# against the fixture's values, and in headless Chromium (tests/report_test.py).
. "$(dirname "$0")/testlib.sh"
BIN=$(dirname "$ELM")

run "$ELM" report --help
expect_rc 0 "report --help"
expect_out "usage: edgelm report" "help names the command"
expect_out "--gateway-log FILE" "help lists the gateway log option"

run "$ELM" report --since yesterday
expect_rc 2 "bad --since"
expect_err "'yesterday' is not a date: give YYYY-MM-DD" "says what --since takes"

run "$ELM" report --alpha 2
expect_rc 2 "alpha out of range"
expect_err "--alpha 2: must lie in \[0, 1\]" "names the range"

run "$ELM" report --db "$TMP/none.db" -o "$TMP/r.html"
expect_rc 1 "missing --db"
expect_err "none.db: no results store there .*run .edgelm bench --db" "names the file and the fix"
[ ! -e "$TMP/none.db" ] && ok "report never creates a store" || bad "report created $TMP/none.db"

printf 'not json\n' > "$TMP/bad-sim.json"
HOME=$TMP/home XDG_DATA_HOME= run "$ELM" report --sim "$TMP/bad-sim.json" -o "$TMP/r.html"
expect_rc 1 "a simulator file that is not JSON"
expect_err "bad-sim.json" "names the file"

# No store at the default path: every figure says what to run; the page is still written.
HOME=$TMP/home XDG_DATA_HOME= run "$ELM" report -o "$TMP/empty.html"
expect_rc 0 "report without a store"
expect_out "wrote .*empty.html.*no results store at $TMP/home/.local/share/edgelm/results.db" \
  "says where it wrote and that there was no store"

[ -x "$BIN/report_fixture" ] || { bad "$BIN/report_fixture is not built"; finish; exit $?; }
run "$BIN/report_fixture" "$TMP/fx"
expect_rc 0 "fixture written"

run "$ELM" report --db "$TMP/fx/results.db" --sim "$TMP/fx/sim.json" \
  --gateway-log "$TMP/fx/access.jsonl" --title "Fixture <&> report" -o "$TMP/full.html"
expect_rc 0 "full report"

run "$ELM" report --db "$TMP/fx/results.db" --model no-such-model -o "$TMP/filtered.html"
expect_rc 0 "report of a filter that matches nothing"

run_py report_test.py "$TMP/empty.html" "$TMP/full.html" "$TMP/filtered.html" "$TMP/fx" "$TMP"
finish
