# `edgelm gateway` in front of a real `edgelm serve` (stories260K), driven by the official OpenAI
# client (npm openai, pinned in tests/openai/, installed with `npm ci` into the build folder): the
# same compat.mjs checks as serve's, now through the gateway, with a client key from its keys file.
# SKIPPED (or FAIL with EDGELM_REQUIRE_DATA=1) without node, the npm registry or the model.
. "$(dirname "$0")/testlib.sh"
dir=${ELM_BUILD_DIR:-$(dirname "$ELM")}/openai

m=$(need_data models/stories260K-f32.gguf) || skip "stories260K is missing"
openai_client "$dir"
start_bg srv "$ELM" serve -m "$m" --port 0 -np 2 -c 256 -t 1
srv_pid=$pid
[ -n "$port" ] || { bad "the server started"; cat "$TMP/srv.err"; finish; exit 1; }
model=$(basename "$m")
printf '{"keys":[{"name":"test","key":"sk-test-1234"}]}' >"$TMP/keys.json"
cat >"$TMP/cluster.json" <<JSON
{"window_s": 60, "cloud": {"enabled": false},
 "gateway": {"model_id": "$model", "keys_file": "$TMP/keys.json", "vocab": "$m",
             "health": {"interval_s": 1}},
 "devices": [{"name": "serve", "tokens_per_s": 100, "max_parallel": 2,
              "url": "http://127.0.0.1:$port/v1", "model": "$model"}]}
JSON
start_bg gw "$ELM" gateway --config "$TMP/cluster.json" --port 0 --log "$TMP/access.jsonl"
gw_pid=$pid
if [ -z "$port" ]; then
  bad "the gateway started"
  cat "$TMP/gw.err"
else
  if node "$dir/compat.mjs" "http://127.0.0.1:$port" "$model" sk-test-1234 >"$TMP/node" 2>&1; then
    ok "openai client through the gateway: $(tail -1 "$TMP/node")"
  else
    bad "openai client through the gateway"
  fi
  sed 's/^/  /' "$TMP/node"
  served=$(grep -c '"outcome":"served"' "$TMP/access.jsonl")
  [ "$served" -ge 4 ] && ok "the device served the client's requests ($served)" ||
    { bad "served: $served"; cat "$TMP/access.jsonl"; }
  grep -q sk-test "$TMP/access.jsonl" "$TMP/gw.err" && bad "a key in the logs" || ok "no key in the logs"
  # with the model's vocabulary the completion's prompt is counted, not estimated: as serve counts it
  line=$(grep '"endpoint":"completions"' "$TMP/access.jsonl" | head -1)
  est=$(echo "$line" | sed -n 's/.*"est_in":\([0-9]*\).*/\1/p')
  real=$(echo "$line" | sed -n 's/.*"prompt_tokens":\([0-9]*\).*/\1/p')
  case "$line" in
    *'"estimated":false'*) [ -n "$est" ] && [ "$est" = "$real" ] && ok "prompt tokens counted with the vocabulary ($est)" ||
        bad "counted $est, served $real: $line" ;;
    *) bad "the count says estimated: $line" ;;
  esac
fi
kill -TERM "$gw_pid" 2>/dev/null
wait "$gw_pid"
rc=$?
[ "$rc" = 0 ] && ok "gateway stopped with exit 0" || { bad "gateway exit $rc"; tail -20 "$TMP/gw.err"; }
kill -TERM "$srv_pid" 2>/dev/null
wait "$srv_pid"
finish
