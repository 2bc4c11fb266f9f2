#!/usr/bin/env python3
"""`edgelm simulate --replay` against the gateway's own access log: two gateways over fake devices
of different speeds with small windows (one with a fake cloud, one without, so that both
redirects and 429 rejections are frequent) take the same bursty open-loop schedule at once; each
log is then replayed with the gateway's strategy and the measured speeds, and the simulated
redirect and reject counts must be within 10 % of the recorded ones (issue 16). --compare must
give a row per strategy. Started by tests/cli_replay.sh:
    replay_test.py EDGELM FAKE_OPENAI
Prints ok:/FAIL: lines and "N passed, N failed"; exits 1 on a failure."""
import os
import random
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gwlib import Fake, Gateway, check, cluster, finish, init, request  # noqa: E402

init(sys.argv[1], sys.argv[2])
ELM = sys.argv[1]
STRATEGIES = ["random", "weighted", "load-aware", "round-robin", "least-predicted-completion",
              "energy-aware"]


def devices():
    """Three fake devices, 4x apart in speed, with windows that bursts overflow."""
    return [("d0", Fake("--tokens", "1000", "--tokens-per-s", "200"), 2, {"window_tokens": 900}),
            ("d1", Fake("--tokens", "1000", "--tokens-per-s", "100"), 2, {"window_tokens": 600}),
            ("d2", Fake("--tokens", "1000", "--tokens-per-s", "50"), 1, {"window_tokens": 300})]


def schedule(seconds=10.0, seed=16):
    """Open-loop arrivals: a burst of 60 requests/s for the first second of every three, 15/s
    between, each with a prompt and max_tokens drawn from small sets."""
    rng, t, out = random.Random(seed), 0.0, []
    while True:
        t += rng.expovariate(60 if t % 3 < 1 else 15)
        if t >= seconds:
            return out
        out.append((t, rng.choice([10, 20, 40, 80]), "word " * rng.randrange(1, 60)))


def drive(gateways, sched, threads=24):
    """Send every request of sched to every gateway at its time, from a pool of threads."""
    jobs = sorted((at, i, g, mt, text) for at, mt, text in sched for i, g in enumerate(gateways))
    lock, it, t0 = threading.Lock(), iter(jobs), time.monotonic()

    def worker():
        while True:
            with lock:
                job = next(it, None)
            if job is None:
                return
            at, _, g, mt, text = job
            if t0 + at > time.monotonic():
                time.sleep(t0 + at - time.monotonic())
            g.chat(content=text, stream=True, max_tokens=mt)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()


def simulate(*args):
    p = subprocess.run([ELM, "simulate", *args], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def rows(out):
    """The table's rows: {(workload, strategy): [processed, redirected, rejected]}."""
    found = {}
    for line in out.splitlines():
        m = re.match(r"(recorded|replay) +(\S+) +(\d+) +(\d+) +(\d+) ", line)
        if m:
            found[(m.group(1), m.group(2))] = [int(m.group(k)) for k in (3, 4, 5)]
    return found


def within(sim, rec, tol=0.10):
    return abs(sim - rec) <= tol * rec


def check_replay(name, gw, what):
    log = gw.log()
    skipped = sum(e["reason"] == "invalid" for e in log)
    routed = [e for e in log if e["reason"] != "invalid"]
    rec = [sum(e["decision"] == k for e in routed) for k in ("device", "cloud", "reject")]
    rc, out, err = simulate("--replay", gw.log_path, "--config", gw.cfg_path)
    check(rc == 0, f"{name}: simulate --replay runs", err)
    r = rows(out)
    check(r.get(("recorded", "load-aware")) == rec,
          f"{name}: the recorded row counts the log's decisions", (r, rec))
    check(f"{len(routed)} requests" in out and f"{skipped} invalid" in out,
          f"{name}: the invalid request is skipped and counted", out[:300])
    check(re.search(r"speeds measured from the log: d0 [\d.]+ tok/s \(\d+ requests\), d1", out),
          f"{name}: the speeds are measured from the log", out[:400])
    sim = r.get(("replay", "load-aware"), [0, 0, 0])
    k = 1 if what == "redirected" else 2
    check(rec[k] >= 50, f"{name}: the gateway {what} often ({rec[k]} of {len(routed)})", rec)
    check(within(sim[1], rec[1]) and within(sim[2], rec[2]),
          f"{name}: replayed redirects and rejects within 10 % of the recorded "
          f"({sim[1]}/{rec[1]} redirected, {sim[2]}/{rec[2]} rejected)", out)
    rc, out, err = simulate("--replay", gw.log_path, "--config", gw.cfg_path, "--compare")
    r = rows(out)
    check(rc == 0 and all(("replay", s) in r for s in STRATEGIES)
          and all(sum(v) == len(routed) for w, v in r.items()),
          f"{name}: --compare has a row per strategy, each accounting for every request", out)
    rc, out, err = simulate("--replay", gw.log_path, "--config", gw.cfg_path, "--config-speeds")
    check(rc == 0 and "speeds from the config: d0 50.0 tok/s, d1 50.0 tok/s" in out,
          f"{name}: --config-speeds keeps the config's speeds", out[:400])


def test_replay():
    fakes = [devices(), devices()]
    cloud = Fake("--tokens", "1000")
    with_cloud = Gateway(cluster(fakes[0], cloud, window_s=2))
    no_cloud = Gateway(cluster(fakes[1], None, window_s=2))
    try:
        for g in (with_cloud, no_cloud):
            st, _, _, _ = request(g.port, "POST", "/v1/chat/completions", {"messages": []})
            check(st == 400, "a bad request is answered 400 (and logged as invalid)")
        drive([with_cloud, no_cloud], schedule())
    finally:
        with_cloud.stop()
        no_cloud.stop()
        for f in [f for fs in fakes for _, f, _, _ in fs] + [cloud]:
            f.stop()
    check_replay("with a cloud", with_cloud, "redirected")
    check_replay("without a cloud", no_cloud, "rejected")


test_replay()
finish()
