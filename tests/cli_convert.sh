# `edgelm synth` and `edgelm quantize`: help, errors and exit codes, a small synthetic model
# written and read back (its size equal to the plan), and quantization identical to llama.cpp's.
. "$(dirname "$0")/testlib.sh"

# ---- synth ----
run "$ELM" synth --help
expect_rc 0 "synth --help"
expect_out "usage: edgelm synth SHAPE:QUANT -o FILE" "help shows the usage"
expect_out "--vocab" "help documents --vocab"

run "$ELM" synth --list
expect_rc 0 "synth --list"
for s in qwen2.5-0.5b qwen2.5-1.5b qwen2.5-3b qwen2.5-7b llama3.2-1b llama3.2-3b llama3.1-8b \
         smollm2-135m smollm2-360m smollm2-1.7b gemma2-2b gemma2-9b phi3.5-mini internlm2.5-7b \
         yi-1.5-6b; do
  grep -q "^$s " "$TMP/out" || bad "--list lacks $s"
done
ok "--list names all fifteen shapes"
expect_out "^phi3.5-mini +phi3 +3072 +8192 +32 +32 +32 +32064 separate output" "phi3.5-mini's row"

run "$ELM" synth
expect_rc 2 "synth without a shape"
expect_err "no SHAPE:QUANT given" "says what is missing"

run "$ELM" synth qwen2.5-0.5b:Q4_0
expect_rc 2 "synth without -o"
expect_err "no output file given \(-o FILE\)" "asks for -o"

run "$ELM" synth gpt5:Q4_0 -o "$TMP/x.gguf"
expect_rc 2 "unknown shape"
expect_err "unknown shape 'gpt5' \(known: qwen2.5-0.5b, .*smollm2-1.7b, .*yi-1.5-6b, flan-t5-large, flan-t5-base\)" "lists the known shapes"

run "$ELM" synth qwen2.5-0.5b:Q3_K_XL -o "$TMP/x.gguf"
expect_rc 2 "unknown quant type"
expect_err "unknown quantization type 'Q3_K_XL' \(valid: F32, F16, .*Q4_K_M" "lists the valid types"

run "$ELM" synth smollm2-135m:Q8_0 -o "$TMP/no/such/dir/x.gguf"
expect_rc 1 "unwritable output"
expect_err "no/such/dir/x.gguf.*(No such file|cannot create)" "names the output path"

run "$ELM" synth smollm2-135m:Q8_0 --vocab "$TMP/missing-vocab.gguf" -o "$TMP/x.gguf"
expect_rc 1 "--vocab file missing"
expect_err "missing-vocab.gguf" "names the vocab file"

printf 'not a gguf' > "$TMP/junk.gguf"
run "$ELM" synth smollm2-135m:Q8_0 --vocab "$TMP/junk.gguf" -o "$TMP/x.gguf"
expect_rc 1 "--vocab file is not a GGUF"
expect_err "junk.gguf: .*GGUF" "says it is not GGUF"
[ ! -e "$TMP/x.gguf" ] && ok "nothing written after errors" || bad "a file was left behind"

run "$ELM" synth llama3.2-1b:Q4_K_M --dry-run
expect_rc 0 "--dry-run"
expect_out "would write [0-9]+ bytes .*147 tensors: q4_K 96, f32 34, q6_K 17" "llama3.2-1b Q4_K_M mix"

# the other families' mixes: phi3's fused attn_qkv is Q5_K, gemma2's tied embedding Q6_K
run "$ELM" synth phi3.5-mini:Q4_K_M --dry-run
expect_out "197 tensors: q4_K 81, f32 67, q5_K 32, q6_K 17" "phi3.5-mini Q4_K_M mix"
run "$ELM" synth gemma2-2b:Q4_0 --dry-run
expect_out "288 tensors: q4_0 182, f32 105, q6_K 1" "gemma2-2b Q4_0 mix"
run "$ELM" synth internlm2.5-7b:Q4_K_M --dry-run
expect_out "291 tensors: q4_K 193, f32 65, q6_K 33" "internlm2.5-7b Q4_K_M mix"
run "$ELM" synth yi-1.5-6b:Q8_0 --dry-run
expect_out "291 tensors: q8_0 226, f32 65" "yi-1.5-6b Q8_0 mix"
# t5: 24 + 24 blocks; attn_rel_b stays F32; 36 attn_v + 36 ffn_down + the output in Q6_K
run "$ELM" synth flan-t5-large:Q4_K_M --dry-run
expect_out "558 tensors: q4_K 361, f32 124, q6_K 73" "flan-t5-large Q4_K_M mix"
run "$ELM" synth flan-t5-base:Q4_0 --dry-run
expect_out "282 tensors: q4_0 217, f32 64, q6_K 1" "flan-t5-base Q4_0 mix"

run "$ELM" synth smollm2-135m:Q8_0 --dry-run
planned=$(sed -nE 's/.*would write ([0-9]+) bytes.*/\1/p' "$TMP/out")
start=$(date +%s)
run "$ELM" synth smollm2-135m:Q8_0 -o "$TMP/s.gguf" -t 2
expect_rc 0 "synth smollm2-135m:Q8_0 ($(( $(date +%s) - start )) s)"
expect_out "s.gguf: smollm2-135m Q8_0, [0-9]+ bytes .*272 tensors" "prints a summary"
size=$(stat -c %s "$TMP/s.gguf" 2>/dev/null || echo 0)
[ "$size" = "$planned" ] && ok "file size $size equals the plan" || bad "file size $size, plan $planned"
run "$ELM" info "$TMP/s.gguf"
expect_rc 0 "the reader opens the synthetic file"
expect_out "^tensors: +272$" "tensor count"
expect_out "^tokenizer: +gpt2 \(pre-tokenizer smollm\), 49152 tokens" "generated vocabulary"
expect_out "^chat template: +present" "chat template"

# Same bytes whatever the thread count; another seed gives other weights.
run "$ELM" synth smollm2-135m:Q8_0 -o "$TMP/s1.gguf" -t 1
cmp -s "$TMP/s.gguf" "$TMP/s1.gguf" && ok "deterministic across thread counts" || bad "-t 1 and -t 2 differ"
rm -f "$TMP/s1.gguf"
run "$ELM" synth smollm2-135m:Q8_0 -o "$TMP/s2.gguf" --seed 7
cmp -s "$TMP/s.gguf" "$TMP/s2.gguf" && bad "--seed changed nothing" || ok "--seed changes the weights"
rm -f "$TMP/s2.gguf"

if q=$(need_data reference/quant/quant-vectors.gguf); then
  run "$ELM" synth smollm2-135m:Q8_0 --vocab "$q" -o "$TMP/x.gguf"
  expect_rc 1 "--vocab file without a tokenizer"
  expect_err "not a vocab file" "says it is not a vocab"
fi

# ---- quantize ----
run "$ELM" quantize --help
expect_rc 0 "quantize --help"
expect_out "usage: edgelm quantize" "help shows the usage"
expect_out "requantiz" "help says requantizing is not supported"

run "$ELM" quantize a.gguf
expect_rc 2 "quantize with too few arguments"
expect_err "expected IN.gguf OUT.gguf TYPE" "names the arguments"

run "$ELM" quantize a.gguf b.gguf Q2_K
expect_rc 2 "unknown TYPE"
expect_err "unknown TYPE 'Q2_K' \(valid: F16, BF16, Q8_0" "lists the valid types"

run "$ELM" quantize "$TMP/nope.gguf" "$TMP/out.gguf" Q4_0
expect_rc 1 "missing input"
expect_err "nope.gguf" "names the input file"

if m=$(need_data reference/models/tiny-qwen2-Q4_0.gguf); then
  run "$ELM" quantize "$m" "$TMP/out.gguf" Q8_0
  expect_rc 1 "quantized input"
  expect_err "already quantized \(q[0-9]_[0-9K]\); requantizing is not supported" "refuses to requantize"
fi

if f32=$(need_data reference/models/tiny-t5-F32.gguf) && ref=$(need_data reference/models/tiny-t5-Q8_0.gguf); then
  run "$ELM" quantize -t 2 "$f32" "$TMP/tiny-t5-Q8_0.gguf" Q8_0
  expect_rc 0 "quantize tiny-t5 Q8_0"
  expect_out "52 tensors: q8_0 38, f32 14" "attn_rel_b and the norms stay F32"
  cmp -s "$ref" "$TMP/tiny-t5-Q8_0.gguf" && ok "tiny-t5-Q8_0 identical to llama-quantize's file" \
    || bad "tiny-t5-Q8_0 differs from llama-quantize's file"
fi

for model in tiny-qwen2 tiny-llama3; do
  if f32=$(need_data reference/models/$model-F32.gguf) && ref=$(need_data reference/models/$model-Q4_K_M.gguf); then
    run "$ELM" quantize -t 2 "$f32" "$TMP/$model-Q4_K_M.gguf" Q4_K_M
    expect_rc 0 "quantize $model Q4_K_M"
    expect_out "Q4_K_M.gguf: .* -> .*\(Q4_K_M\), [0-9]+ tensors: q4_K" "prints a summary"
    cmp -s "$ref" "$TMP/$model-Q4_K_M.gguf" && ok "$model-Q4_K_M identical to llama-quantize's file" \
      || bad "$model-Q4_K_M differs from llama-quantize's file"
  fi
done

finish
