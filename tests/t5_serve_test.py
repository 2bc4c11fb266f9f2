#!/usr/bin/env python3
"""`edgelm serve` on an encoder-decoder model (tiny-t5): a prompt is the encoder's input and the
answer the decoder's, batched with the others; greedy texts equal `edgelm run`'s, alone or four
at once, streamed or not; usage counts the encoder tokens; the context error names both sides.
Started by tests/cli_t5.sh:
    t5_serve_test.py EDGELM MODEL
Prints ok:/FAIL: lines and "N passed, N failed"; exits 1 on a failure."""
import json
import os
import re
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checklib import check, request, summary, terminate  # noqa: E402

ELM, MODEL = sys.argv[1], sys.argv[2]
PROMPTS = ["translate English to German: The house is wonderful.",
           "summarize: Lily loved to play with her big red ball in the park.",
           "Hello", "question: what is the colour of the ball?"]


def run_text(prompt, n):
    args = [ELM, "run", "-m", MODEL, "-p", prompt, "-n", str(n), "--temp", "0", "-t", "1"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return out[:-1] if out.endswith("\n") else out


def main():
    p = subprocess.Popen([ELM, "serve", "-m", MODEL, "--port", "0", "-t", "1", "-np", "4", "-c",
                          "128"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
    if not m:
        raise SystemExit(f"FAIL: the server did not start: {line!r} {p.stderr.read()!r}")
    port = int(m.group(1))
    try:
        want = {q: run_text(q, 24) for q in PROMPTS}
        st, j, _, _ = request(port, "POST", "/v1/completions",
                              {"prompt": PROMPTS[0], "max_tokens": 24, "temperature": 0})
        check(st == 200 and j["choices"][0]["text"] == want[PROMPTS[0]],
              "a greedy completion equals edgelm run's text", (st, j, want[PROMPTS[0]]))
        # the encoder input is the prompt with </s> appended, as the tokenizer adds it
        st2, tk, _, _ = request(port, "POST", "/tokenize", {"content": PROMPTS[0],
                                                           "add_special": True})
        check(st2 == 200 and j["usage"]["prompt_tokens"] == len(tk["tokens"]) and
              tk["tokens"][-1] == 1, "usage counts the encoder's tokens, </s> included",
              (j.get("usage"), tk))
        check(j["usage"]["completion_tokens"] == 24 and
              j["choices"][0]["finish_reason"] == "length", "max_tokens honoured", j["usage"])

        got = {}

        def one(q):
            s, r, _, _ = request(port, "POST", "/v1/completions",
                                 {"prompt": q, "max_tokens": 24, "temperature": 0})
            got[q] = r["choices"][0]["text"] if s == 200 else f"HTTP {s}"

        ts = [threading.Thread(target=one, args=(q,)) for q in PROMPTS]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        for q in PROMPTS:
            check(got[q] == want[q], f"concurrent greedy request '{q[:20]}' gets its text alone",
                  (got[q], want[q]))

        # a chat's messages are joined as plain text (the 'plain' family), streamed
        st, _, text, _ = request(port, "POST", "/v1/chat/completions",
                                 {"messages": [{"role": "user", "content": PROMPTS[1]}],
                                  "max_tokens": 24, "temperature": 0, "stream": True})
        parts = [json.loads(e[6:]) for e in text.split("\n\n")
                 if e.startswith("data: {")]
        joined = "".join(c["choices"][0]["delta"].get("content", "") for c in parts
                         if c["choices"])
        check(st == 200 and joined == want[PROMPTS[1]] and text.rstrip().endswith("[DONE]"),
              "a streamed chat equals run's text for its message", (joined, want[PROMPTS[1]]))

        st, j, _, _ = request(port, "POST", "/v1/completions",
                              {"prompt": "Hello", "max_tokens": 128})
        msg = (j or {}).get("error", {}).get("message", "")
        check(st == 400 and "the encoder's input" in msg and "128 of each" in msg,
              "max_tokens beyond the decoder's context: 400 naming both sides", (st, j))
        st, j, _, _ = request(port, "POST", "/v1/completions",
                              {"prompt": "Hello " * 200, "max_tokens": 4})
        check(st == 400 and (j or {}).get("error", {}).get("param") == "messages",
              "a prompt beyond the encoder's context: 400", (st, j))
    finally:
        rc, log = terminate(p)
    check(rc == 0, "SIGTERM: exit 0", rc)
    check("chat template plain" in log, "the start-up line names the plain chat family", log[:300])
    summary()


main()
