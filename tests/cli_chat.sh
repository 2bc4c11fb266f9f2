# edgelm chat: scripted (input not a terminal: one message a line) and in a pseudo-terminal
# (tests/chat_pty_test.py) on stories260K, with the numbers it must show computed independently
# by `edgelm run` and `edgelm tokenize`.
. "$(dirname "$0")/testlib.sh"

run "$ELM" chat --help
expect_rc 0 "chat --help"
expect_out "/save FILE" "--help lists the conversation's commands"
run "$ELM" chat
expect_rc 2 "chat without a model"
expect_err "no model given" "the error names what is missing"
run "$ELM" chat -m x.gguf -n 0
expect_rc 2 "chat -n 0"

m=$(need_data models/stories260K-f32.gguf) || { finish; exit $?; }
chat() { "$ELM" chat -m "$m" -t 1 --temp 0 "$@"; }

run chat </dev/null
expect_rc 0 "chat with no input ends at once"
run "$ELM" chat -m "$TMP/missing.gguf" </dev/null
expect_rc 1 "chat on a missing model"
expect_err "missing.gguf" "the error names the file"

# what the first turn must give: `edgelm run --chat`'s answer, from the same templated tokens
"$ELM" run -m "$m" --chat -p "Hello there" --temp 0 -n 24 -t 1 >"$TMP/first" 2>/dev/null
first=$(cat "$TMP/first")
turn1=$("$ELM" tokenize -m "$m" --chat --json "Hello there" |
  python3 -c 'import json, sys; print(len(json.load(sys.stdin)["tokens"]))')
# turn 2 reads the first answer's last token (not decoded yet), then the template's text from
# the end of that answer on: the closing of the answer, the new message, the assistant's opening
delta=$'<|im_end|>\n<|im_start|>user\nTell me a story<|im_end|>\n<|im_start|>assistant\n'
turn2=$(("$("$ELM" tokenize -m "$m" --no-bos --special --json "$delta" |
  python3 -c 'import json, sys; print(len(json.load(sys.stdin)["tokens"]))')" + 1))

# ---- scripted ----
printf 'Hello there\nTell me a story\n/stats\n/save %s\n' "$TMP/conv.json" >"$TMP/in"
run chat -n 24 <"$TMP/in"
expect_rc 0 "a scripted two-turn chat"
[ "$(head -c ${#first} "$TMP/out")" = "$first" ] && ok "the first answer is run --chat's" ||
  { bad "the first answer differs from run --chat's"; cat "$TMP/out"; }
expect_out "^prompt: $turn2 tokens read \($((turn1 + 23)) reused from the cache\)" \
  "turn 2 reads only its $turn2 new tokens, on $turn1 + 23 cached"
expect_out "^answer: 24 tokens, .* \(stop: length \(-n\)\)" "/stats gives the answer's tokens and why it stopped"
expect_out "^context: $((turn1 + 23 + turn2 + 23)) of 512 positions used" "/stats gives the context used"
expect_out "^energy: (unavailable: .+|[0-9.]+ J \(.+\))$" "energy is measured, or unavailable with the reason"
expect_out "saved 4 messages to" "/save says what it wrote"
python3 - "$TMP/conv.json" "$first" <<'EOF' && ok "/save writes a chat request body" || bad "/save's file"
import json, sys
j = json.load(open(sys.argv[1]))
roles = [m["role"] for m in j["messages"]]
assert j["model"] == "stories260K-f32.gguf", j
assert roles == ["user", "assistant", "user", "assistant"], roles
assert j["messages"][0]["content"] == "Hello there"
assert j["messages"][1]["content"] == sys.argv[2], (j["messages"][1], sys.argv[2])
EOF

# /load continues a saved conversation: the next turn reads it whole (nothing cached yet)
printf '/load %s\n/stats\nThe end\n/stats\n' "$TMP/conv.json" >"$TMP/in"
run chat -n 8 <"$TMP/in"
expect_rc 0 "/load then a turn"
expect_out "loaded 4 messages from" "/load says what it read"
expect_out "^no turn yet" "/stats before any turn says so"
n_full=$(grep -oE "^prompt: [0-9]+ tokens read \(0 reused" "$TMP/out" | grep -oE "[0-9]+" | head -1)
[ -n "$n_full" ] && [ "$n_full" -gt $((turn1 + 23 + turn2)) ] &&
  ok "the loaded conversation is read whole ($n_full tokens)" || bad "the turn after /load: $(cat "$TMP/out")"

# /system goes first in what /save writes
printf '/system Be brief.\n/system\nHi\n/save %s\n' "$TMP/sys.json" >"$TMP/in"
run chat -n 4 <"$TMP/in"
expect_out "^Be brief\.$" "/system without text shows the system message"
python3 -c 'import json, sys; m = json.load(open(sys.argv[1]))["messages"]; sys.exit(m[0] != {"role": "system", "content": "Be brief."})' \
  "$TMP/sys.json" && ok "/system's message is saved first" || bad "/system: $(cat "$TMP/sys.json")"

# bad files for /load: each error names the file and what is wrong; the chat goes on
echo '{"messages": [{"role": "robot", "content": "x"}]}' >"$TMP/bad.json"
printf '/load %s\n/load %s\n/load\n/frobnicate\nHi\n' "$TMP/bad.json" "$TMP/none.json" >"$TMP/in"
run chat -n 4 <"$TMP/in"
expect_rc 0 "bad commands do not end the chat"
expect_err "bad\.json: .*messages\[0\]\.role" "/load of a bad body names the field"
expect_err "none\.json" "/load of a missing file names it"
expect_err "/load needs a file name" "/load without a file says so"
expect_err "unknown command /frobnicate" "an unknown command is named"
[ "$(wc -l <"$TMP/out")" -ge 1 ] && ok "the message after them is answered" || bad "no answer"

# the context fills: the oldest turns go (the system message stays), the chat goes on
printf 'Hello there\nTell me a story\nAnd then?\n/stats\n' >"$TMP/in"
run chat -c 128 -n 40 --system "Stories." <"$TMP/in"
expect_rc 0 "a chat longer than its context"
expect_err "\[context full: dropped the oldest 1 turn, reading the rest again\]" \
  "the user is told that old turns were dropped"
expect_out "^context: [0-9]+ of 128 positions used" "the conversation stays within -c"
# a message that cannot fit at all is refused, and the next one is answered
long=$(printf 'word %.0s' $(seq 200))
printf '%s\nHi\n' "$long" >"$TMP/in"
run chat -c 64 -n 8 <"$TMP/in"
expect_rc 1 "a script whose message cannot fit ends with status 1"
expect_err "more than the 64 there are \(start with a larger -c" "the error gives both numbers and the fix"
[ -s "$TMP/out" ] && ok "the next message is still answered" || bad "nothing answered after the refusal"

# energy from a known constant draw
printf 'Hello there\n/stats\n' >"$TMP/in"
run chat -n 8 --watts 5 <"$TMP/in"
expect_out "^energy: [0-9]+\.[0-9]+ J \(constant" "--watts gives /stats' energy"

# an encoder-decoder (t5) reads the whole conversation into its encoder at every turn
if t5=$(need_data reference/models/tiny-t5-F32.gguf); then
  printf 'Hello\nHow are you?\n/stats\n' >"$TMP/in"
  run "$ELM" chat -m "$t5" -t 1 --temp 0 -n 8 <"$TMP/in"
  expect_rc 0 "a t5 chat"
  expect_out "^prompt: [0-9]+ tokens read \(0 reused" "t5's turn reads the whole conversation"
  expect_out "^context: the encoder reads the whole conversation each turn" "/stats says so"
fi

# ---- a terminal ----
run_py chat_pty_test.py "$ELM" "$m" "$first" "$turn1" "$turn2"

finish
