#!/usr/bin/env python3
"""tests/fake_openai.c does what its header says: the answers and their token counts, keep-alive,
the key, every failure mode and its switch at run time, slots, and the /stats record that the
gateway tests take as ground truth. Registered in CTest as fake_openai:
    fake_check.py PATH/TO/fake_openai
Prints ok:/FAIL: lines and "N passed, N failed"; exits 1 on a failure."""
import http.client
import json
import math
import os
import socket
import subprocess
import sys
import atexit
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checklib import check, request, summary  # noqa: E402

FAKE = sys.argv[1]
started = []  # every fake, killed at exit even when a check raised
atexit.register(lambda: [p.kill() for p in started])




class Fake:
    """A fake_openai process on 127.0.0.1 (the port it prints), stopped by stop()."""

    def __init__(self, *args):
        self.p = subprocess.Popen([FAKE, "--lifetime", "60", *args], stdout=subprocess.PIPE, text=True)
        started.append(self.p)
        line = self.p.stdout.readline()
        if not line.strip().isdigit():
            self.p.kill()
            raise SystemExit(f"FAIL: the fake did not start: {line!r}")
        self.port = int(line)

    def stop(self):
        self.p.kill()
        self.p.wait()

    def conn(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=10):
        """One request on its own connection: status, parsed JSON (or None), text, response."""
        return request(self.port, method, path, body, headers, timeout)

    def stats(self):
        return self.request("GET", "/stats")[1]

    def last(self, key):
        """The last record once its key is set (the fake notices a closed client a moment later)."""
        for _ in range(100):
            q = self.stats()["requests"][-1]
            if q[key] is not None:
                return q
            time.sleep(0.02)
        return q

    def mode(self, m):
        return self.request("POST", "/fake/mode", {"mode": m})[0]


def events(text):
    """The SSE events of a stream body: parsed JSON, and whether [DONE] ended it."""
    evs, done = [], False
    for raw in text.split("\n\n"):
        if raw == "data: [DONE]":
            done = True
        elif raw.startswith("data: "):
            evs.append(json.loads(raw[6:]))
    return evs, done


CHAT = {"model": "m1", "messages": [{"role": "system", "content": "be brief"},
                                    {"role": "user", "content": "Once upon a time"}]}
CHAT_PROMPT = math.ceil(len("be brief" "Once upon a time") / 4)  # 24 bytes: 6 tokens


def test_answers():
    f = Fake("--tokens", "5", "--tokens-per-s", "50", "--first-ms", "30")
    st, j, _, _ = f.request("POST", "/v1/chat/completions", dict(CHAT, max_tokens=3))
    check(st == 200 and j["object"] == "chat.completion" and j["model"] == "m1" and
          j["choices"][0]["message"]["content"] == "tok0 tok1 tok2 " and
          j["choices"][0]["finish_reason"] == "length", "non-streamed chat by default", j)
    check(j["usage"] == {"prompt_tokens": CHAT_PROMPT, "completion_tokens": 3,
                         "total_tokens": CHAT_PROMPT + 3},
          "usage: min(max_tokens, --tokens), prompt ceil(bytes / 4)", j["usage"])
    st, j, _, _ = f.request("POST", "/v1/completions",
                            {"model": "m2", "prompt": "abcde", "max_completion_tokens": 9})
    check(st == 200 and j["object"] == "text_completion" and j["model"] == "m2" and
          j["choices"][0]["text"] == "tok0 tok1 tok2 tok3 tok4 " and
          j["usage"]["completion_tokens"] == 5 and j["usage"]["prompt_tokens"] == 2,
          "text completion: max_completion_tokens above --tokens gives --tokens", j)
    st, _, text, r = f.request("POST", "/v1/chat/completions",
                               dict(CHAT, stream=True, stream_options={"include_usage": True}))
    evs, done = events(text)
    content = [e for e in evs if e["choices"]]
    check(st == 200 and r.getheader("Content-Type") == "text/event-stream" and done and
          len(content) == 5 and evs[-1]["choices"] == [] and
          evs[-1]["usage"]["completion_tokens"] == 5 and evs[-1]["usage"]["prompt_tokens"] == CHAT_PROMPT,
          "stream with include_usage: 5 chunks, the usage chunk, [DONE]", evs)
    st, _, text, _ = f.request("POST", "/v1/chat/completions", dict(CHAT, stream=True, max_tokens=2))
    evs, done = events(text)
    check(done and len(evs) == 2 and all(e["choices"] for e in evs),
          "stream without include_usage: no usage chunk", evs)
    st, j, _, _ = f.request("GET", "/v1/models")
    check(st == 200 and j["data"][0]["id"] == "fake", "/v1/models lists 'fake'", j)
    st, j, _, _ = f.request("GET", "/health")
    check(st == 200 and j == {"status": "ok"}, "/health ok", j)
    recs = f.stats()["requests"]
    check([(q["path"], q["model"], q["stream"], q["prompt_tokens"], q["completion_tokens"],
            q["status"], q["outcome"]) for q in recs] ==
          [("/v1/chat/completions", "m1", False, CHAT_PROMPT, 3, 200, "ok"),
           ("/v1/completions", "m2", False, 2, 5, 200, "ok"),
           ("/v1/chat/completions", "m1", True, CHAT_PROMPT, 5, 200, "ok"),
           ("/v1/chat/completions", "m1", True, CHAT_PROMPT, 2, 200, "ok")],
          "the record: one entry per generation, with its tokens", recs)
    s = recs[2]
    # 30 ms to the first chunk, then 4 more at 50 tok/s
    check(s["start_ms"] <= s["slot_ms"] <= s["first_ms"] <= s["end_ms"] and
          s["first_ms"] - s["slot_ms"] >= 30 * 0.9 and s["end_ms"] - s["first_ms"] >= 4 * 20 * 0.9,
          "times: --first-ms, then a chunk every 1/R s", s)
    st, _, _, _ = f.request("POST", "/stats/reset", {})
    j = f.stats()
    check(st == 200 and j["requests"] == [] and j["served"] == 0, "/stats/reset empties the record", j)
    f.stop()

    f = Fake("--model", "tiny", "--always-usage", "--tokens", "2")
    st, _, text, _ = f.request("POST", "/v1/completions", {"model": "x", "prompt": "p", "stream": True})
    evs, done = events(text)
    check(done and evs[-1].get("usage", {}).get("completion_tokens") == 2 and
          all(e["model"] == "tiny" for e in evs), "--always-usage and --model", evs)
    f.stop()


def test_keepalive_and_key():
    f = Fake("--tokens", "2", "--expect-key", "sk-1")
    c = f.conn()
    socks = []
    for i in range(3):
        c.request("POST", "/v1/chat/completions", body=json.dumps(dict(CHAT, stream=i == 1)),
                  headers={"Authorization": "Bearer sk-1"})
        r = c.getresponse()
        r.read()
        socks.append((r.status, c.sock))
    check(all(s == 200 for s, _ in socks) and socks[0][1] is not None and
          all(k is socks[0][1] for _, k in socks), "keep-alive: 3 requests on one connection", socks)
    c.request("GET", "/health", headers={"Connection": "close"})
    r = c.getresponse()
    r.read()
    check(r.status == 200 and r.getheader("Connection") == "close" and c.sock is None,
          "Connection: close is honoured", r.getheaders())
    c.close()
    st, j, _, _ = f.request("POST", "/v1/chat/completions", CHAT)
    st2, _, _, _ = f.request("POST", "/v1/chat/completions", CHAT, {"Authorization": "Bearer sk-2"})
    check(st == 401 and st2 == 401 and "error" in j, "no key or a wrong key: 401", j)
    recs = f.stats()["requests"]
    check([q["status"] for q in recs] == [200, 200, 200, 401, 401] and
          recs[-1]["outcome"] == "error", "401s are recorded", recs)
    f.stop()


def raw_stream(port, body, timeout=5):
    """POST a stream over a bare socket: everything read until the server closed, and whether it
    did close (rather than time out)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    data = json.dumps(body).encode()
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
              % (len(data), data))
    got = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                return got.decode(), True
            got += b
    except socket.timeout:
        return got.decode(), False
    finally:
        s.close()


def test_modes():
    f = Fake("--tokens", "6", "--slow-ms", "60", "--die-after", "2")
    check(f.mode("500") == 200, "POST /fake/mode answers 200")
    st, j, _, _ = f.request("POST", "/v1/chat/completions", CHAT)
    hs, _, _, _ = f.request("GET", "/health")
    check(st == 500 and j["error"]["type"] == "server_error" and hs == 500,
          "mode 500: 500 with an OpenAI error body; /health 500", j)
    f.mode("429")
    st, j, _, r = f.request("POST", "/v1/chat/completions", CHAT)
    hs, _, _, _ = f.request("GET", "/health")
    check(st == 429 and r.getheader("Retry-After") == "1" and "error" in j and hs == 200,
          "mode 429: 429 with Retry-After: 1; /health 200", (st, j))

    f.mode("hang")
    res = {}

    def hang(name, method, path, body):
        t0 = time.monotonic()
        try:
            res[name] = f.request(method, path, body, timeout=1)[0]
        except (socket.timeout, TimeoutError):
            res[name] = "timeout"
        res[name + "_s"] = time.monotonic() - t0

    ts = [threading.Thread(target=hang, args=("post", "POST", "/v1/chat/completions", CHAT)),
          threading.Thread(target=hang, args=("health", "GET", "/health", None))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    check(res["post"] == "timeout" and res["health"] == "timeout" and res["post_s"] >= 0.95,
          "mode hang: neither a request nor /health is answered within 1 s", res)
    q = f.last("outcome")
    check(f.stats()["mode"] == "hang" and q["outcome"] == "client_gone" and q["status"] == 0,
          "a hung request whose client left: client_gone", q)

    f.mode("die")
    text, closed = raw_stream(f.port, dict(CHAT, stream=True))
    body = text.split("\r\n\r\n", 1)[-1]
    check(closed and text.startswith("HTTP/1.1 200") and body.count("chat.completion.chunk") == 2 and
          "[DONE]" not in body and not body.endswith("0\r\n\r\n"),
          "mode die: headers and 2 chunks, then the connection closed", text)
    text, closed = raw_stream(f.port, CHAT)
    check(closed and text.startswith("HTTP/1.1 200") and text.endswith("\r\n\r\n"),
          "mode die, not streamed: closed after the headers", text)
    hs, _, _, _ = f.request("GET", "/health")
    recs = f.stats()["requests"][-2:]
    check(hs == 200 and [(q["outcome"], q["completion_tokens"]) for q in recs] == [("died", 2), ("died", 0)],
          "died recorded with the tokens sent; /health 200", recs)

    f.mode("slow")
    t0 = time.monotonic()
    st, j, _, _ = f.request("POST", "/v1/chat/completions", dict(CHAT, max_tokens=4))
    dt = time.monotonic() - t0
    check(st == 200 and j["usage"]["completion_tokens"] == 4 and dt >= 3 * 0.06 * 0.9,
          "mode slow: a chunk every --slow-ms", dt)
    f.mode("ok")
    st, _, _, _ = f.request("POST", "/v1/chat/completions", CHAT)
    check(st == 200 and f.stats()["mode"] == "ok", "back to ok")

    # a client that leaves mid-stream: noticed, recorded with the tokens it was sent
    f2 = Fake("--tokens", "50", "--delay-ms", "20")
    s = socket.create_connection(("127.0.0.1", f2.port), timeout=5)
    data = json.dumps(dict(CHAT, stream=True)).encode()
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (len(data), data))
    got = b""
    while got.count(b"chat.completion.chunk") < 2:
        got += s.recv(65536)
    s.close()
    q = f2.last("outcome")
    check(q["outcome"] == "client_gone" and 2 <= q["completion_tokens"] < 50 and q["end_ms"],
          "a client gone mid-stream: client_gone, tokens sent", q)
    f2.stop()

    port = f.port
    check(f.mode("refuse") == 200, "mode refuse answers 200")
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        refused = False
    except ConnectionRefusedError:
        refused = True
    check(refused and f.p.poll() is None, "mode refuse: connections refused, the process stays up")
    f.stop()
    f = Fake("--port", str(port))
    st, _, _, _ = f.request("GET", "/health")
    check(f.port == port and st == 200, "restarted on the same --port", f.port)
    f.stop()


def test_slots():
    f = Fake("--slots", "2", "--tokens", "4", "--tokens-per-s", "40")
    sts = []

    def one():
        sts.append(f.request("POST", "/v1/chat/completions", dict(CHAT, stream=True))[0])

    ts = [threading.Thread(target=one) for _ in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    j = f.stats()
    recs = j["requests"]
    waited = [q["slot_ms"] - q["start_ms"] for q in recs]
    check(sts == [200] * 6 and j["max_in_flight"] == 2 and j["max_concurrent"] == 2,
          "--slots 2: never more than 2 generating under 6 concurrent requests", j)
    check(j["max_queued"] >= 3 and j["max_held"] >= 5 and sorted(waited)[-1] >= 2 * 75 * 0.9,
          "the others waited for a slot, queued", (j["max_queued"], j["max_held"], waited))
    ends = sorted(q["end_ms"] for q in recs)
    slots = sorted(q["slot_ms"] for q in recs)
    # at any moment at most 2 of the records lie between slot and end
    check(all(sum(q["slot_ms"] <= t < q["end_ms"] for q in recs) <= 2 for t in slots + ends),
          "the record agrees: at most 2 between slot and end")
    f.stop()


def main():
    if not os.access(FAKE, os.X_OK):
        print(f"SKIPPED: {FAKE} is not built")
        return
    t0 = time.monotonic()
    for t in (test_answers, test_keepalive_and_key, test_modes, test_slots):
        t()
    print(f"took {time.monotonic() - t0:.1f} s")
    summary()


main()
