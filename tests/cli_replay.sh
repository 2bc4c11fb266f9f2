# `edgelm simulate --replay`: usage and log errors here on hand-written logs, then
# tests/replay_test.py replays gateways' own logs (over tests/fake_openai.c devices) and checks the
# simulated redirects and rejections against the recorded ones.
. "$(dirname "$0")/testlib.sh"

cat >"$TMP/cluster.json" <<'JSON'
{"window_s": 10, "strategy": "load-aware", "cloud": {"enabled": true, "name": "cloud"},
 "devices": [{"name": "a", "tokens_per_s": 10, "window_tokens": 100, "max_parallel": 1},
             {"name": "b", "tokens_per_s": 20, "window_tokens": 100, "max_parallel": 1}]}
JSON
line() { # t_ms decision reason device outcome completion_tokens tokens_per_s
  printf '{"t_ms":%s,"id":1,"endpoint":"chat","stream":true,"est_in":5,"est_out":40,"estimated":true,"decision":"%s","reason":"%s","device":%s,"attempts":1,"status":200,"prompt_tokens":5,"completion_tokens":%s,"ttft_ms":1,"duration_ms":10,"tokens_per_s":%s,"cost_usd":0,"outcome":"%s"}\n' \
    "$1" "$2" "$3" "$4" "$6" "$7" "$5"
}
{
  line 1000 device ok '"a"' served 40 12
  line 1500 device ok '"b"' served 40 18
  line 1200 device ok '"a"' served 40 14
  line 2000 cloud window_full '"cloud"' redirected 40 null
  line 2100 reject invalid null rejected 0 null
  echo
  line 2200 reject key_window_full null rejected 0 null
} >"$TMP/a.jsonl"

run "$ELM" simulate --replay "$TMP/a.jsonl" --config "$TMP/cluster.json"
expect_rc 0 "a hand-written log replays"
expect_out "^replay of .*a.jsonl: 4 requests over 1.0 s \(2 lines skipped: 1 invalid, 1 over a client key's limits\)" "counts what it replays and what it skips"
expect_out "^speeds measured from the log: a 13.0 tok/s \(2 requests\), b 18.0 tok/s \(1 request\)" "each device's median measured speed"
expect_out "^recorded outcomes: 3 served, 1 redirected, 0 rejected, 0 failed, 0 cancelled" "the recorded outcomes"
expect_out "^recorded load-aware +3 +1 +0 +45 " "the recorded row"
expect_out "^replay +load-aware +[0-9]+ +[0-9]+ +0 " "the replayed row"
expect_out "^recorded +2 +1$" "served per device, recorded"
run "$ELM" simulate --replay "$TMP/a.jsonl" --config "$TMP/cluster.json" --config-speeds --strategy random
expect_rc 0 "--config-speeds --strategy random"
expect_out "^speeds from the config: a 10.0 tok/s, b 20.0 tok/s$" "keeps the config's speeds"
expect_out "^replay +random " "replays the strategy asked for"
run "$ELM" simulate --replay "$TMP/a.jsonl" --config "$TMP/cluster.json" --csv "$TMP/r.csv"
expect_rc 0 "--replay --csv"
grep -q "^replay,load-aware,1,total," "$TMP/r.csv" && ok "the CSV has the replay's total row" || bad "the CSV lacks the replay's total row"

run "$ELM" simulate --replay "$TMP/a.jsonl"
expect_rc 2 "--replay without --config"
expect_err "needs --config" "says what is missing"
run "$ELM" simulate --replay "$TMP/a.jsonl" --config "$TMP/cluster.json" --workload bursty
expect_rc 2 "--replay with --workload"
expect_err "drop --workload" "says what to drop"
run "$ELM" simulate --config-speeds
expect_rc 2 "--config-speeds without --replay"
run "$ELM" simulate --replay "$TMP/none.jsonl" --config "$TMP/cluster.json"
expect_rc 1 "a missing log"
expect_err "none.jsonl" "names the file"
{ line 1000 device ok '"a"' served 40 12; line 1100 device ok '"a"' served 40 12 | sed 's/"est_out":40/"est_out":-3/'; } >"$TMP/bad.jsonl"
run "$ELM" simulate --replay "$TMP/bad.jsonl" --config "$TMP/cluster.json"
expect_rc 1 "a bad line"
expect_err "bad.jsonl:2: est_out must be a non-negative integer" "names the line and the field"
line 2100 reject invalid null rejected 0 null >"$TMP/empty.jsonl"
run "$ELM" simulate --replay "$TMP/empty.jsonl" --config "$TMP/cluster.json"
expect_rc 1 "a log with nothing to replay"
expect_err "no request that reached the router" "says so"

fake="$(dirname "$ELM")/fake_openai"
if [ ! -x "$fake" ]; then
  bad "fake_openai helper not built next to $ELM"
else
  run_py replay_test.py "$ELM" "$fake"
fi
finish
