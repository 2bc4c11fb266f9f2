# `edgelm cost`: Edge-First Table I from records, the other metrics from flags, named errors.
. "$(dirname "$0")/testlib.sh"
T1="$FIXTURES/metrics/table1.json"

run "$ELM" cost --help
expect_rc 0 "cost --help"
expect_out "usage: edgelm cost" "help names the command"

run "$ELM" cost --records "$T1"
expect_rc 0 "Table I from records"
expect_out "^GPT-4 +1\.638 +1\.64 +0\.97 +0\.71 +0\.84 +0\.51 +0\.51$" "GPT-4 row: CPR 1.638 (paper 1.64), PCR 0.51"
expect_out "^edge 0\.1646 Wh +0\.004115 +0\.0041 +0\.91 +0\.28 +0\.595 +144\.59 +145\.12$" "edge row 1: PCR 145.12 as printed"
expect_out "^edge 0\.0687 Wh +0\.001718 +0\.0017 +0\.8 +0\.33 +0\.565 +328\.97 +332\.35$" "edge row 2: PCR 332.35 as printed"

run "$ELM" cost --records "$T1" --json
expect_rc 0 "Table I as JSON"
expect_out '"pcr_paper":145\.1219' "json PCR with the paper's rounding"
expect_out '"cpr_cents":0\.004115' "json unrounded CPR"
if command -v python3 >/dev/null; then
  python3 -m json.tool "$TMP/out" >/dev/null && ok "json parses" || bad "json does not parse"
fi

run "$ELM" cost --records "$T1" --r-ref 1
expect_rc 0 "normalized R"
expect_out "R normalized" "says which R"
expect_out "^GPT-4 +1\.638 +1\.64 +0\.97 +0\.5848 " "R = 1 / (1 + 0.71)"

run "$ELM" cost --model gpt-4 --in 48 --out 249 --q 0.97 --r 0.71
expect_rc 0 "one row from flags"
expect_out "^gpt-4 +1\.638 " "cloud CPR from the price table"

run "$ELM" cost --wh 0.1646 --cents-per-kwh 25 --q 0.91 --ttft 0.28 --platform pi
expect_rc 0 "edge row from flags"
expect_out "^pi +0\.004115 +0\.0041 " "edge CPR"

run "$ELM" cost --alpha 1.5 --records "$T1"
expect_rc 2 "alpha out of range"
expect_err "--alpha 1.5: must lie in \[0, 1\]" "names the flag and the range"

run "$ELM" cost --model gpt-4 --in 48 --out 249 --q 0.97 --r 0.71 --usd-per-m-in -1
expect_rc 2 "negative price"
expect_err "--usd-per-m-in -1: must be at least 0" "names the flag and the bound"

run "$ELM" cost --in 48 --out 249 --q 0.97 --r 0.71
expect_rc 2 "missing price"
expect_err "missing --usd-per-m-in" "names the missing flag"

run "$ELM" cost --wh 0.1 --q 0.9 --r 0.3
expect_rc 2 "missing electricity price"
expect_err "missing --cents-per-kwh" "names the missing flag"

run "$ELM" cost --model gpt-9 --in 1 --out 1 --q 0.5 --r 0.5
expect_rc 2 "unknown model"
expect_err "gpt-9: not in the price table" "names the model"

printf '{"prices":[{"name":"m","usd_per_m_input":-3,"usd_per_m_output":1}]}' > "$TMP/p.json"
run "$ELM" cost --prices "$TMP/p.json" --model m --in 1 --out 1 --q 0.5 --r 0.5
expect_rc 1 "negative price in the table"
expect_err "p.json: model \"m\": \"usd_per_m_input\" is negative" "names file, model and field"

printf '[{"platform":"x","model":"gpt-4","input_tokens":-5,"output_tokens":1,"q":0.5,"r":1}]' > "$TMP/r.json"
run "$ELM" cost --records "$TMP/r.json"
expect_rc 1 "negative tokens in a record"
expect_err "record 0: \"input_tokens\" is negative" "names the record and field"

printf '[{"platform":"x","wh_per_response":0,"q":0.5,"r":1,"cents_per_kwh":25}]' > "$TMP/z.json"
run "$ELM" cost --records "$TMP/z.json"
expect_rc 0 "zero energy"
expect_out "^x .*unavailable" "PCR over a zero cost is unavailable, not 0"
expect_out "PCR unavailable: the cost per response is 0" "with the reason"

run "$ELM" cost breakeven --name-a rpi5 --price-a 97 --name-b orin --price-b 598.80 \
  --j-in-a 0.5 --j-out-a 2 --j-in-b 0.1 --j-out-b 0.5 --mu 1 --ratio 1 --tps 10 --cents-per-kwh 20
expect_rc 0 "break-even, Sometimes Painful prices"
expect_out "price difference: \\\$501\.80 \(orin costs more\)" 'difference $501.80'
expect_out "break-even after: 2\.641e\+05 hours" "hours"

run "$ELM" cost breakeven --price-a 97 --price-b 598.80 --j-in-a 0.01 --j-out-a 0.01 \
  --j-in-b 0.1 --j-out-b 0.5 --mu 1 --ratio 1 --tps 10 --cents-per-kwh 20 --json
expect_rc 0 "break-even never"
expect_out '"seconds":null' "null, not 0"
expect_out 'never pays back' "with the reason"

run "$ELM" cost breakeven --price-a 97 --price-b 598.80 --j-in-a 1 --j-out-a 1 \
  --j-in-b 1 --j-out-b 1 --mu 0 --ratio 1 --tps 10 --cents-per-kwh 20
expect_rc 2 "mu zero"
expect_err "--mu 0: must lie in \(0, 1\]" "names mu"

run "$ELM" cost breakeven --price-a 97
expect_rc 2 "break-even missing flags"
expect_err "missing --price-b" "names the first missing flag"

run "$ELM" cost battery --battery-wh 18.84 --wh-per-run 0.5 --run-s 60
expect_rc 0 "battery"
expect_out "37 whole runs \(37\.68\), 0\.628 hours" "runs and hours"

run "$ELM" cost battery --battery-wh 18.84 --wh-per-run 0.5 --run-s 0
expect_rc 2 "zero duration"
expect_err "--run-s 0: must be greater than 0" "names the flag"

run "$ELM" cost permtok --cents-per-kwh 20 --j-out 3.6 --json
expect_rc 0 "per-M-token cost"
expect_out '"usd_per_m_output":0\.2' '3.6 J/token at 20 c/kWh is 0.20 dollars per M'

run "$ELM" cost action --energy-j 120 --tokens 40
expect_out "3 J/token" "S = E / t"

run "$ELM" cost reading --tps 5.3 --json
expect_out '"faster_than_reading":true' "5.3 tok/s keeps up"
run "$ELM" cost reading --tps 4
expect_out "below reading speed" "4 tok/s does not"

run "$ELM" cost prices
expect_out "^gpt-4o-mini +0\.15 +0\.60" "default price table"

run "$ELM" cost frobnicate
expect_rc 2 "unknown subcommand"
expect_err "unknown subcommand 'frobnicate'" "names it"

# --db: Table I rows from the results store (GSM8K accuracy + bench TTFT and energy).
if m=$(need_data reference/models/stories260K-F32.gguf) && data=$(need_data gsm8k/test.jsonl); then
  cp "$m" "$TMP/nopower.gguf"
  "$ELM" bench -m "$m" -t 1 -p 4 -n 2 -r 2 --power constant --watts 5 --db "$TMP/r.db" -o jsonl >/dev/null 2>&1 &&
  "$ELM" bench -m "$TMP/nopower.gguf" -t 1 -p 4 -n 2 -r 2 --power constant --watts 5 --db "$TMP/r.db" -o jsonl >/dev/null 2>&1 &&
  "$ELM" eval gsm8k -m "$m" --data "$data" -n 1 --max-tokens 2 -t 1 --db "$TMP/r.db" >/dev/null 2>&1 &&
  "$ELM" eval gsm8k -m "$TMP/nopower.gguf" --data "$data" -n 1 --max-tokens 2 -t 1 --db "$TMP/r.db" >/dev/null 2>&1 &&
    ok "store filled by bench and eval" || bad "filling the store"
  # the second model's bench record as a machine without a power sensor writes it
  python3 - "$TMP/r.db" <<'EOF2'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rid, rec = db.execute("select id, record from runs where model like '%nopower.gguf'").fetchone()
rec = json.loads(rec)
rec["energy_j"] = {"unavailable": "no power sensor, here"}
db.execute("update runs set energy_j = null, energy_j_sd = null, record = ? where id = ?",
           (json.dumps(rec), rid))
db.commit()
EOF2
  run "$ELM" cost --db "$TMP/r.db" --cents-per-kwh 25 --json
  expect_rc 0 "cost --db"
  if python3 - "$TMP/out" <<'EOF2'
import json, sys
rows = {r["platform"]: r for r in json.load(open(sys.argv[1]))["rows"]}
a, b = rows["stories260K-F32.gguf"], rows["nopower.gguf"]
assert a["cpr_cents"] > 0 and a["pcr"] is not None and a["r_source"] == "ttft_s", a
assert b["cpr_cents"] is None and b["unavailable"] == "CPR unavailable: no power sensor, here", b
EOF2
  then ok "rows from the store, CPR unavailable without energy"; else bad "rows from the store"; cat "$TMP/out"; fi
  run "$ELM" cost --db "$TMP/r.db" --cents-per-kwh 25 --model nopower
  expect_rc 0 "cost --db --model"
  expect_out "^nopower.gguf: CPR unavailable: no power sensor, here$" "reason printed"
  [ "$(grep -c '\.gguf ' "$TMP/out")" = 1 ] && ok "--model keeps one row" || bad "--model filter"
  run "$ELM" cost --db "$TMP/r.db" --model nothing-like-this
  expect_rc 1 "no matching model"
  expect_err "no model matching 'nothing-like-this'" "says what is missing"
  run "$ELM" cost --db "$TMP/missing.db"
  expect_rc 1 "missing store"
  expect_err "missing.db: cannot open" "names the file"
  [ ! -e "$TMP/missing.db" ] && ok "missing store not created" || bad "missing store created"
  run "$ELM" cost --db "$TMP/r.db" --q 0.5
  expect_rc 2 "--db with row flags"
fi

finish
