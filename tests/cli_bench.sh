# `edgelm bench`: usage errors name the flag, unavailable figures are printed as unavailable,
# and real small runs in every output format, parsed back, with the results store.
. "$(dirname "$0")/testlib.sh"

run "$ELM" bench --help
expect_rc 0 "bench --help"
expect_out "usage: edgelm bench -m MODEL" "help names the command"

run "$ELM" bench -t 1
expect_rc 2 "bench without a model"
expect_err "no model given" "says what is missing"

# each bad value: exit 2 and the flag named
while read -r flag value; do
  run "$ELM" bench -m "$TMP/nope.gguf" "$flag" "$value" --no-db
  expect_rc 2 "usage error for '$flag $value'"
  expect_err "$flag" "names $flag"
done <<'LIST'
-t 0
-t a
-tb 1-
-p 0
-n x
-n 2-1
--ctx 1,
-r 1
--cooldown -1
-o xml
--power foo
--watts 0
--tdp -3
--interval 5
LIST
run "$ELM" bench -m "$TMP/nope.gguf" --bogus 3
expect_rc 2 "unknown option"
expect_err "unknown option '--bogus'" "names the option"
run "$ELM" bench -m "$TMP/nope.gguf" --db "$TMP/x.db" --no-db
expect_rc 2 "--db with --no-db"
run "$ELM" bench -m "$TMP/nope.gguf" --power constant --no-db
expect_rc 2 "constant source without --watts"
expect_err "needs --watts" "says what is missing"
run "$ELM" bench -m "$TMP/nope.gguf" -p 64 -n 32 --ctx 64 --no-db
expect_rc 2 "context too small"
expect_err "--ctx 64 cannot hold" "says why"

run "$ELM" bench -m "$TMP/nope.gguf" --no-db -r 2
expect_rc 1 "missing model file"
expect_err "nope.gguf" "error names the file"

if m=$(need_data models/stories260K-f32.gguf); then
  mkdir -p "$TMP/root"
  # no sensors under an empty root: energy unavailable, with the reason, in the table
  EDGELM_SYSFS_ROOT="$TMP/root" run "$ELM" bench -m "$m" -t 1 -p 8 -n 4 -r 2 --no-db
  expect_rc 0 "small markdown run"
  expect_out "^\| model \| quant \| size \|" "table header"
  expect_out "^\| stories260K-f32.gguf \| F32 \| [0-9.]+ MiB \| 1 \| 1 \| 8 \| 4 \|.* \| unavailable \|" "row with unavailable energy"
  expect_out "^energy: unavailable: no power sensor" "the reason is printed"
  expect_out "perf per token:" "counters line"

  run "$ELM" bench -m "$m" -t 1,2 -p 8 -n 4 -r 2 --watts 5 -o json --no-db
  expect_rc 0 "json run with a constant 5 W"
  if python3 - "$TMP/out" <<'PY'
import json, sys
recs = json.load(open(sys.argv[1]))
assert len(recs) == 2, recs
assert [r["threads"] for r in recs] == [1, 2]
for r in recs:
    assert r["n_prompt"] == 8 and r["n_gen"] == 4 and r["reps"] == 1
    assert r["power_source"] == "constant"
    pp, tg = r["energy"]["prefill"], r["energy"]["generation"]
    assert abs(pp["avg_w"]["mean"] - 5) < 1e-9, pp
    e = pp["energy_j"]["mean"] + tg["energy_j"]["mean"]
    assert abs(r["energy_j"]["mean"] - e) < 1e-9
    assert abs(r["action_per_token_j"]["mean"] - e / 4) < 1e-9
    assert r["gen_tps"]["mean"] > 0 and r["ttft_cold_ms"]["mean"] >= r["ttft_ms"]["mean"]
    for k, v in r["perf_per_token"].items():
        assert "mean" in v or v["unavailable"], (k, v)
PY
  then ok "json parsed back, energy consistent"; else bad "json output"; cat "$TMP/out"; fi

  run "$ELM" bench -m "$m" -t 1 -n 2,3 -r 2 -o csv --db "$TMP/r.db"
  expect_rc 0 "csv run into a store"
  expect_err "2 records appended to $TMP/r.db" "says where the records went"
  [ "$(wc -l <"$TMP/out")" = 3 ] && ok "csv: header and two rows" || { bad "csv line count"; cat "$TMP/out"; }
  python3 - "$TMP/out" "$TMP/r.db" <<'PY' && ok "csv columns and store rows" || bad "csv or store"
import sqlite3, sys
lines = open(sys.argv[1]).read().splitlines()
head = lines[0].split(",")
rows = [l.split(",") for l in lines[1:]]
assert all(len(r) == len(head) for r in rows)
assert [r[head.index("n_gen")] for r in rows] == ["2", "3"]
assert rows[0][head.index("gen_j")].startswith("unavailable: ")
db = sqlite3.connect(sys.argv[2])
assert db.execute("select version from schema_version").fetchone()[0] == 2
assert db.execute("select count(*) from runs").fetchone()[0] == 2
assert db.execute("select gen_j from runs").fetchone()[0] is None
PY

  mkdir -p "$TMP/xdg"
  XDG_DATA_HOME="$TMP/xdg" run "$ELM" bench -m "$m" -t 1 -p 4 -n 2 -r 2 -o jsonl
  expect_rc 0 "default store under XDG_DATA_HOME"
  [ -s "$TMP/xdg/edgelm/results.db" ] && ok "store created at the default path" || bad "no default store"
  python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$TMP/out" \
    && ok "jsonl parses" || bad "jsonl"
fi

finish
