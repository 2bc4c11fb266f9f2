# `edgelm gateway` with its limits shared through Redis: tests/gateway_redis_test.py starts a real
# redis-server (Debian's; SKIPPED, or FAIL with EDGELM_REQUIRE_DATA=1, when it is missing), two
# gateways over fake devices, and checks each fake's own record.
. "$(dirname "$0")/testlib.sh"
redis=$(command -v redis-server) || skip "redis-server is needed (scripts/install-deps.sh)"
fake="$(dirname "$ELM")/fake_openai"
[ -x "$fake" ] || { bad "fake_openai helper not built next to $ELM"; finish; exit 1; }
run_py gateway_redis_test.py "$ELM" "$fake" "$redis"
finish
