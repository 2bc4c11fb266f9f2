# `edgelm serve` on the real stories260K model: usage errors here, then tests/serve_test.py
# drives a running server over HTTP (endpoints, batching, stop strings, cache, metrics, faults).
. "$(dirname "$0")/testlib.sh"

run "$ELM" serve --help
expect_rc 0 "serve --help"
expect_out "usage: edgelm serve -m MODEL" "help names the command"
run "$ELM" serve --port 1
expect_rc 2 "serve without a model"
expect_err "no model given" "says what is missing"
run "$ELM" serve -m x --port 70000
expect_rc 2 "a port out of range"
expect_err "--port 70000: must lie in \[0, 65535\]" "names the range"
run "$ELM" serve -m "$TMP/none.gguf" --port 0
expect_rc 1 "a missing model"
expect_err "none.gguf" "names the file"

if m=$(need_data models/stories260K-f32.gguf); then
  run_py serve_test.py "$ELM" "$m"
  # edgelm bench --target measures edgelm serve like any OpenAI-compatible server
  "$ELM" serve -m "$m" --port 0 -np 2 -c 512 -t 1 >"$TMP/srv.out" 2>"$TMP/srv.err" &
  pid=$!
  for _ in $(seq 100); do grep -q listening "$TMP/srv.out" && break; sleep 0.1; done
  port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/srv.out")
  run "$ELM" bench --target "http://127.0.0.1:$port" -m "$(basename "$m")" --concurrency 1,2 \
    --requests 4 -n 16 --no-db -o jsonl
  expect_rc 0 "bench --target against edgelm serve"
  [ "$(grep -c '"errors":0' "$TMP/out")" = 2 ] && ok "every request served at both concurrencies" ||
    { bad "bench --target saw errors"; cat "$TMP/out"; }
  kill -TERM "$pid"
  wait "$pid"
  [ $? = 0 ] && ok "server exit 0 after SIGTERM" || bad "server exit status"
elif [ "${EDGELM_REQUIRE_DATA:-0}" = 1 ]; then
  bad "stories260K is required"
fi
finish
