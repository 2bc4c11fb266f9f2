#!/usr/bin/env python3
"""`make bench-serve`: edgelm serve under closed-loop load, in one run (not a test).

    serve.py EDGELM MODEL [--slots 8] [--threads 2] [--tokens 128] [--requests 16]

Starts `edgelm serve -np SLOTS` on a free port and drives it with `edgelm bench --target` at
concurrency 1, 2, 4 and SLOTS: aggregate output tokens/s and its ratio to one stream, TTFT p50 and
p99, inter-token latency p99. Each point follows one unmeasured round at its concurrency, as `edgelm
bench` discards its first run: every slot in use has then met the prompt once, as in a server that
has been running (otherwise the first round's cold prefills of up to SLOTS prompts fall inside a
window of a few requests per stream). Then the inter-token latency p99 of SLOTS/2 streams while another
client sends a 1,024-token prompt into them (chunked prefill), against the same streams
undisturbed; the per-token cost of HTTP at one stream (its tokens/s ÷ `edgelm bench` in-process on
the same model); the server's RSS at start and at its peak, and each slot's KV cache."""
import argparse
import http.client
import json
import re
import subprocess
import sys
import threading
import time

from benchlib import rss_kib


def start(elm, model, slots, threads, ctx):
    p = subprocess.Popen([elm, "serve", "-m", model, "--port", "0", "-np", str(slots), "-c",
                          str(ctx), "-t", str(threads)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    m = re.search(r":(\d+)$", p.stdout.readline().strip())
    if not m:
        sys.exit("serve did not start: " + p.stderr.read())
    kv = 0.0
    for line in iter(p.stderr.readline, ""):
        k = re.search(r"KV ([0-9.]+) MiB per slot", line)
        if k:
            kv = float(k.group(1))
            break
    threading.Thread(target=p.stderr.read, daemon=True).start()  # the request log, unread
    return p, int(m.group(1)), kv


def target(elm, port, name, conc, tokens, requests):
    out = subprocess.run([elm, "bench", "--target", f"http://127.0.0.1:{port}", "-m", name,
                          "--concurrency", ",".join(map(str, conc)), "-n", str(tokens),
                          "--requests", str(requests), "--no-db", "-o", "jsonl"],
                         capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"bench --target failed: {out.stderr}")
    return [json.loads(line)["target"] for line in out.stdout.splitlines() if line.startswith("{")]


def measure(elm, port, name, conc, tokens, requests):
    target(elm, port, name, [conc], 4, conc)  # the unmeasured round: one short request a stream
    return target(elm, port, name, [conc], tokens, requests)


def long_prompt(port, name, n_tokens):
    body = json.dumps({"model": name, "prompt": [1 + i % 1000 for i in range(n_tokens)],
                       "max_tokens": 1, "temperature": 0})
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    c.request("POST", "/v1/completions", body=body, headers={"Content-Type": "application/json"})
    c.getresponse().read()
    c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("elm")
    ap.add_argument("model")
    ap.add_argument("--slots", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--requests", type=int, default=16)
    a = ap.parse_args()
    name = a.model.rsplit("/", 1)[-1]
    ctx = 2048

    p, port, kv = start(a.elm, a.model, a.slots, a.threads, ctx)
    rss_start = rss_kib(p.pid, "VmRSS")
    rows = measure(a.elm, port, name, 1, a.tokens, a.requests)
    # the in-process reference decodes after a prompt as long as the requests' (attention over
    # the same context): edgelm bench's generation tokens/s on the same model and threads
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", "/metrics")
    m = re.search(r"^edgelm_prompt_tokens_total (\S+)$", c.getresponse().read().decode(), re.M)
    n_prompt = max(1, round(float(m.group(1)) / a.requests)) if m else 64
    out = subprocess.run([a.elm, "bench", "-m", a.model, "-t", str(a.threads), "-p",
                          str(n_prompt), "-n", str(a.tokens), "-r", "3", "--no-db", "-o", "jsonl"],
                         capture_output=True, text=True, check=True)
    inproc = json.loads(out.stdout.splitlines()[0])["gen_tps"]["mean"]
    for c in sorted({2, 4, a.slots}):
        rows += measure(a.elm, port, name, c, a.tokens, a.requests)
    half = max(1, a.slots // 2)
    calm = target(a.elm, port, name, [half], a.tokens, half * 2)[0]
    t = threading.Thread(target=lambda: [long_prompt(port, name, 1024) for _ in range(3)])
    t.start()
    busy = target(a.elm, port, name, [half], a.tokens, half * 2)[0]
    t.join()
    peak = rss_kib(p.pid, "VmHWM")
    p.terminate()
    p.wait()

    one = rows[0]["throughput_tps"]
    print(f"edgelm serve -np {a.slots} -c {ctx} -t {a.threads}: {name}, closed loop, "
          f"{a.requests} requests of {a.tokens} tokens per point")
    print("| streams | output tok/s | vs 1 stream | TTFT p50 ms | TTFT p99 ms | ITL p99 ms | errors |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['concurrency']} | {r['throughput_tps']:.1f} | {r['throughput_tps'] / one:.2f}x | "
              f"{r['ttft_ms']['p50']:.1f} | {r['ttft_ms']['p99']:.1f} | {r['itl_ms']['p99']:.1f} | "
              f"{r['errors']} |")
    print()
    print(f"ITL p99 of {half} streams: {calm['itl_ms']['p99']:.1f} ms undisturbed, "
          f"{busy['itl_ms']['p99']:.1f} ms while 1,024-token prompts arrive "
          f"({busy['itl_ms']['p99'] / calm['itl_ms']['p99']:.2f}x)")
    print(f"one stream over HTTP: {rows[0]['tps']['mean']:.1f} tok/s per request vs "
          f"{inproc:.1f} in-process (edgelm bench -p {n_prompt}, the requests' prompt length): "
          f"{rows[0]['tps']['mean'] / inproc:.3f}")
    print(f"server RSS: {rss_start / 1024:.1f} MiB at start, peak {peak / 1024:.1f} MiB under "
          f"the load above; each slot's KV cache is {kv:.1f} MiB at -c {ctx} (pages become "
          f"resident as its positions are used)")


main()
