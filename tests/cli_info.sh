# `edgelm info`: text and JSON facts of a real model, and clear errors for bad input.
. "$(dirname "$0")/testlib.sh"

run "$ELM" info --help
expect_rc 0 "info --help"
expect_out "usage: edgelm info" "help names the command"

run "$ELM" info
expect_rc 2 "info without a file"
expect_err "no model file given" "says what is missing"

run "$ELM" info --bogus x.gguf
expect_rc 2 "unknown option"
expect_err "unknown option '--bogus'" "names the option"

run "$ELM" info "$TMP/nope.gguf"
expect_rc 1 "missing file"
expect_err "nope.gguf" "error names the file"

printf 'not a gguf file at all' > "$TMP/junk.gguf"
run "$ELM" info "$TMP/junk.gguf"
expect_rc 1 "not a GGUF file"
expect_err "junk.gguf: .*GGUF" "error names the file and the format"

if m=$(need_data models/stories260K-f32.gguf); then
  run "$ELM" info "$m"
  expect_rc 0 "info stories260K"
  expect_out "^architecture: +llama$" "architecture"
  expect_out "^tensors: +48$" "tensor count"
  expect_out "^  f32 +48 tensors" "bytes per type"
  expect_out "llama.embedding_length +64$" "hyperparameter n_embd"
  expect_out "llama.block_count +5$" "hyperparameter n_layer"
  expect_out "^tokenizer: +llama, 512 tokens" "tokenizer model and vocabulary size"
  run "$ELM" info --json --tensors "$m"
  expect_rc 0 "info --json"
  expect_out '"architecture":"llama"' "json architecture"
  expect_out '"n_tensors":48' "json tensor count"
  expect_out '"embedding_length":64' "json hparams"
  expect_out '"attention.layer_norm_rms_epsilon":1e-05' "json float32 printed shortest"
  expect_out '"name":"token_embd.weight"' "json tensor list"
  if command -v python3 >/dev/null; then
    python3 -m json.tool "$TMP/out" >/dev/null && ok "json parses" || bad "json does not parse"
  fi
else
  [ "${EDGELM_REQUIRE_DATA:-0}" = 1 ] && bad "shared data missing"
fi

if m=$(need_data models/stories260K-f16.gguf); then
  run "$ELM" info "$m"
  expect_out "^  f16 +37 tensors" "F16 file: 2-D weights are f16"
  expect_out "^  f32 +11 tensors" "F16 file: norms stay f32"
fi

if m=$(need_data reference/models/tiny-llama3-Q4_K_M.gguf); then
  run "$ELM" info "$m"
  expect_out "^file type: +Q4_K_M \(general.file_type 15\)$" "file type named"
  expect_out "^  q6_K +5 tensors" "Q4_K_M mixture visible"
fi

if v=$(need_data vocab/ggml-vocab-qwen2.gguf); then
  run "$ELM" info "$v"
  expect_rc 0 "info on a vocab-only file"
  expect_out "pre-tokenizer qwen2" "pre-tokenizer"
  expect_out "^chat template: +present" "chat template present"
fi

finish
