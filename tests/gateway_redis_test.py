#!/usr/bin/env python3
"""Two `edgelm gateway` processes sharing their limits through a real redis-server that this test
starts (free port, no persistence) and stops: under 64 concurrent clients split across them, no
fake device's own record exceeds its window or parallel limit — the two together admit no more
than one would; then Redis is killed and restarted mid-run (each gateway falls back to 1/2 of
every capacity, says so, and returns to Redis), and a fail-closed gateway sends everything to the
cloud while Redis is away. Started by tests/cli_gateway_redis.sh:
    gateway_redis_test.py EDGELM FAKE_OPENAI REDIS_SERVER
Prints ok:/FAIL: lines and "N passed, N failed"; exits 1 on a failure."""
import json
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checklib import check  # noqa: E402
import gwlib  # noqa: E402
from gwlib import Fake, Gateway, check_record, cluster, finish, init, request  # noqa: E402

init(sys.argv[1], sys.argv[2])
REDIS = sys.argv[3]
LOAD_KEY = {"Authorization": "Bearer sk-load-4567"}


class Redis:
    def __init__(self, port=0):
        if not port:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
        self.port = port
        self.p = subprocess.Popen([REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                   "--appendonly", "no", "--daemonize", "no"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("FAIL: redis-server did not start")

    def stop(self):
        self.p.kill()
        self.p.wait()


def metric(gw, name):
    text = request(gw.port, "GET", "/metrics")[2]
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def wait_for(what, timeout=10):
    """Poll what() until it is true or timeout seconds pass; its last value."""
    end = time.monotonic() + timeout
    while True:
        v = what()
        if v or time.monotonic() > end:
            return v
        time.sleep(0.1)


def load(gws, n_clients, per_client, results):
    """n_clients threads, each sending per_client requests alternately through the gateways."""
    lock = threading.Lock()

    def client(i):
        for k in range(per_client):
            st = gws[(i + k) % len(gws)].chat(content="y" * 16, stream=k % 2 == 0, max_tokens=10,
                                              headers=LOAD_KEY)[0]
            with lock:
                results.append(st)

    ts = [threading.Thread(target=client, args=(i,)) for i in range(n_clients)]
    for t in ts:
        t.start()
    return ts


def main():
    window_s = 4
    caps = [(2, 120), (1, 60)]
    devs = [Fake("--tokens", "10", "--tokens-per-s", "100"),
            Fake("--tokens", "10", "--tokens-per-s", "50")]
    cloud = Fake("--tokens", "10")
    redis = Redis()
    url = f"redis://127.0.0.1:{redis.port}/0"
    keys = os.path.join(gwlib.TMP, "keys.json")
    with open(keys, "w") as f:
        json.dump({"keys": [{"name": "alice", "key": "sk-alice-123", "window_tokens": 100},
                            {"name": "load", "key": "sk-load-4567"}]}, f)
    cfg = cluster([(f"d{i}", f, p, {"window_tokens": w}) for i, (f, (p, w)) in enumerate(zip(devs, caps))],
                  cloud, window_s=window_s, limits={"redis": url, "gateways": 2}, keys_file=keys)
    gws = [Gateway(cfg), Gateway(cfg)]
    try:
        check(wait_for(lambda: all(metric(g, "edgelm_gateway_limits_shared") == 1 for g in gws)),
              "both gateways share their limits through Redis")
        results = []
        for t in load(gws, 64, 3, results):
            t.join()
        check(len(results) == 192 and all(s == 200 for s in results),
              "192 requests from 64 clients over two gateways: all 200", sorted(set(results)))
        served = [check_record(f, f"d{i}", p, w, window_s) for i, (f, (p, w)) in enumerate(zip(devs, caps))]
        check(sum(served) > 0 and cloud.stats()["served"] > 0, "devices and the cloud shared the load",
              (served, cloud.stats()["served"]))
        clusters = [g.cluster(LOAD_KEY) for g in gws]
        check(all(c["limits"] == "redis" for c in clusters), "/v1/cluster says redis",
              [c["limits"] for c in clusters])
        total = sum(d["requests"] for c in clusters for d in c["devices"]) + \
            sum(c["cloud"]["requests"] for c in clusters)
        check(total == 192, "the two gateways' counts add up to every request", total)
        # a key's window is shared too: 8 + 90 reserved through one gateway, then 14 counted (4 +
        # the fake's 10) + 98 more through the other is over its 100
        alice = {"Authorization": "Bearer sk-alice-123"}
        st1 = gws[0].chat(content="y" * 16, max_tokens=90, headers=alice)[0]
        st2, _, _, r = gws[1].chat(content="y" * 16, max_tokens=90, headers=alice)
        check(st1 == 200 and st2 == 429 and r.getheader("Retry-After"),
              "a key's window holds across the gateways (429 + Retry-After on the second)", (st1, st2))

        # Redis killed and restarted in the middle of a run
        time.sleep(window_s)
        for f in devs + [cloud]:
            f.reset()
        results = []
        ts = load(gws, 16, 12, results)
        time.sleep(0.7)
        redis.stop()
        down = wait_for(lambda: [metric(g, "edgelm_gateway_limits_shared") for g in gws] == [0, 0])
        time.sleep(0.5)
        redis = Redis(redis.port)
        for t in ts:
            t.join()
        check(down, "Redis gone: both gateways fall back to local limits")
        check(len(results) == 192 and all(s == 200 for s in results),
              "no request lost while Redis was away", sorted(set(results)))
        for i, (f, (p, w)) in enumerate(zip(devs, caps)):
            check_record(f, f"d{i} (Redis killed and restarted)", p, w, window_s)
        check(wait_for(lambda: all(metric(g, "edgelm_gateway_limits_shared") == 1 for g in gws)),
              "Redis back: both gateways share their limits again")
    finally:
        for g in gws:
            g.stop()
    for g in gws:
        check("unreachable" in g.err and "shared again" in g.err,
              "the gateway's log says when Redis went and came back", g.err[-600:])

    # fail-closed: while Redis is away no device admits anything
    redis.stop()
    for f in devs + [cloud]:
        f.reset()
    cfg["gateway"]["limits"]["on_redis_down"] = "closed"
    gw = Gateway(cfg)
    try:
        codes = [gw.chat(headers=LOAD_KEY)[0] for _ in range(4)]
        log = gw.log()
        check(codes == [200] * 4 and cloud.stats()["served"] == 4
              and sum(f.stats()["served"] for f in devs) == 0,
              "fail-closed without Redis: the cloud takes every request", codes)
        check(all(e["reason"] == "limits_down" for e in log), "with reason limits_down",
              [e["reason"] for e in log])
    finally:
        gw.stop()
    for f in devs + [cloud]:
        f.stop()
    finish()


main()
