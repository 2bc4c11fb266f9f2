#!/usr/bin/env python3
"""`make demo`: a small edge cluster on this machine behind `edgelm gateway`, driven by the
Edge-First paper's bursty workload (time-compressed), then the same traffic replayed through every
strategy with `edgelm simulate --replay`.

Three `edgelm serve` processes of a synthetic SmolLM2-135M (Q4_0; random weights, the real
model's shapes) play three devices of different capacity (threads and slots), a fake OpenAI
server (tests/fake_openai) plays the cloud, priced as GPT-4o-mini. The workload is Edge-First's
bursty one (src/sim/workload.c) with time compressed 60x: 20 users, one step per second, each user
active with probability 0.15 per step and 0.9 during a 2-second burst every 10 seconds, each
request asking for 50, 100, 200, 300 or 500 tokens (35/25/20/12/8 %), divided by 5 here to keep
the demo short on a CPU.
    demo.py BUILD_DIR"""
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
ELM = os.path.join(BUILD, "edgelm")
FAKE = os.path.join(BUILD, "fake_openai")
DIR = os.path.join(BUILD, "demo")
MODEL = os.path.join(DIR, "smollm2-135m-q4_0.gguf")
DEVICES = [  # name, threads, slots, prior tokens/s
    ("pi-5", 1, 1, 30),
    ("laptop", 1, 2, 60),
    ("jetson", 2, 3, 90),
]
procs = []


def start(args, name):
    """A server that prints "listening on http://127.0.0.1:PORT" (or, the fake, its port)."""
    err = open(os.path.join(DIR, name + ".err"), "w")
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, text=True)
    procs.append(p)
    line = p.stdout.readline()
    m = re.search(r"127\.0\.0\.1:(\d+)", line) or re.match(r"(\d+)$", line.strip())
    if not m:
        raise SystemExit(f"demo: {name} did not start (see {err.name})")
    return int(m.group(1))


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:
        return json.loads(r.read())


def chat(port, max_tokens, results):
    body = json.dumps({"model": "edge", "stream": True, "max_tokens": max_tokens,
                       "messages": [{"role": "user", "content": "Tell me a story about a robot."}]})
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", body.encode(),
                                 {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            r.read()
            results.append(r.status)
    except urllib.error.HTTPError as e:
        results.append(e.code)
    except OSError:
        results.append(0)


def schedule(seed=1, users=20, steps=40, p_active=0.15, p_burst=0.9, every=10, burst=2):
    """(second, max_tokens) arrivals of the compressed bursty workload."""
    rng = random.Random(seed)
    sizes, cum = (50, 100, 200, 300, 500), (35, 60, 80, 92, 100)
    out = []
    for step in range(steps):
        p = p_burst if step % every < burst else p_active
        for _ in range(users):
            if rng.random() < p:
                x = rng.randrange(100)
                demand = next(s for s, c in zip(sizes, cum) if x < c)
                out.append((step + rng.random(), demand // 5))
    return sorted(out)


def main():
    os.makedirs(DIR, exist_ok=True)
    if not os.path.exists(MODEL):
        subprocess.run([ELM, "synth", "smollm2-135m:Q4_0", "-o", MODEL], check=True,
                       stdout=subprocess.DEVNULL)
    devices = []
    for name, threads, slots, tps in DEVICES:
        port = start([ELM, "serve", "-m", MODEL, "--port", "0", "-t", str(threads), "-np", str(slots),
                      "-c", "1024", "--alias", "smollm2"], name)
        devices.append({"name": name, "url": f"http://127.0.0.1:{port}/v1", "model": "smollm2",
                        "tokens_per_s": tps, "max_parallel": slots})
    cloud = start([FAKE, "--tokens", "100", "--tokens-per-s", "400", "--model", "gpt-4o-mini",
                   "--lifetime", "600"], "cloud")
    cluster = {"window_s": 10, "strategy": "load-aware",
               "cloud": {"enabled": True, "name": "gpt-4o-mini", "url": f"http://127.0.0.1:{cloud}/v1",
                         "model": "gpt-4o-mini", "input_per_mtok": 0.15, "output_per_mtok": 0.60},
               "gateway": {"model_id": "edge", "health": {"interval_s": 2}},
               "devices": devices}
    cfg = os.path.join(DIR, "cluster.json")
    log = os.path.join(DIR, "access.jsonl")
    with open(cfg, "w") as f:
        json.dump(cluster, f, indent=1)
    if os.path.exists(log):
        os.remove(log)
    gw = start([ELM, "gateway", "--config", cfg, "--port", "0", "--log", log], "gateway")
    arrivals = schedule()
    print(f"demo: 3 edgelm serve devices ({', '.join(f'{n}: -t {t} -np {s}' for n, t, s, _ in DEVICES)})"
          f", a fake cloud and the gateway on 127.0.0.1:{gw}")
    print(f"demo: {len(arrivals)} requests of Edge-First's bursty workload over 40 s "
          "(bursts at 0, 10, 20, 30 s)")
    results, threads, t0 = [], [], time.monotonic()
    for at, n in arrivals:
        time.sleep(max(0.0, t0 + at - time.monotonic()))
        t = threading.Thread(target=chat, args=(gw, n, results))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    c = get(gw, "/v1/cluster")
    print(f"\nrecorded by the gateway ({sum(1 for r in results if r == 200)}/{len(results)} answered 200):")
    print(f"{'device':10} {'requests':>8} {'tokens in':>9} {'tokens out':>10} {'tok/s':>7}")
    for d in c["devices"]:
        print(f"{d['name']:10} {d['requests']:8} {d['tokens_in']:9} {d['tokens_out']:10} "
              f"{d['tokens_per_s']:7.1f}")
    cl = c["cloud"]
    print(f"{'cloud':10} {cl['requests']:8} {cl['tokens_in']:9} {cl['tokens_out']:10}"
          f"      -   ${cl['cost_usd']:.6f}")
    print("outcomes: " + ", ".join(f"{k} {v}" for k, v in c["outcomes"].items()))
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
    print(f"\n$ edgelm simulate --replay {log} --config {cfg} --compare", flush=True)
    subprocess.run([ELM, "simulate", "--replay", log, "--config", cfg, "--compare"], check=True)


if __name__ == "__main__":
    try:
        main()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
