#!/usr/bin/env python3
"""`edgelm gateway` end to end over fake devices (tests/fake_openai.c), each fake's own record of
requests being the ground truth: routing and relaying, the model rewritten per device, usage
reconciled where served, limits never exceeded under 64 concurrent clients, every fault (500,
429, refused, hung, died mid-stream) retried or redirected exactly as configured, the breaker
opening and closing, 429 + Retry-After without a cloud, client keys, the access log and the
metrics. Started by tests/cli_gateway.sh:
    gateway_test.py EDGELM FAKE_OPENAI
Prints ok:/FAIL: lines and "N passed, N failed"; exits 1 on a failure."""
import http.client
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checklib import check  # noqa: E402
from gwlib import (Fake, Gateway, TMP, check_record, cluster, events_of, finish, init,  # noqa: E402
                   request)

init(sys.argv[1], sys.argv[2])


def test_relay():
    d1, cloud = Fake("--tokens", "6", "--delay-ms", "12"), Fake("--tokens", "6")
    gw = Gateway(cluster([("d1", d1, 2, {"model": "small-model"})], cloud))
    try:
        st, j, _, _ = gw.chat()
        check(st == 200 and j["choices"][0]["message"]["content"].startswith("tok0"),
              "a chat request is answered by the device", j)
        check(j["usage"]["completion_tokens"] == 6, "the device's usage comes back", j)
        rec = d1.stats()["requests"]
        check(rec[-1]["model"] == "small-model", "the device gets its own model name", rec[-1])
        st, _, text, r = gw.chat(stream=True)
        ev = events_of(text)
        check(st == 200 and r.getheader("Content-Type").startswith("text/event-stream")
              and ev[-1] == "[DONE]", "a stream is relayed to [DONE]", text[:200])
        check(all(e == "[DONE]" or e["choices"] for e in ev),
              "no usage chunk the client did not ask for", ev)
        check(d1.stats()["requests"][-1]["stream"], "the device streamed it")
        st, _, text, _ = gw.chat(stream=True, stream_options={"include_usage": True})
        ev = events_of(text)
        check(ev[-2]["choices"] == [] and ev[-2]["usage"]["completion_tokens"] == 6,
              "include_usage: the usage chunk passes", ev[-2:])
        st, j, _, _ = request(gw.port, "POST", "/v1/completions",
                              {"prompt": "Once upon", "max_tokens": 3})
        check(st == 200 and j["object"] == "text_completion", "completions are relayed", j)
        st, j, _, _ = request(gw.port, "GET", "/v1/models")
        check(st == 200 and j["data"][0]["id"] == "edge", "GET /v1/models names the gateway's model", j)
        st, j, _, _ = gw.chat(model="gpt-5")
        check(st == 404 and j["error"]["code"] == "model_not_found", "an unknown model: 404", j)
        st, j, _, _ = request(gw.port, "POST", "/v1/chat/completions", {"messages": []})
        check(st == 400 and "messages" in j["error"]["message"], "a bad body: 400 naming the field", j)
        st, j, _, _ = request(gw.port, "GET", "/health")
        check(st == 200 and j["status"] == "ok" and j["devices_healthy"] == 1, "GET /health", j)
        c = gw.cluster()
        dev = c["devices"][0]
        check(dev["requests"] == 4 and dev["tokens_out"] == 6 * 3 + 3 and dev["in_flight"] == 0,
              "/v1/cluster counts the device's requests and tokens", dev)
        check(dev["speed_learned"] and 60 < dev["tokens_per_s"] < 90, "the device's speed is learned (a token per 12 ms)", dev)
        check(c["cloud"]["requests"] == 0 and cloud.stats()["served"] == 0,
              "the cloud was not used", c["cloud"])
        st, _, text, _ = request(gw.port, "GET", "/metrics")
        for fam in ("edgelm_gateway_requests_total{device=\"d1\",outcome=\"served\"} 4",
                    "edgelm_gateway_tokens_total{device=\"d1\",direction=\"out\"} 21",
                    "edgelm_gateway_in_flight{device=\"d1\"} 0",
                    "edgelm_gateway_breaker_state{device=\"d1\"} 0",
                    "edgelm_gateway_ttft_seconds_count{device=\"d1\"} 4",
                    "edgelm_gateway_added_latency_seconds_count 4"):
            check(fam in text, f"/metrics has {fam}", text[:300])
        log = gw.log()
        check(len(log) == 6 and [e["outcome"] for e in log[:4]] == ["served"] * 4,
              "one access-log line per request, with its outcome", log)
        check(log[0]["device"] == "d1" and log[0]["completion_tokens"] == 6
              and log[0]["attempts"] == 1 and log[0]["estimated"] is True,
              "the log line names device, tokens, attempts and the estimate", log[0])
    finally:
        gw.stop()
        d1.stop()
        cloud.stop()


def test_limits():
    """64 concurrent clients over two slow devices with small windows: each device's own record
    never shows more in flight than its max_parallel nor more tokens in any window than its
    window_tokens; the rest goes to the cloud; every request has one outcome."""
    window_s = 4
    devs = [Fake("--tokens", "10", "--tokens-per-s", "100"), Fake("--tokens", "10", "--tokens-per-s", "50")]
    cloud = Fake("--tokens", "10")
    caps = [(2, 120), (1, 60)]
    cfg = cluster([(f"d{i}", f, p, {"window_tokens": w}) for i, (f, (p, w)) in enumerate(zip(devs, caps))],
                  cloud, window_s=window_s)
    gw = Gateway(cfg)
    results = []
    lock = threading.Lock()

    def client(i):
        for k in range(3):
            st, j, text, _ = gw.chat(content="x" * 16, stream=(i + k) % 2 == 0, max_tokens=10)
            with lock:
                results.append(st)

    try:
        ts = [threading.Thread(target=client, args=(i,)) for i in range(64)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        check(len(results) == 192 and all(s == 200 for s in results),
              "192 requests from 64 concurrent clients: all 200", sorted(set(results)))
        for (par, wtok), f, name in zip(caps, devs, ("d0", "d1")):
            check_record(f, name, par, wtok, window_s)
        c = gw.cluster()
        served = sum(d["requests"] for d in c["devices"])
        check(served > 0 and c["cloud"]["requests"] > 0 and served + c["cloud"]["requests"] == 192,
              "devices and cloud together served every request", c)
        log = gw.log()
        outs = {}
        for e in log:
            outs[e["outcome"]] = outs.get(e["outcome"], 0) + 1
        check(len(log) == 192 and outs.get("served", 0) == served
              and outs.get("redirected", 0) == c["cloud"]["requests"],
              "one outcome per request in the log, matching the counts", outs)
        check(c["cloud"]["requests"] == cloud.stats()["served"],
              "the cloud's own record agrees", (c["cloud"], cloud.stats()["served"]))
        tokens = sum(e["prompt_tokens"] + e["completion_tokens"] for e in log if e["outcome"] == "redirected")
        check(abs(c["cloud"]["cost_usd"] - sum(e["cost_usd"] for e in log)) < 1e-9 and tokens > 0,
              "cloud cost adds up over the log", c["cloud"])
    finally:
        gw.stop()
        for f in devs + [cloud]:
            f.stop()


def test_faults():
    good = Fake("--tokens", "4")
    cloud = Fake("--tokens", "4")
    bad = Fake("--tokens", "4", "--mode", "500", "--slow-ms", "500")
    # load-aware picks the largest free share of a window: the bad device, charged nothing, keeps
    # all of its share, so it is always tried first
    cfg = cluster([("bad", bad, 8, {"window_tokens": 100000}), ("good", good, 1, {"window_tokens": 300})],
                  cloud, breaker={"failures": 100, "cooldown_s": 1})
    gw = Gateway(cfg)
    try:
        for mode, what in (("500", "a 500"), ("429", "a 429"), ("hang", "no first byte")):
            bad.mode(mode)
            bad.reset()
            good.reset()
            st, j, _, _ = gw.chat()
            check(st == 200 and good.stats()["served"] == 1,
                  f"{what} from the first device: the next device serves", (st, j))
            log = gw.log()[-1]
            check(log["attempts"] == 2 and log["device"] == "good" and log["outcome"] == "served",
                  f"{what}: two attempts, charged to the device that served", log)
        c = gw.cluster()
        bad_dev = next(d for d in c["devices"] if d["name"] == "bad")
        check(bad_dev["tokens_out"] == 0 and bad_dev["failures"] == 3 and bad_dev["in_flight"] == 0,
              "the failed device is charged nothing", bad_dev)
        bad.mode("die")
        st, _, text, _ = gw.chat(stream=True)
        ev = events_of(text)
        check(st == 200 and ev and isinstance(ev[-1], dict) and "error" in ev[-1]
              and ev[-1]["error"]["code"] == "upstream_failed",
              "death mid-stream: the stream ends with an OpenAI error event", text[-300:])
        check(gw.log()[-1]["outcome"] == "failed" and gw.log()[-1]["completion_tokens"] == 2,
              "death mid-stream: outcome failed, with the tokens delivered", gw.log()[-1])
        # a stream that goes silent in the middle: the idle timeout (2 s here) ends it
        bad.mode("slow")  # a chunk every 500 ms: within the idle timeout, so it is served
        st, _, text, _ = gw.chat(stream=True, max_tokens=3)
        check(st == 200 and events_of(text)[-1] == "[DONE]", "a slow stream within idle_s is served")
    finally:
        gw.stop()
    # retries = 0: the first failure goes straight to the cloud
    bad.mode("500")
    good.reset()
    gw = Gateway(cluster([("bad", bad, 8, {"window_tokens": 100000}), ("good", good, 1, {"window_tokens": 300})],
                         cloud, retries=0, breaker={"failures": 100, "cooldown_s": 1}))
    try:
        cloud.reset()
        st, j, _, _ = gw.chat()
        check(st == 200 and cloud.stats()["served"] == 1 and good.stats()["served"] == 0,
              "retries 0: no other device is tried, the cloud serves", (good.stats()["served"], j))
        log = gw.log()[-1]
        check(log["attempts"] == 2 and log["outcome"] == "redirected" and log["reason"] == "failed",
              "retries 0: redirected with reason failed", log)
        check(log["cost_usd"] > 0, "the cloud's tokens are priced", log)
    finally:
        gw.stop()
    # a device that refuses connections, and the breaker
    bad.mode("refuse")
    gw = Gateway(cluster([("bad", bad, 8, {"window_tokens": 100000}), ("good", good, 4, {"window_tokens": 100000})],
                         None, retries=1, breaker={"failures": 2, "cooldown_s": 1}))
    try:
        st1 = gw.chat()[0]
        st2 = gw.chat()[0]
        c = gw.cluster()
        bad_dev = next(d for d in c["devices"] if d["name"] == "bad")
        check(st1 == 200 and st2 == 200, "connection refused: the next device serves", (st1, st2))
        check(bad_dev["breaker"] == "open" and not bad_dev["healthy"],
              "two failures open the breaker", bad_dev)
        bad.stop()
        bad.args = ["--tokens", "4"]
        bad.start(port=bad.port)  # back, answering
        good.reset()
        st = gw.chat()[0]
        check(st == 200 and good.stats()["served"] == 1, "an open breaker keeps requests away")
        time.sleep(1.6)
        bad_dev = next(d for d in gw.cluster()["devices"] if d["name"] == "bad")
        check(bad_dev["breaker"] == "closed", "after the cool-down a good probe closes it", bad_dev)
    finally:
        gw.stop()
    for f in (bad, good, cloud):
        f.stop()


def test_idle():
    """A device that stops sending in the middle of a stream: the idle timeout ends the client's
    stream with the error event; nothing hangs."""
    d = Fake("--tokens", "6", "--mode", "slow", "--slow-ms", "2500")
    gw = Gateway(cluster([("d", d, 2, {})], None, timeouts={"connect_s": 1, "first_byte_s": 5,
                                                            "idle_s": 1, "total_s": 30}))
    try:
        t0 = time.monotonic()
        st, _, text, _ = gw.chat(stream=True)
        took = time.monotonic() - t0
        ev = events_of(text)
        check(st == 200 and isinstance(ev[-1], dict) and "error" in ev[-1]
              and "nothing for 1 s" in ev[-1]["error"]["message"],
              "silent mid-stream: the idle timeout ends the stream with the error event", text[-300:])
        check(took < 5, "and it does not hang", took)
    finally:
        gw.stop()
        d.stop()


def test_no_cloud():
    d = Fake("--tokens", "5", "--tokens-per-s", "20")
    gw = Gateway(cluster([("d", d, 1, {"window_tokens": 60})], None, window_s=3))
    try:
        res = []
        ts = [threading.Thread(target=lambda: res.append(gw.chat(max_tokens=5))) for _ in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        codes = sorted(r[0] for r in res)
        check(codes.count(200) >= 1 and 429 in codes, "no cloud: the overflow gets 429", codes)
        r429 = next(r for r in res if r[0] == 429)
        ra = r429[3].getheader("Retry-After")
        check(ra is not None and 1 <= int(ra) <= 3 and r429[1]["error"]["type"] == "rate_limit_error",
              "429 carries Retry-After within the window and OpenAI's error", (ra, r429[1]))
        check(d.stats()["max_in_flight"] <= 1, "the device never ran two at once")
        st, j, _, _ = gw.chat(max_tokens=500)
        check(st == 400 and j["error"]["code"] == "request_too_large",
              "a request larger than any window: 400 saying so", j)
    finally:
        gw.stop()
        d.stop()


def test_keys_and_cancel():
    d = Fake("--tokens", "40", "--tokens-per-s", "40")
    keys = os.path.join(TMP, "keys.json")
    with open(keys, "w") as f:
        json.dump({"keys": [{"name": "alice", "key": "sk-alice-123", "window_tokens": 100},
                            {"name": "bob", "key": "sk-bob-4567"}]}, f)
    gw = Gateway(cluster([("d", d, 8, {})], None, keys_file=keys))
    try:
        st, j, _, r = gw.chat()
        check(st == 401 and r.getheader("WWW-Authenticate") == "Bearer", "no key: 401", j)
        st, _, _, _ = gw.chat(headers={"Authorization": "Bearer sk-wrong-000"})
        check(st == 401, "a wrong key: 401")
        alice = {"Authorization": "Bearer sk-alice-123"}
        # 7 prompt tokens estimated + 60 reserved; 3 + 40 counted after; then 43 + 67 > 100
        st, j, _, _ = gw.chat(headers=alice, max_tokens=60)
        check(st == 200, "a good key: served", j)
        st, j, _, r = gw.chat(headers=alice, max_tokens=60)
        check(st == 429 and r.getheader("Retry-After"), "over the key's own window: 429 + Retry-After", j)
        st, _, _, _ = gw.chat(headers={"Authorization": "Bearer sk-bob-4567"}, max_tokens=100)
        check(st == 200, "another key is not limited by it")
        check(gw.log()[-2]["key"] == "alice" and "sk-alice" not in open(gw.log_path).read(),
              "the log names the key, never shows it")
        # a client that goes away mid-stream: the device's request is cut too
        d.reset()
        c = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
        c.request("POST", "/v1/chat/completions",
                  json.dumps({"messages": [{"role": "user", "content": "hi"}], "stream": True,
                              "max_tokens": 40}),
                  {"Content-Type": "application/json", **alice})
        resp = c.getresponse()
        resp.read1(100)
        c.close()
        time.sleep(0.5)
        rec = d.stats()["requests"]
        check(rec and rec[-1]["outcome"] == "client_gone" and rec[-1]["completion_tokens"] < 40,
              "the client left: the device's stream is cut", rec[-1:])
        check(gw.log()[-1]["outcome"] == "cancelled", "outcome cancelled", gw.log()[-1])
    finally:
        gw.stop()
        d.stop()


def main():
    for t in (test_relay, test_limits, test_faults, test_idle, test_no_cloud, test_keys_and_cancel):
        try:
            t()
        except Exception as e:  # a crash in one part must not hide the others
            check(False, f"{t.__name__} ran", f"{type(e).__name__}: {e}")
    finish()


main()
