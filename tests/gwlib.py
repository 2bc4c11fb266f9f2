"""Shared by the gateway's python tests: checks, HTTP requests, fake devices (tests/fake_openai.c)
and gateway processes on free loopback ports, and cluster files for them. A test script calls
init(EDGELM, FAKE_OPENAI) first and finish() last."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checklib import check, request, summary, terminate  # noqa: E402

ELM = FAKE = None
TMP = tempfile.mkdtemp(prefix="elm-gw-")


def init(elm, fake):
    global ELM, FAKE
    ELM, FAKE = elm, fake


def finish():
    """Remove the temporary files, print the totals, and exit 1 when a check failed."""
    shutil.rmtree(TMP, ignore_errors=True)
    summary()




def events_of(text):
    """The SSE events of a stream's body: parsed JSON objects, and "[DONE]"."""
    out = []
    for raw in text.split("\n\n"):
        if raw.startswith("data: "):
            out.append("[DONE]" if raw == "data: [DONE]" else json.loads(raw[6:]))
    return out


class Fake:
    """A fake device (or cloud): tests/fake_openai.c on a free port."""

    def __init__(self, *args, port=0):
        self.args = list(args)
        self.start(port)

    def start(self, port=0):
        self.p = subprocess.Popen([FAKE, "--port", str(port), "--lifetime", "300", *self.args],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.port = int(self.p.stdout.readline())

    def url(self):
        return f"http://127.0.0.1:{self.port}/v1"

    def stats(self):
        return request(self.port, "GET", "/stats")[1]

    def mode(self, m):
        request(self.port, "POST", "/fake/mode", {"mode": m})

    def reset(self):
        request(self.port, "POST", "/stats/reset")

    def stop(self):
        self.p.kill()
        self.p.wait()


class Gateway:
    def __init__(self, cfg, *args):
        self.cfg_path = os.path.join(TMP, f"cluster-{time.monotonic_ns()}.json")
        self.log_path = self.cfg_path.replace(".json", ".jsonl")
        with open(self.cfg_path, "w") as f:
            json.dump(cfg, f)
        self.p = subprocess.Popen([ELM, "gateway", "--config", self.cfg_path, "--port", "0",
                                   "--log", self.log_path, *args],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if not m:
            raise SystemExit(f"FAIL: the gateway did not start: {line!r} {self.p.stderr.read()!r}")
        self.port = int(m.group(1))

    def chat(self, content="Hello there", stream=False, max_tokens=8, headers=None, **extra):
        body = {"messages": [{"role": "user", "content": content}], "max_tokens": max_tokens,
                "stream": stream, **extra}
        return request(self.port, "POST", "/v1/chat/completions", body, headers)

    def cluster(self, headers=None):
        return request(self.port, "GET", "/v1/cluster", headers=headers)[1]

    def log(self):
        with open(self.log_path) as f:
            return [json.loads(line) for line in f]

    def stop(self):
        rc, self.err = terminate(self.p)
        # under the sanitizers a leak or a bad access shows here as a non-zero exit
        check(rc == 0, "the gateway stopped on SIGTERM with exit 0", (rc, self.err[-2000:]))
        return rc


def cluster(devices, cloud=None, window_s=60, strategy="load-aware", **gateway):
    gw = {"timeouts": {"connect_s": 1, "first_byte_s": 2, "idle_s": 2, "total_s": 30},
          "health": {"interval_s": 0}, "retries": 1}
    gw.update(gateway)
    c = {"window_s": window_s, "strategy": strategy, "gateway": gw,
         "devices": [dict(name=n, tokens_per_s=50, max_parallel=p, url=f.url(), **kw)
                     for n, f, p, kw in devices]}
    c["cloud"] = ({"enabled": True, "name": "cloud", "url": cloud.url(), "model": "big-model",
                   "input_per_mtok": 1.0, "output_per_mtok": 2.0} if cloud else {"enabled": False})
    return c


def check_record(fake, name, max_parallel, window_tokens, window_s):
    """The device's own record never shows more than max_parallel requests at once, nor more than
    window_tokens tokens (prompt + completion) started within any window_s."""
    s = fake.stats()
    check(s["max_held"] <= max_parallel,
          f"{name}: never more than {max_parallel} in flight (its record)", s["max_held"])
    reqs = [r for r in s["requests"] if r["outcome"] == "ok"]
    worst = 0
    for r in reqs:
        # the gateway admits at its own clock; the device starts a request a little later
        t0 = r["start_ms"]
        worst = max(worst, sum(q["prompt_tokens"] + q["completion_tokens"] for q in reqs
                               if t0 <= q["start_ms"] < t0 + window_s * 1000 - 100))
    check(worst <= window_tokens,
          f"{name}: never more than {window_tokens} tokens in a {window_s} s window", worst)
    return len(reqs)
