# `edgelm run`: generated ids as they come, the timing summary, and usage errors for bad numbers.
. "$(dirname "$0")/testlib.sh"

run "$ELM" run --help
expect_rc 0 "run --help"
expect_out "usage: edgelm run -m MODEL -p TEXT" "help names the command"

run "$ELM" run --tokens 1,2
expect_rc 2 "run without a model"
expect_err "no model given" "says what is missing"

run "$ELM" run -m "$TMP/nope.gguf"
expect_rc 2 "run without a prompt"
expect_err "none was given" "says what is missing"

for bad in "-n 0" "-n -3" "-t 0" "-t -1" "-tb 0" "-tb x" "--threads-batch -2" "--ctx 0" "--ctx -5" "--batch 0" "--top-k -1" \
           "--top-p 1.5" "--min-p -0.1" "--temp -1" "--repeat-penalty 0" "--seed -1" "-n x"; do
  # shellcheck disable=SC2086
  run "$ELM" run -m "$TMP/nope.gguf" --tokens 1 $bad
  expect_rc 2 "usage error for '$bad'"
done
run "$ELM" run -m "$TMP/nope.gguf" --tokens 1,,2
expect_rc 2 "empty token id"
expect_err "comma-separated token ids" "names the format"
run "$ELM" run -m "$TMP/nope.gguf" --tokens 1 --bogus 3
expect_rc 2 "unknown option"
expect_err "unknown option '--bogus'" "names the option"

run "$ELM" run -m "$TMP/nope.gguf" --tokens 1
expect_rc 1 "missing model file"
expect_err "nope.gguf" "error names the file"

if m=$(need_data reference/models/stories260K-F32.gguf); then
  # The llama2.c golden continuation of "Once upon a time" (greedy, 16 tokens).
  run "$ELM" run -m "$m" --tokens 1,403,407,261,378 -n 16 --temp 0 -t 2
  expect_rc 0 "greedy run"
  expect_out "^432 383 286 261 376 298 315 421 395 317 426 338 401 396 267 337$" "golden ids"
  expect_err "load [0-9.]+ ms \| prompt 5 tokens, [0-9.]+ tok/s \| generated 16 tokens, [0-9.]+ tok/s \| TTFT [0-9.]+ ms" "summary line"

  run "$ELM" run -m "$m" --tokens 1,403,407 -n 20 --seed 7 --top-k 10 --top-p 0.9 --min-p 0.1 --repeat-penalty 1.1
  expect_rc 0 "sampled run"
  first=$(cat "$TMP/out")
  run "$ELM" run -m "$m" --tokens 1,403,407 -n 20 --seed 7 --top-k 10 --top-p 0.9 --min-p 0.1 --repeat-penalty 1.1 -t 1 --kv-type f32
  [ "$(cat "$TMP/out")" = "$first" ] && ok "same seed, same tokens" || bad "same seed gave different tokens"

  # -tb: the prompt on another thread count than generation; the same greedy ids.
  run "$ELM" run -m "$m" --tokens 1,403,407,261,378 -n 16 --temp 0 -t 1 -tb 3
  expect_rc 0 "greedy run with -tb"
  expect_out "^432 383 286 261 376 298 315 421 395 317 426 338 401 396 267 337$" "golden ids with -tb 3"
  expect_err "1 threads \(3 for the prompt\)" "summary names both thread counts"
  # --no-mmap: the model read into memory generates the same greedy ids
  run "$ELM" run -m "$m" --tokens 1,403,407,261,378 -n 16 --temp 0 --no-mmap
  expect_rc 0 "greedy run with --no-mmap"
  expect_out "^432 383 286 261 376 298 315 421 395 317 426 338 401 396 267 337$" "golden ids with --no-mmap"
  run "$ELM" run --help
  expect_out "--no-mmap" "help names --no-mmap"
  expect_out "-tb, --threads-batch N" "help names -tb"
  run "$ELM" run -m "$m" --tokens 1 -tb 0
  expect_err "-tb 0: must lie in \\[1, 256\\]" "names -tb's range"

  run "$ELM" run -m "$m" --tokens 1,2,3,4,5,6,7,8,9,10 --ctx 8
  expect_rc 1 "prompt longer than the context"
  expect_err "prompt of 10 tokens is longer than the 8" "named error"

  run "$ELM" run -m "$m" --tokens 1,600
  expect_rc 1 "token outside the vocabulary"
  expect_err "token 600 is outside the vocabulary of 512" "named error"

  run "$ELM" run -m "$m" --tokens 1 -n 4 --ctx 1024
  expect_rc 0 "context above the trained one"
  expect_err "warning: context of 1024 tokens is above the 512" "warns"
fi

# Text in, text out: stories260K's greedy story equals llama2.c's golden text.
if m=$(need_data models/stories260K-f32.gguf) && g=$(need_data llama2c/stories260K_greedy.json); then
  run "$ELM" run -m "$m" -p "Once upon a time" -n 64 --temp 0
  expect_rc 0 "text prompt"
  want=$(python3 -c 'import json,sys; c=[c for c in json.load(open(sys.argv[1]))["cases"] if c["prompt"]=="Once upon a time"][0]; print(c["generated_text"])' "$g")
  [ "$(cat "$TMP/out")" = "$want" ] && ok "greedy text equals the llama2.c golden" \
    || { bad "greedy text differs from the golden"; cat "$TMP/out"; }
  run "$ELM" run -m "$m" -p "Once" --tokens 1
  expect_rc 2 "text and ids together"
  expect_err "either as text .* not both" "says why"
  run "$ELM" run -m "$m" --tokens 1 --chat
  expect_rc 2 "--chat without text"
  run "$ELM" run -m "$m" -p hi --system x
  expect_rc 2 "--system without --chat"
  expect_err "go with --chat" "says why"
  run "$ELM" run -m "$m" -p hi --chat --chat-template nosuch
  expect_rc 1 "unknown chat template"
  expect_err "nosuch" "names the template"
  run "$ELM" run -m "$m" -p "Once upon a time" --chat -n 4 --temp 0
  expect_rc 0 "--chat on a model without a template falls back to chatml"
  expect_err "warning: .*chatml" "warns about the fallback"
fi

if m=$(need_data reference/models/tiny-qwen2-Q4_K_M.gguf); then
  run "$ELM" run -m "$m" --tokens 1,100,200 -n 8 --temp 0 --ignore-eos
  expect_rc 0 "qwen2 Q4_K_M run"
  expect_out "^([0-9]+ ){7}[0-9]+$" "eight ids"
fi

finish
