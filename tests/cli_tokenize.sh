# `edgelm tokenize`: ids and pieces of real vocabularies, JSON, special tokens, chat templates,
# and clear errors for bad input.
. "$(dirname "$0")/testlib.sh"

run "$ELM" tokenize --help
expect_rc 0 "tokenize --help"
expect_out "usage: edgelm tokenize" "help names the command"

run "$ELM" tokenize "text"
expect_rc 2 "tokenize without a model"
expect_err "no model file given" "says what is missing"

run "$ELM" tokenize -m x.gguf --bogus "text"
expect_rc 2 "unknown option"
expect_err "unknown option '--bogus'" "names the option"

run "$ELM" tokenize -m "$TMP/nope.gguf" "text"
expect_rc 1 "missing file"
expect_err "nope.gguf" "error names the file"

if v=$(need_data vocab/ggml-vocab-qwen2.gguf); then
  run "$ELM" tokenize -m "$v" "Hello world"
  expect_rc 0 "tokenize with qwen2"
  expect_out "^ +9707  'Hello'$" "first token id and piece"
  expect_out "^ +1879  ' world'$" "second token keeps its space"
  expect_out "^2 tokens$" "token count"
  run "$ELM" tokenize --json -m "$v" "Hello world"
  expect_out '"n_tokens":2' "json count"
  expect_out '"id":9707,"piece":"Hello"' "json ids and pieces"
  if command -v python3 >/dev/null; then
    python3 -m json.tool "$TMP/out" >/dev/null && ok "json parses" || bad "json does not parse"
  fi
  run "$ELM" tokenize -m "$v" -- "-x"
  expect_rc 0 "'--' ends the options"
  expect_out "^ +6558  '-x'$" "a text that starts with a dash is tokenized"
  expect_out "^1 tokens$" "and only that text"
  run "$ELM" tokenize -m "$v" "-x"
  expect_rc 2 "without '--' a dash text is an option"
  expect_err "unknown option '-x'" "names it"
  run "$ELM" tokenize -m "$v" --special "<|im_start|>user"
  expect_out "^151644  '<\|im_start\|>'$" "--special parses control-token text"
  run "$ELM" tokenize -m "$v" "<|im_start|>"
  expect_out "^6 tokens$" "without --special the marker is plain text"
  run "$ELM" tokenize -m "$v" --chat "Hi"
  expect_rc 0 "--chat with the file's ChatML template"
  expect_out "^151644  '<\|im_start\|>'$" "chat prompt opens with im_start"
  expect_out "'assistant'" "generation prompt"
  run "$ELM" tokenize -m "$v" --chat --chat-template klingon "Hi"
  expect_rc 1 "unknown template name"
  expect_err "unknown chat template 'klingon'" "names the template"
fi

if v=$(need_data vocab/ggml-vocab-llama-spm.gguf); then
  run "$ELM" tokenize -m "$v" "Hello world"
  expect_out "^ +1  '<s>'$" "SPM adds BOS"
  expect_out "^ +15043  ' Hello'$" "add_space_prefix"
  run "$ELM" tokenize --no-bos -m "$v" "Hello world"
  expect_out "^2 tokens$" "--no-bos"
fi

if v=$(need_data vocab/ggml-vocab-tiny-t5.gguf); then
  run "$ELM" tokenize -m "$v" "Hello {world}"
  expect_rc 0 "tokenize with the t5 unigram vocabulary"
  expect_out "^ +329  ' Hello'$" "the piece carries its space"
  expect_out "^ +2  '<unk>'$" "an uncovered character is <unk>"
  expect_out "^ +1  '</s>'$" "EOS appended"
  run "$ELM" tokenize --json --no-bos -m "$v" "Hello"
  expect_out '"tokenizer":"t5"' "json names the model"
  expect_out '"n_tokens":1' "no EOS with --no-bos"
fi

if v=$(need_data vocab/ggml-vocab-bert-bge.gguf); then
  run "$ELM" tokenize -m "$v" "Hello"
  expect_rc 1 "WordPiece vocabulary"
  expect_err "'bert' WordPiece is not supported" "says what is unsupported"
fi

finish
