# `edgelm simulate`: help, bad arguments and config errors, and a run with CSV, JSON and SVG output.
. "$(dirname "$0")/testlib.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)

run "$ELM" simulate --help
expect_rc 0 "simulate --help"
expect_out "usage: edgelm simulate" "help names the command"
expect_out "least-predicted-completion" "help lists the strategies"

run "$ELM" simulate --bogus
expect_rc 2 "unknown option"
expect_err "unknown option '--bogus'" "names the option"

run "$ELM" simulate --strategy fastest
expect_rc 2 "unknown strategy"
expect_err "unknown strategy 'fastest'" "names the strategy"

run "$ELM" simulate --seeds 0
expect_rc 2 "zero seeds"
expect_err "--seeds 0: must lie in \[1, 1000\]" "says what --seeds takes"

run "$ELM" simulate --workload
expect_rc 2 "missing value"
expect_err "--workload needs a value \(W\)" "names the option"

printf '{"devices": [{"name": "pi", "tokens_per_s": 0}]}' > "$TMP/bad.json"
run "$ELM" simulate --config "$TMP/bad.json"
expect_rc 1 "invalid cluster"
expect_err "bad.json: devices\[0\].tokens_per_s must be > 0" "error names the file, key and rule"

run "$ELM" simulate --config "$TMP/none.json"
expect_rc 1 "missing cluster file"
expect_err "none.json: cannot open \(No such file" "names the file and the cause"

# The default run: Edge-First's four scenarios.
run "$ELM" simulate
expect_rc 0 "default scenarios"
expect_out "^steady +random " "steady+random"
expect_out "^steady +weighted " "steady+weighted"
expect_out "^bursty +random " "bursty+random"
expect_out "^bursty +load-aware " "bursty+load-aware"

run "$ELM" simulate --config "$ROOT/examples/cluster.json" --seeds 3 --csv "$TMP/s.csv" \
    --json "$TMP/s.json" --svg "$TMP/svg"
expect_rc 0 "run with every output"
expect_out "± " "mean ± CI with several seeds"
expect_out "over 3 seeds" "says how many seeds"
head -1 "$TMP/s.csv" | grep -q "^workload,strategy,seed,step,requests,processed,redirected,rejected,.*,util_jetson-orin-nano$" \
  && ok "csv header" || bad "csv header: $(head -1 "$TMP/s.csv")"
rows=$(grep -c "" "$TMP/s.csv")
[ "$rows" = $((1 + 4 * 3 * 61)) ] && ok "csv: 60 steps + total per run ($rows lines)" || bad "csv has $rows lines"
grep -q "^bursty,load-aware,3,total," "$TMP/s.csv" && ok "csv totals row" || bad "csv totals row missing"
if command -v python3 >/dev/null; then
  python3 - "$TMP/s.json" <<'PY' && ok "json: scenarios, runs, steps, summaries" || bad "json content"
import json, sys
j = json.load(open(sys.argv[1]))
sc = j["scenarios"]
assert len(sc) == 4 and j["seeds"] == 3
for s in sc:
    assert len(s["runs"]) == 3 and len(s["runs"][0]["steps"]) == 60
    t = s["runs"][0]["totals"]
    assert t["requests"] == t["processed"] + t["redirected"] + t["rejected"]
    assert s["summary"]["tok_redirected"]["ci95"] >= 0
PY
fi
for f in outcomes redirected_tokens cloud_cost utilization; do
  grep -q "</svg>" "$TMP/svg/$f.svg" 2>/dev/null && ok "chart $f.svg" || bad "chart $f.svg missing"
done
grep -q "spread (std dev)" "$TMP/svg/utilization.svg" && ok "utilization chart shows the spread" \
  || bad "utilization chart lacks the spread"

run "$ELM" simulate --compare --seeds 2 --minutes 10 --no-cloud
expect_rc 0 "compare without a cloud"
expect_out "^bursty +energy-aware " "every strategy on every workload"
[ "$(grep -cE '^(steady|bursty) ' "$TMP/out")" = 12 ] && ok "12 scenario rows" || bad "not 12 rows"

# The built-in cluster is examples/cluster.json: the same results from both.
run "$ELM" simulate --seed 3 --json "$TMP/builtin.json"
run "$ELM" simulate --seed 3 --json "$TMP/example.json" --config "$(dirname "$0")/../examples/cluster.json"
expect_rc 0 "simulate --config examples/cluster.json"
cmp -s "$TMP/builtin.json" "$TMP/example.json" && ok "built-in cluster equals examples/cluster.json" \
  || bad "built-in cluster and examples/cluster.json differ: keep them the same"

finish
