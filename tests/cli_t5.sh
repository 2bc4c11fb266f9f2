# t5 (Flan-T5's encoder-decoder) through the command on the tiny reference files: info, run
# (the first token from the decoder start equals llama.cpp's, a text prompt gets </s> appended),
# bench (the encoder is the prefill), eval ppl's refusal, and serve (tests/t5_serve_test.py).
. "$(dirname "$0")/testlib.sh"

if m=$(need_data reference/models/tiny-t5-F32.gguf) && ref=$(need_data reference/models/tiny-t5-F32.json) &&
  logits=$(need_data reference/models/tiny-t5-F32.logits.bin) &&
  txt=$(need_data reference/ppl/tinystories_sample.txt); then
  run "$ELM" info "$m"
  expect_rc 0 "info"
  expect_out "^architecture: +t5$" "info names the architecture"
  expect_out "^tokenizer: +t5 " "info names the unigram tokenizer"

  # per sequence: the encoder ids, and llama.cpp's argmax after the decoder start token alone
  # (logits.bin row 0 of the sequence) with its margin
  while read -r ids want margin text; do
    run "$ELM" run -m "$m" --tokens "$ids" -n 1 --temp 0 --ignore-eos -t 1
    expect_rc 0 "run --tokens (${#ids} chars of ids)"
    expect_out "^$want\$" "the first token from the decoder start is llama.cpp's ($want, margin $margin)"
    # the text the encoder ids came from tokenizes to them, </s> appended
    run "$ELM" tokenize -m "$m" --json -- "$text"
    expect_rc 0 "tokenize"
    got=$(python3 -c 'import json, sys; print(",".join(str(t["id"]) for t in json.load(sys.stdin)["tokens"]))' <"$TMP/out")
    [ "$got" = "$ids" ] && ok "the text tokenizes to llama.cpp's encoder ids" ||
      bad "the text tokenizes to $got, llama.cpp to $ids"
  done < <(python3 -c '
import json, struct, sys
j = json.load(open(sys.argv[1]))
raw = open(sys.argv[2], "rb").read()
for s, q in enumerate(j["sequences"]):
    row = struct.unpack_from("<512f", raw, s * 16 * 512 * 4)
    best = max(range(512), key=lambda i: row[i])
    second = max(v for i, v in enumerate(row) if i != best)
    print(",".join(map(str, q["encoder_tokens"])), best, round(row[best] - second, 3), q["text"])
' "$ref" "$logits")

  run "$ELM" bench -m "$m" -p 32 -n 8 -r 2 -t 1 --no-db
  expect_rc 0 "bench"
  expect_out "^\| tiny-t5-F32.gguf \| F32 \|" "bench prints its row"
  expect_out "t5 \(encoder-decoder\): its prefill is the encoder pass" "bench says what pp means"

  run "$ELM" eval ppl -m "$m" -f "$txt" -c 64 -t 1 --no-db
  expect_rc 1 "eval ppl refuses"
  expect_err "perplexity over a text stream is not defined for an encoder-decoder model" \
    "eval ppl says why"

  run_py t5_serve_test.py "$ELM" "$m"
fi

# a synthetic Flan-T5-Base: its generated unigram vocabulary tokenizes text into words and
# pieces with </s>, and the model runs
run "$ELM" synth flan-t5-base:Q4_0 -o "$TMP/flan-t5-base.gguf" -t 2
expect_rc 0 "synth flan-t5-base"
run "$ELM" tokenize -m "$TMP/flan-t5-base.gguf" -- "translate English to German: The house is wonderful."
expect_rc 0 "tokenize with the generated vocabulary"
expect_out "^ +[0-9]+ +' translate'$" "whole words are pieces"
expect_out "^ +1 +'</s>'$" "</s> is appended"
expect_out "^1[0-9] tokens$" "about a token a word"
run "$ELM" run -m "$TMP/flan-t5-base.gguf" -p "translate English to German: The house is wonderful." \
  -n 4 --temp 0 --ignore-eos -t 2
expect_rc 0 "run flan-t5-base"
expect_err "prompt 13 tokens, .* generated 4 tokens" "the summary counts the encoder's and the decoder's tokens"
finish
