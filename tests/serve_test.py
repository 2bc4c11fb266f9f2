#!/usr/bin/env python3
"""`edgelm serve` end to end on the real stories260K model: the endpoints, continuous batching
changing no greedy result, stop strings, the prompt cache, metrics, and the faults (disconnect,
full queue, 413, 400, 404, 401, a prompt too long). Started by tests/cli_serve.sh:
    serve_test.py EDGELM MODEL
Prints ok:/FAIL: lines and "N passed, N failed"; exits 1 on a failure."""
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checklib import check, request, summary, terminate  # noqa: E402

ELM, MODEL = sys.argv[1], sys.argv[2]




class Server:
    """An edgelm serve process on 127.0.0.1 with a free port, stopped by stop()."""

    def __init__(self, *args):
        self.p = subprocess.Popen([ELM, "serve", "-m", MODEL, "--port", "0", "-t", "1", *args],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if not m:
            err = self.p.stderr.read()
            raise SystemExit(f"FAIL: the server did not start: {line!r} {err!r}")
        self.port = int(m.group(1))

    def stop(self):
        rc, self.log = terminate(self.p)
        return rc

    def request(self, method, path, body=None, headers=None, raw=None):
        return request(self.port, method, path, body, headers, raw=raw)


def run_text(prompt, n, chat=False, extra=()):
    """edgelm run's greedy text for the same prompt (what serve must reproduce)."""
    args = [ELM, "run", "-m", MODEL, "-p", prompt, "-n", str(n), "--temp", "0", "-t", "1", *extra]
    if chat:
        args.append("--chat")
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return out[:-1] if out.endswith("\n") else out


def sse(srv, body):
    """A streamed request's events (parsed JSON) and whether [DONE] ended it."""
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    c.request("POST", "/v1/chat/completions" if "messages" in body else "/v1/completions",
              body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    events, done = [], False
    for raw in r.read().decode().split("\n\n"):
        if not raw.startswith("data: "):
            continue
        if raw == "data: [DONE]":
            done = True
        else:
            events.append(json.loads(raw[6:]))
    c.close()
    return r.status, r.getheader("Content-Type"), events, done


CHAT = [{"role": "user", "content": "Once upon a time"}]


def test_basics(srv):
    st, j, _, _ = srv.request("GET", "/v1/models")
    check(st == 200 and j["data"][0]["id"] == os.path.basename(MODEL), "GET /v1/models", j)
    st, j, _, _ = srv.request("GET", "/health")
    check(st == 200 and j == {"status": "ok"}, "GET /health", j)
    want = run_text("Once upon a time", 24)
    st, j, _, _ = srv.request("POST", "/v1/completions",
                              {"prompt": "Once upon a time", "max_tokens": 24, "temperature": 0})
    check(st == 200 and j["choices"][0]["text"] == want, "completion text equals edgelm run's",
          (j, want))
    u = j["usage"]
    check(u["completion_tokens"] <= 24 and u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"],
          "usage adds up", u)
    want = run_text("Once upon a time", 16, chat=True)
    st, j, _, _ = srv.request("POST", "/v1/chat/completions",
                              {"messages": CHAT, "max_tokens": 16, "temperature": 0})
    check(st == 200 and j["choices"][0]["message"]["content"] == want,
          "chat text equals edgelm run --chat's", (j, want))
    st, ctype, ev, done = sse(srv, {"messages": CHAT, "max_tokens": 16, "temperature": 0,
                                    "stream": True, "stream_options": {"include_usage": True}})
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in ev if e["choices"])
    check(st == 200 and ctype.startswith("text/event-stream") and done, "stream ends with [DONE]")
    check(text == want, "streamed chat text equals the whole answer", (text, want))
    check(ev[-1]["choices"] == [] and ev[-1]["usage"]["completion_tokens"] > 0,
          "include_usage adds the usage chunk", ev[-1])
    check(any(e["choices"] and e["choices"][0].get("finish_reason") in ("stop", "length") for e in ev),
          "one chunk carries the finish_reason")
    st, j, _, _ = srv.request("POST", "/tokenize", {"content": "Once upon a time"})
    st2, j2, _, _ = srv.request("POST", "/detokenize", {"tokens": j["tokens"]})
    check(st == 200 and st2 == 200 and j2["content"].strip() == "Once upon a time",
          "tokenize then detokenize", (j, j2))


def test_max_tokens_and_stop(srv):
    st, j, _, _ = srv.request("POST", "/v1/completions",
                              {"prompt": "Once upon a time", "max_tokens": 5, "temperature": 0})
    check(j["usage"]["completion_tokens"] == 5 and j["choices"][0]["finish_reason"] == "length",
          "max_tokens honoured", j)
    full = run_text("Once upon a time", 40)
    # a stop string that spans two tokens of the greedy text: cut exactly before it
    words = full.split(" ")
    stop = " ".join(words[3:5])
    st, j, _, _ = srv.request("POST", "/v1/completions",
                              {"prompt": "Once upon a time", "max_tokens": 40, "temperature": 0,
                               "stop": ["zzz", stop]})
    got = j["choices"][0]["text"]
    check(got == full[:full.index(stop)] and j["choices"][0]["finish_reason"] == "stop",
          "a stop string across tokens is never emitted", (got, stop))
    want = run_text("Once upon a time", 24, extra=["--repeat-penalty", "3", "--freq-penalty", "2"])
    st, j, _, _ = srv.request("POST", "/v1/completions",
                              {"prompt": "Once upon a time", "max_tokens": 24, "temperature": 0,
                               "repeat_penalty": 3, "frequency_penalty": 2})
    check(st == 200 and j["choices"][0]["text"] == want and want != full[:len(want)],
          "penalties: the text edgelm run gives with the same penalties", (j, want))


def test_logprobs(srv):
    st, j, _, _ = srv.request("POST", "/v1/chat/completions",
                              {"messages": CHAT, "max_tokens": 8, "temperature": 0,
                               "logprobs": True, "top_logprobs": 3})
    c = j["choices"][0]
    lp = c["logprobs"]["content"] if st == 200 and c.get("logprobs") else []
    check(len(lp) == j["usage"]["completion_tokens"] if st == 200 else False,
          "chat logprobs: one entry per generated token", j)
    check(all(e["logprob"] <= 0 and len(e["top_logprobs"]) == 3 for e in lp),
          "each entry: a log-probability and three alternatives", lp[:2])
    check(all(e["top_logprobs"][0]["token"] == e["token"] and
              abs(e["top_logprobs"][0]["logprob"] - e["logprob"]) < 1e-6 and
              e["top_logprobs"][0]["logprob"] >= e["top_logprobs"][1]["logprob"]
              >= e["top_logprobs"][2]["logprob"] for e in lp),
          "greedy: the chosen token is the most likely alternative, alternatives best first", lp[:2])
    check("".join(e["token"] for e in lp) == c["message"]["content"],
          "the tokens spell the answer", ("".join(e["token"] for e in lp), c["message"]["content"]))
    st, ctype, ev, done = sse(srv, {"messages": CHAT, "max_tokens": 8, "temperature": 0,
                                    "stream": True, "logprobs": True})
    streamed = [e for x in ev if x["choices"] and x["choices"][0].get("logprobs")
                for e in x["choices"][0]["logprobs"]["content"]]
    check([e["token"] for e in streamed] == [e["token"] for e in lp],
          "streamed logprobs: the same tokens, each once", ([e["token"] for e in streamed], len(lp)))
    st, j, _, _ = srv.request("POST", "/v1/completions",
                              {"prompt": "Once upon a time", "max_tokens": 4, "temperature": 0,
                               "logprobs": 2})
    l2 = j["choices"][0]["logprobs"] if st == 200 else None
    check(l2 and len(l2["tokens"]) == 4 and len(l2["token_logprobs"]) == 4 and
          all(len(t) == 2 for t in l2["top_logprobs"]), "completions logprobs: tokens and top 2", l2)


def test_batching(srv):
    prompts = ["Once upon a time", "The little dog", "Lily and Tom went", "One day, a bird"]
    want = {p: run_text(p, 32) for p in prompts}
    got = {}

    def one(p):
        st, j, _, _ = srv.request("POST", "/v1/completions",
                                  {"prompt": p, "max_tokens": 32, "temperature": 0})
        got[p] = j["choices"][0]["text"] if st == 200 else f"HTTP {st}"

    ts = [threading.Thread(target=one, args=(p,)) for p in prompts]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for p in prompts:
        check(got[p] == want[p], f"concurrent greedy request '{p}' gets its single-request text",
              (got[p], want[p]))


def test_prompt_cache(srv):
    base = "Once upon a time, there was a little girl named Lily."
    srv.request("POST", "/v1/completions", {"prompt": base, "max_tokens": 2, "temperature": 0})
    st, j, _, _ = srv.request("POST", "/v1/completions",
                              {"prompt": base + " She liked", "max_tokens": 2, "temperature": 0})
    cached = j["usage"].get("prompt_tokens_details", {}).get("cached_tokens", 0)
    check(st == 200 and cached >= 10, "an extended prompt reuses the cached prefix", j["usage"])


def scrape(srv):
    """GET /metrics: the text and {'name{labels}': value}; checks that every line parses."""
    st, _, text, r = srv.request("GET", "/metrics")
    check(st == 200 and r.getheader("Content-Type").startswith("text/plain"), "GET /metrics")
    vals, bad = {}, []
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$', line)
        if m:
            vals[m.group(1) + (m.group(2) or "")] = float(m.group(3))
        else:
            bad.append(line)
    check(not bad and vals, "every metrics line parses", bad)
    return text, vals


def test_metrics(srv, n_completions):
    _, vals = scrape(srv)
    key = 'edgelm_requests_total{endpoint="/v1/completions",status="200"}'
    check(vals.get(key) == n_completions, "requests_total counts the completions made",
          (vals.get(key), n_completions))
    check(vals.get("edgelm_generation_tokens_total", 0) > 0, "generation tokens counted")
    check(vals.get("edgelm_slots_total") == 4, "slots_total", vals.get("edgelm_slots_total"))


def test_errors(srv):
    st, j, _, _ = srv.request("POST", "/v1/chat/completions", raw="{not json")
    check(st == 400 and "error" in j, "invalid JSON: 400", j)
    st, j, _, _ = srv.request("POST", "/v1/chat/completions", {"messages": CHAT, "temperature": 9})
    check(st == 400 and j["error"]["param"] == "temperature", "out-of-range field named", j)
    st, j, _, _ = srv.request("POST", "/v1/chat/completions", {"messages": CHAT, "n": 2})
    check(st == 400 and j["error"]["param"] == "n", "n=2: 400", j)
    st, j, _, _ = srv.request("POST", "/v1/chat/completions", {"messages": CHAT, "model": "gpt-9"})
    check(st == 404, "unknown model: 404", j)
    # a 2 MiB body: refused from its head, before the body is sent
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 2097152\r\n\r\n")
    head = s.recv(256).decode("latin-1")
    s.close()
    check(head.startswith("HTTP/1.1 413"), "a 2 MiB body: 413", head[:40])
    st, j, _, _ = srv.request("GET", "/nope")
    check(st == 404, "unknown path: 404", st)
    st, j, _, _ = srv.request("POST", "/v1/completions",
                              {"prompt": "Once upon a time " * 200, "max_tokens": 8})
    check(st == 400 and "context" in j["error"]["message"], "a prompt over the slot's context: 400", j)


def test_disconnect(srv):
    # a stream whose client goes away frees its slot: then a request is served at once
    s = socket.create_connection(("127.0.0.1", srv.port))
    body = json.dumps({"prompt": "Once upon a time", "max_tokens": 400, "stream": True})
    s.sendall(f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              f"Content-Length: {len(body)}\r\n\r\n{body}".encode())
    s.recv(512)
    s.close()
    t0 = time.time()
    st, j, _, _ = srv.request("POST", "/v1/completions",
                              {"prompt": "One day", "max_tokens": 4, "temperature": 0})
    check(st == 200 and time.time() - t0 < 10, "a request after a disconnect is served", st)


def test_chunked_prefill():
    """A long prompt prefilled in chunks while other requests stream gets the text it gets alone
    (two fresh servers, so no cached prefix moves the chunk boundaries)."""
    long = "Once upon a time, there was a little girl named Lily. " * 20
    body = {"prompt": long, "max_tokens": 24, "temperature": 0}
    alone = Server("-np", "4", "-c", "512", "-b", "64")
    try:
        st, j, _, _ = alone.request("POST", "/v1/completions", body)
        want = j["choices"][0]["text"] if st == 200 else f"HTTP {st}"
        n_prompt = j["usage"]["prompt_tokens"] if st == 200 else 0
    finally:
        alone.stop()
    busy = Server("-np", "4", "-c", "512", "-b", "64")
    try:
        others = [threading.Thread(target=busy.request, args=(
            "POST", "/v1/completions", {"prompt": p, "max_tokens": 200, "temperature": 0}))
            for p in ("The little dog", "One day, a bird", "Tom had a ball")]
        for t in others:
            t.start()
        time.sleep(0.05)
        st, j, _, _ = busy.request("POST", "/v1/completions", body)
        got = j["choices"][0]["text"] if st == 200 else f"HTTP {st}"
        for t in others:
            t.join()
    finally:
        busy.stop()
    check(n_prompt > 64, "the long prompt needs several chunks", n_prompt)
    check(got == want, "a chunked prompt among running streams gets its text alone", (got, want))


def test_energy():
    """--watts 5 (the constant source): the gauge reads 5 W and the joules counter grows by about
    5 W x the time between two scrapes; with no power option and no sensor, no energy families."""
    srv = Server("--watts", "5")
    try:
        srv.request("POST", "/v1/completions", {"prompt": "Once upon a time", "max_tokens": 4})
        t0 = time.monotonic()
        _, v0 = scrape(srv)
        time.sleep(0.3)
        t1 = time.monotonic()
        _, v1 = scrape(srv)
    finally:
        rc = srv.stop()
    check(rc == 0, "--watts 5: exit 0", rc)
    watts = 'edgelm_power_watts{source="constant"}'
    joules = 'edgelm_energy_joules_total{source="constant"}'
    check(v1.get(watts) == 5, f"--watts 5: {watts} is 5", v1.get(watts))
    grew, want = v1.get(joules, 0) - v0.get(joules, 0), 5 * (t1 - t0)
    check(0.5 * want < grew < 2 * want + 0.5,
          "energy grows by about 5 W x the time between scrapes", (grew, want))
    check(v0.get(joules, 0) > 0, "energy counted since start", v0.get(joules))
    check("energy: constant" in srv.log, "the start-up line names the source", srv.log[:400])
    srv = Server()
    try:
        text, _ = scrape(srv)
    finally:
        rc = srv.stop()
    check(rc == 0, "no power option: starts and exits 0", rc)
    if "energy: unavailable: " in srv.log:
        check("edgelm_energy_joules_total" not in text and "edgelm_power_watts" not in text,
              "no power source: no energy families", text[-300:])
    else:  # a machine with a sensor: its families, labelled with its source
        check(re.search(r'edgelm_energy_joules_total\{source="\w+"\}', text) is not None,
              "a sensor found: its energy family", text[-300:])


def main():
    srv = Server("-np", "4", "-c", "256")
    try:
        test_basics(srv)
        test_max_tokens_and_stop(srv)
        test_logprobs(srv)
        test_batching(srv)
        test_prompt_cache(srv)
        test_errors(srv)
        test_disconnect(srv)
        # completions answered 200 so far: basics 1, max/stop 3, logprobs 1, batching 4, cache 2,
        # disconnect 1
        test_metrics(srv, 12)
    finally:
        rc = srv.stop()
    check(rc == 0, "SIGTERM: exit 0", rc)
    check("POST /v1/completions 200" in srv.log or '"status":200' in srv.log,
          "a log line per request", srv.log[-500:])
    # a key: 401 without it, 200 with it; a full queue: 503 with Retry-After
    srv = Server("-np", "1", "--max-queue", "0", "--api-key", "s3cret")
    try:
        st, j, _, _ = srv.request("GET", "/v1/models")
        check(st == 401, "no key: 401", st)
        st, j, _, _ = srv.request("GET", "/v1/models", headers={"Authorization": "Bearer s3cret"})
        check(st == 200, "the key: 200", st)
        auth = {"Authorization": "Bearer s3cret"}
        # one slot, no queue: of eight requests sent at once one is served, the others refused
        res = []

        def one():
            st, _, _, r = srv.request("POST", "/v1/completions",
                                      {"prompt": "Once upon a time", "max_tokens": 64}, headers=auth)
            res.append((st, r.getheader("Retry-After")))

        ts = [threading.Thread(target=one) for _ in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        check(any(st == 200 for st, _ in res), "one slot: a request is served", res)
        check(any(st == 503 and ra for st, ra in res), "queue full: 503 + Retry-After", res)
    finally:
        srv.stop()
    check("s3cret" not in srv.log, "the key is never logged")
    test_chunked_prefill()
    test_energy()
    summary()


main()
