# The gemma2, phi3 and internlm2 families through the command: info, run (greedy ids equal to
# llama.cpp's continuation in the reference JSON), bench and eval ppl on the tiny reference files.
. "$(dirname "$0")/testlib.sh"

# The exact files (gemma2 stores its F32 values as F16) for the greedy ids; Q4_0 for the rest.
for arch_ref in gemma2:F16 phi3:F32 internlm2:F32; do
  arch=${arch_ref%:*}
  m=$(need_data reference/models/tiny-$arch-Q4_0.gguf) || continue
  exact=$(need_data reference/models/tiny-$arch-${arch_ref#*:}.gguf) || continue
  ref=$(need_data reference/models/tiny-$arch-${arch_ref#*:}.json) || continue
  txt=$(need_data reference/ppl/tinystories_sample.txt) || continue

  run "$ELM" info "$m"
  expect_rc 0 "$arch: info"
  expect_out "^architecture: +$arch$" "$arch: info names the architecture"

  # llama.cpp's greedy continuation of the reference sequence where it stays clear the longest, as
  # far as each choice is clear (top-1 above top-2 by 0.05: closer ties may go either way).
  read -r prompt n want < <(python3 -c '
import json, sys
def clear(q):
    n = 0
    while n < 8 and q["greedy_margins"][n] >= 0.05:
        n += 1
    return n
q = max(json.load(open(sys.argv[1]))["sequences"], key=clear)
n = clear(q)
print(",".join(map(str, q["tokens"])), n, " ".join(map(str, q["greedy_tokens"][:n])))' "$ref")
  run "$ELM" run -m "$exact" --tokens "$prompt" -n "$n" --temp 0 --ignore-eos -t 2
  expect_rc 0 "$arch: run"
  expect_out "^$want\$" "$arch: the first $n greedy ids equal llama.cpp's ($want)"

  run "$ELM" bench -m "$m" -p 16 -n 8 -r 2 -t 1 --no-db
  expect_rc 0 "$arch: bench"
  expect_out "^\| tiny-$arch-Q4_0.gguf \| Q4_0 \|" "$arch: bench prints its row"

  run "$ELM" eval ppl -m "$m" -f "$txt" -c 64 -t 1 --no-db
  expect_rc 0 "$arch: eval ppl"
  expect_out "^Final estimate: PPL = [0-9.]+ \+/- [0-9.]+" "$arch: eval ppl gives a perplexity"
done

finish
