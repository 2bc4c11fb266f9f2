# `edgelm gateway`: usage and config errors here, then tests/gateway_test.py drives gateways over
# fake devices (tests/fake_openai.c) and checks them against each fake's own record.
. "$(dirname "$0")/testlib.sh"

run "$ELM" gateway --help
expect_rc 0 "gateway --help"
expect_out "usage: edgelm gateway --config" "help names the command"
run "$ELM" gateway --port 0
expect_rc 2 "gateway without a cluster"
expect_err "no cluster given" "says what is missing"
run "$ELM" gateway --config "$TMP/none.json" --port 0
expect_rc 1 "a missing cluster file"
expect_err "none.json" "names the file"
printf '{"devices":[{"name":"a","tokens_per_s":5}]}' >"$TMP/nourl.json"
run "$ELM" gateway --config "$TMP/nourl.json" --port 0
expect_rc 1 "a device without a url"
expect_err "devices\[0\].url is required by the gateway" "names the key"
printf '{"cloud":{"enabled":false},"devices":[{"name":"a","tokens_per_s":5,"url":"http://127.0.0.1:9/v1","api_key_env":"ELM_TEST_NO_SUCH_KEY"}]}' >"$TMP/nokey.json"
run env -u ELM_TEST_NO_SUCH_KEY "$ELM" gateway --config "$TMP/nokey.json" --port 0
expect_rc 1 "a key variable that is not set"
expect_err "ELM_TEST_NO_SUCH_KEY, which is not set" "names the variable"
printf '{"cloud":{"enabled":false},"devices":[{"name":"a","tokens_per_s":5,"url":"http://127.0.0.1:9/v1"}]}' >"$TMP/ok.json"
run "$ELM" gateway --config "$TMP/ok.json" --strategy fastest
expect_rc 2 "an unknown strategy"
expect_err "--strategy 'fastest'" "names it"

fake="$(dirname "$ELM")/fake_openai"
if [ ! -x "$fake" ]; then
  bad "fake_openai helper not built next to $ELM"
else
  run_py gateway_test.py "$ELM" "$fake"
fi
finish
