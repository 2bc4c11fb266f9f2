# `edgelm serve` driven by the official OpenAI client (npm openai, pinned in tests/openai/):
# installed into the build folder with `npm ci`, then tests/openai/compat.mjs runs against a server
# with a key. Needs node and the npm registry; says SKIPPED (or FAIL with EDGELM_REQUIRE_DATA=1)
# when either is missing.
. "$(dirname "$0")/testlib.sh"
here=$(cd "$(dirname "$0")" && pwd)
dir=${ELM_BUILD_DIR:-$(dirname "$ELM")}/openai

skip() {
  if [ "${EDGELM_REQUIRE_DATA:-0}" = 1 ]; then bad "$1"; else echo "SKIPPED: $1"; fi
  finish
  exit $?
}
command -v node >/dev/null && command -v npm >/dev/null || skip "node and npm are needed"
m=$(need_data models/stories260K-f32.gguf) || skip "stories260K is missing"
mkdir -p "$dir"
cp "$here/openai/package.json" "$here/openai/package-lock.json" "$here/openai/compat.mjs" "$dir/"
if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >"$TMP/npm" 2>&1); then
  cat "$TMP/npm"
  skip "npm ci could not install the openai package (no registry?)"
fi

"$ELM" serve -m "$m" --port 0 -np 2 -c 256 -t 1 --api-key sk-test >"$TMP/srv.out" 2>"$TMP/srv.err" &
pid=$!
for _ in $(seq 100); do grep -q listening "$TMP/srv.out" && break; sleep 0.1; done
port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/srv.out")
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
