# `edgelm serve` driven by the official OpenAI client (npm openai, pinned in tests/openai/):
# installed into the build folder with `npm ci`, then tests/openai/compat.mjs runs against a server
# with a key. Needs node and the npm registry; says SKIPPED (or FAIL with EDGELM_REQUIRE_DATA=1)
# when either is missing.
. "$(dirname "$0")/testlib.sh"
dir=${ELM_BUILD_DIR:-$(dirname "$ELM")}/openai

m=$(need_data models/stories260K-f32.gguf) || skip "stories260K is missing"
openai_client "$dir"
start_bg srv "$ELM" serve -m "$m" --port 0 -np 2 -c 256 -t 1 --api-key sk-test
if [ -z "$port" ]; then
  bad "the server started"
  cat "$TMP/srv.err"
else
  if node "$dir/compat.mjs" "http://127.0.0.1:$port" "$(basename "$m")" sk-test >"$TMP/node" 2>&1; then
    ok "openai client: $(tail -1 "$TMP/node")"
  else
    bad "openai client"
  fi
  sed 's/^/  /' "$TMP/node"
fi
kill -TERM "$pid" 2>/dev/null
wait "$pid"
rc=$?
[ "$rc" = 0 ] && ok "server stopped with exit 0" || bad "server exit $rc"
finish
