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

# HTTP target: usage errors
while read -r args; do
  # shellcheck disable=SC2086
  run "$ELM" bench $args --no-db
  expect_rc 2 "usage error for '$args'"
done <<'LIST'
--target http://127.0.0.1:1
--target https://127.0.0.1:1 -m x
--target http://127.0.0.1:99999 -m x
--target http://127.0.0.1:1 -m x -t 2
--target http://127.0.0.1:1 -m x --drop-caches
--target http://127.0.0.1:1 -m x --arrival poisson:0
--target http://127.0.0.1:1 -m x --arrival bursty:3
--target http://127.0.0.1:1 -m x --requests 0
--target http://127.0.0.1:1 -m x --timeout 0
-m x.gguf --concurrency 2
LIST
run "$ELM" bench --target http://127.0.0.1:1 --no-db
expect_err "needs the request's model name" "--target without -m says so"
run "$ELM" bench --target http://127.0.0.1:1 -m x -t 2 --no-db
expect_err "--threads is for the in-process engine, not --target" "names the flag --target does not take"
run "$ELM" bench --target https://h:1 -m x --no-db
expect_err "https is not supported" "https named"

# HTTP target against the fake server
fake="$(dirname "$ELM")/fake_openai"
if [ -x "$fake" ]; then
  "$fake" --tokens 5 --first-ms 30 --delay-ms 10 --lifetime 60 >"$TMP/port" &
  fake_pid=$!
  for _ in 1 2 3 4 5 6 7 8 9 10; do [ -s "$TMP/port" ] && break; sleep 0.1; done
  port=$(cat "$TMP/port")
  run "$ELM" bench --target "http://127.0.0.1:$port" -m fake --concurrency 1,2 --requests 4 \
      -n 5 --no-db
  expect_rc 0 "target run"
  expect_out "^\| target \| model \| arrival \| conc \|" "target table header"
  expect_out "^\| http://127.0.0.1:$port \| fake \| closed \| 2 \| 4 \| 4 \| 0 \| 5 \|" "row: 4 of 4 ok"
  expect_out "tokens counted from usage.completion_tokens; 20 tokens" "token count and its source"
  run "$ELM" bench --target "http://127.0.0.1:$port/v1" -m fake --requests 3 \
      --arrival poisson:20 --seed 2 -o json --db "$TMP/t.db"
  expect_rc 0 "target json into a store"
  python3 - "$TMP/out" "$TMP/t.db" <<'PY' && ok "target json and store" || bad "target json or store"
import json, sqlite3, sys
r = json.load(open(sys.argv[1]))[0]
t = r["target"]
assert t["ok"] == 3 and t["errors"] == 0 and t["tokens"] == 15, t
assert t["arrival"] == "poisson:20 (seed 2)"
assert t["ttft_ms"]["p50"] >= 30 * 0.95 and t["itl_ms"]["n"] == 12
assert t["ttft_ms"]["p50"] <= t["ttft_ms"]["p90"] <= t["ttft_ms"]["p99"]
db = sqlite3.connect(sys.argv[2])
row = db.execute("select target_url, requests, errors, ttft_p50_ms from runs").fetchone()
assert row[0].endswith("/v1") and row[1] == 3 and row[2] == 0 and row[3] > 0, row
PY
  # provenance under a fixture root: cpufreq per CPU, the Jetson mode from `nvpmodel -q`
  for c in 0 1; do
    mkdir -p "$TMP/freq/sys/devices/system/cpu/cpu$c/cpufreq"
    echo performance >"$TMP/freq/sys/devices/system/cpu/cpu$c/cpufreq/scaling_governor"
    echo 2400000 >"$TMP/freq/sys/devices/system/cpu/cpu$c/cpufreq/scaling_cur_freq"
  done
  printf '#!/bin/sh\n[ "$1" = -q ] && printf "NV Power Mode: MAXN\\n0\\n"\n' >"$TMP/nvpmodel"
  chmod +x "$TMP/nvpmodel"
  EDGELM_SYSFS_ROOT="$TMP/freq" EDGELM_NVPMODEL="$TMP/nvpmodel" run "$ELM" bench \
      --target "http://127.0.0.1:$port" -m fake --requests 1 -o jsonl --no-db
  expect_rc 0 "target run under a fixture root"
  expect_out '"cpufreq":"performance 2400 MHz \(cpu0-1\)"' "governor and frequency per CPU"
  expect_out '"nvpmodel":"MAXN"' "Jetson power mode from nvpmodel -q"
  head=$(git -C "$(dirname "$0")/.." rev-parse --short HEAD 2>/dev/null) || head=unknown
  expect_out "\"git_hash\":\"$head(-dirty)?\"" "git hash of the build: the tree's commit"
  kill "$fake_pid"; wait "$fake_pid" 2>/dev/null
  # nobody listens there now: every request fails, named with host:port and the fix
  run "$ELM" bench --target "http://127.0.0.1:$port" -m fake --requests 2 --no-db
  expect_rc 1 "a target run where nothing completed fails"
  expect_err "none of the 2 requests at concurrency 1 completed: 2 x connection refused" "and says why"
  expect_out "errors: 2 x connection refused by 127.0.0.1:$port: no server is listening there" \
      "refused connection named"
else
  bad "fake_openai helper not built next to $ELM"
fi

if m=$(need_data models/stories260K-f32.gguf); then
  # under an empty root there is no /proc/sys/vm/drop_caches: the whole-cache drop (root only)
  # is not done, and the machine's page cache is left alone; the file's own pages are evicted
  mkdir -p "$TMP/root"
  EDGELM_SYSFS_ROOT="$TMP/root" run "$ELM" bench -m "$m" -t 1 -p 4 -n 2 -r 2 --drop-caches --no-db
  expect_rc 0 "--drop-caches as a user"
  expect_out "cold load: model file pages evicted \(posix_fadvise DONTNEED\); page cache not dropped: [^ ]*/root/proc/sys/vm/drop_caches" \
      "says which eviction was done"
  expect_out "cold load: .*; model mapped \(mmap\)$" "says the model was mapped"
  run "$ELM" bench -m "$m" -t 1 -p 4 -n 2 -r 2 --no-mmap --no-db
  expect_rc 0 "--no-mmap run"
  expect_out "cold load: .*; model read into memory \(--no-mmap\)$" "says the model was read into memory"

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
assert db.execute("select version from schema_version").fetchone()[0] == 3
assert len(db.execute("select model_sha256 from runs").fetchone()[0]) == 64
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

# --synthetic: made once under XDG_CACHE_HOME, then reused
mkdir -p "$TMP/cache"
XDG_CACHE_HOME="$TMP/cache" run "$ELM" bench --synthetic smollm2-135m:q4_0 -t 1 -p 4 -n 2 -r 2 -o json --no-db
expect_rc 0 "synthetic model benchmarked"
expect_err "synthetic smollm2-135m:q4_0: $TMP/cache/edgelm/synth/smollm2-135m-q4_0.gguf \(written now\)" "written into the cache"
sha=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["model_sha256"])' "$TMP/out")
want=$(sha256sum "$TMP/cache/edgelm/synth/smollm2-135m-q4_0.gguf" | cut -d' ' -f1)
[ "$sha" = "$want" ] && ok "record's model_sha256 matches sha256sum" || bad "sha256 $sha != $want"
XDG_CACHE_HOME="$TMP/cache" run "$ELM" bench --synthetic smollm2-135m:q4_0 -t 1 -p 4 -n 2 -r 2 --no-db
expect_err "\(cached\)" "reused from the cache"
grep -q "smollm2-135m-q4_0.gguf" "$TMP/cache/edgelm/sha256.tsv" && ok "sha256 cached" || bad "no sha256 cache"
run "$ELM" bench --synthetic nosuch:q4_0 --no-db
expect_rc 2 "unknown synthetic shape"

finish
