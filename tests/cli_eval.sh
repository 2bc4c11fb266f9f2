# `edgelm eval`: perplexity printed as llama-perplexity prints it (and equal to its value on
# stories260K), GSM8K end to end with its records and summary, results in the SQLite store, and
# named errors for bad input.
. "$(dirname "$0")/testlib.sh"
# runs without --db append to the default store: keep it in $TMP, not the user's
export XDG_DATA_HOME="$TMP/xdg"

# db_count FILE SQL: the number SQL selects from the store, read with Python's sqlite3.
db_count() { python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "$1" "$2"; }

run "$ELM" eval --help
expect_rc 0 "eval --help"
expect_out "usage: edgelm eval ppl -m MODEL -f TEXT" "help names ppl"
expect_out "edgelm eval gsm8k -m MODEL" "help names gsm8k"
expect_out "--no-db" "help names the store options"
run "$ELM" eval ppl -m "$TMP/x.gguf" -f "$TMP/x.txt" --db "$TMP/r.db" --no-db
expect_rc 2 "--db with --no-db"
expect_err "go against each other" "says why"

run "$ELM" eval
expect_rc 2 "eval without a subcommand"
expect_err "ppl or gsm8k" "says what to give"
run "$ELM" eval mmlu
expect_rc 2 "unknown evaluation"
expect_err "unknown evaluation 'mmlu'" "names it"

run "$ELM" eval ppl -f "$TMP/x.txt"
expect_rc 2 "ppl without a model"
expect_err "no model given" "says what is missing"
run "$ELM" eval ppl -m "$TMP/x.gguf"
expect_rc 2 "ppl without a text"
expect_err "no text given" "says what is missing"
for bad in "-c 0" "-c 3" "-c x" "-b 0" "-t 0" "--kv-type q8" "--bogus 1"; do
  # shellcheck disable=SC2086
  run "$ELM" eval ppl -m "$TMP/x.gguf" -f "$TMP/x.txt" $bad
  expect_rc 2 "ppl usage error for '$bad'"
done
run "$ELM" eval gsm8k -m "$TMP/x.gguf"
expect_rc 1 "gsm8k without --data and no data at the default path"
expect_err "$TMP/xdg/edgelm/gsm8k/test.jsonl: no GSM8K questions there" "names the default path"
expect_err "give --data FILE, or copy GSM8K's test.jsonl" "says the fix"
run env -u XDG_DATA_HOME HOME="$TMP/home" "$ELM" eval gsm8k -m "$TMP/x.gguf"
expect_rc 1 "gsm8k default data under HOME"
expect_err "$TMP/home/.local/share/edgelm/gsm8k/test.jsonl: no GSM8K questions there" "falls back to ~/.local/share"

run "$ELM" eval ppl -m "$TMP/x.gguf" -f "$TMP/x.txt" -c 3
expect_err "eval ppl: -c 3: must lie in \[4, " "-c names the value and the range"
run "$ELM" eval ppl -m "$TMP/x.gguf" -f "$TMP/x.txt" --kv-type=q8
expect_err "--kv-type 'q8': must be f16 or f32" "--kv-type names the value and the choices"
run "$ELM" eval gsm8k -m "$TMP/x.gguf" -n none
expect_err "-n 'none': must be a question count >= 1 or 'all'" "-n names the value and the choices"
run "$ELM" eval gsm8k --help
expect_rc 0 "eval gsm8k --help"
expect_out "^  --data FILE .*questions" "gsm8k help lists --data from the table"
expect_out "XDG_DATA_HOME/edgelm/gsm8k/test.jsonl" "and names the default data path"

for bad in "-n 0" "-n x" "--shots -1" "--seed -1" "--max-tokens 0" "--strata 0" "--bogus 1"; do
  # shellcheck disable=SC2086
  run "$ELM" eval gsm8k -m "$TMP/x.gguf" $bad
  expect_rc 2 "gsm8k usage error for '$bad'"
done

if m=$(need_data reference/models/stories260K-F32.gguf) &&
   txt=$(need_data reference/ppl/tinystories_sample.txt); then
  # llama-perplexity -c 128 -b 512 -ctk f32 -ctv f32 printed these, digit for digit.
  run "$ELM" eval ppl -m "$m" -f "$txt" -c 128 -t 2 --kv-type f32
  expect_rc 0 "ppl on stories260K"
  expect_out '^\[1\]4\.0931,\[2\]3\.7347,\[3\]5\.6346,.*\[14\]6\.8453,$' "running estimate per chunk"
  expect_out '^Final estimate: PPL = 6\.8453 \+/- 0\.74214$' "final value equals llama.cpp's"
  expect_err "1882 tokens, 14 chunks, 882 scored" "token and chunk counts"
  expect_err "result appended to $TMP/xdg/edgelm/results.db" "default store under XDG_DATA_HOME"

  run "$ELM" eval ppl -m "$m" -f "$txt" -c 128 -t 2 --kv-type f32 --db "$TMP/r.db"
  expect_rc 0 "ppl --db"
  [ "$(db_count "$TMP/r.db" "select count(*) from evals where kind = 'ppl' and n = 128 and quant = 'F32' and abs(value - 6.8453) < 1e-4 and abs(err - 0.74214) < 1e-5")" = 1 ] &&
    ok "ppl result in the store" || bad "ppl result in the store"

  run "$ELM" eval ppl -m "$m" -f "$txt" -c 256 -t 2 --json
  expect_rc 0 "ppl --json"
  expect_out '"n_chunks":[[:space:]]*7' "JSON chunk count"
  expect_out '"ppl":[[:space:]]*6\.89[78]' "JSON value (f16 cache: 6.8983 in llama.cpp)"

  head -c 600 "$txt" >"$TMP/short.txt"
  run "$ELM" eval ppl -m "$m" -f "$TMP/short.txt" -c 256
  expect_rc 1 "text shorter than two chunks"
  expect_err "needs at least 512 tokens \(two chunks\)" "named error with the count needed"

  run "$ELM" eval ppl -m "$m" -f "$TMP/none.txt"
  expect_rc 1 "missing text file"
  expect_err "none.txt: cannot open" "names the file"
fi

if m=$(need_data reference/models/stories260K-F32.gguf) && data=$(need_data gsm8k/test.jsonl); then
  run "$ELM" eval gsm8k -m "$m" --data "$data" -n 2 --max-tokens 8 -t 2 --seed 3 --json "$TMP/g.jsonl" --db "$TMP/g.db"
  expect_rc 0 "gsm8k end to end"
  [ "$(db_count "$TMP/g.db" "select count(*) from evals e join eval_items i on i.eval_id = e.id where e.kind = 'gsm8k' and e.n = 2")" = 2 ] &&
    ok "gsm8k result and its two question records in the store" || bad "gsm8k records in the store"
  expect_out "^sample: 2 of 1319 questions, 4 length strata" "sample line"
  expect_out "^ids: [0-9]+,[0-9]+$" "chosen ids listed"
  expect_out "^\[2/2\] id [0-9]+: expected [0-9.-]+, extracted [^,]+, (correct|wrong) \| [0-9]+ tokens" "a line per question"
  expect_out "^accuracy: [0-2]/2 = [0-9.]+% \(95% CI [0-9.]+-[0-9.]+%, Wilson\)" "summary with CI"
  ids=$(grep '^ids:' "$TMP/out")
  [ "$(wc -l <"$TMP/g.jsonl")" = 3 ] && ok "two records and a summary" || bad "record count: $(wc -l <"$TMP/g.jsonl")"
  if python3 - "$TMP/g.jsonl" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
keys = {"type", "id", "line", "prompt", "response", "extracted", "expected", "correct",
        "prompt_tokens", "tokens", "time_ms"}
assert all(r["type"] == "question" and keys <= set(r) for r in rows[:2]), rows[:2]
assert all(1 <= r["tokens"] <= 8 for r in rows[:2])
s = rows[2]
assert s["type"] == "summary" and s["n"] == 2 and s["ids"] == [r["id"] for r in rows[:2]], s
assert 0 <= s["ci95_low"] <= s["accuracy"] <= s["ci95_high"] <= 1, s
EOF
  then ok "record and summary fields"; else bad "record and summary fields"; fi

  run "$ELM" eval gsm8k -m "$m" --data "$data" -n 2 --max-tokens 1 -t 1 --seed 3
  [ "$(grep '^ids:' "$TMP/out")" = "$ids" ] && ok "same seed, same questions" || bad "seed not reproducible"

  printf '{"question": "a", "answer": "#### 1"}\n{"question": "b"}\n' >"$TMP/bad.jsonl"
  run "$ELM" eval gsm8k -m "$m" --data "$TMP/bad.jsonl"
  expect_rc 1 "missing answer"
  expect_err "bad.jsonl: line 2: no \"answer\" field" "named with its line"
  printf '{"question": "a", "answer": "#### 1"}\n{"question": \n' >"$TMP/bad.jsonl"
  run "$ELM" eval gsm8k -m "$m" --data "$TMP/bad.jsonl"
  expect_rc 1 "malformed JSON line"
  expect_err "bad.jsonl: line 2: not valid JSON" "named with its line"
  run "$ELM" eval gsm8k -m "$m" --data "$TMP/nope.jsonl"
  expect_rc 1 "missing data file"
  expect_err "nope.jsonl: cannot open" "names the file"
fi

finish
