#!/usr/bin/env python3
"""`make bench-gateway`: what `edgelm gateway` itself costs under load, in one run (not a test).

    gateway.py EDGELM FAKE_OPENAI GWLOAD [--rates 200,500,1000] [--duration 10] [--slices 5]
               [--warmup 0.5] [--streams 1000] [--stream-s 30] [--perf] [--smoke]

A fast fake upstream (tests/fake_openai.c, one-token answers over keep-alive HTTP/1.1) is loaded
open-loop by benchmarks/gwload.c at each rate, directly and through a one-device gateway (and
through nginx as a plain reverse proxy where nginx is installed), the paths taking turns in
--slices slices of the --duration each, so that a burst of other work on the machine falls on
all of them alike; each path's samples are merged, and the gateway's added latency is the
difference of the two paths' percentiles at the same rate in the same run. The gateway's CPU time
per request comes from /proc/PID/stat over its slices. Then
--streams slow streams (a token a second for --stream-s seconds) are held through a second gateway
at once: how many got their first token and finished, and that gateway's peak RSS (VmHWM) against
its RSS before, per stream. --perf samples the gateway with `perf record -e cpu-clock` during the
highest rate and prints its hottest functions. --smoke checks the plumbing in seconds."""
import argparse
import json
import os
import re
import resource
import signal
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from benchlib import rss_kib

CHAT = "/v1/chat/completions"


def raise_nofile():
    """The fakes, the gateways and the load generator inherit it: two sockets per stream."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def start_fake(fake, *args):
    p = subprocess.Popen([fake, "--lifetime", "86400", *args], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    return p, int(p.stdout.readline())


def start_gateway(elm, tmp, name, fake_port):
    """A gateway over one device, with limits so large that nothing is ever held back."""
    cfg = {"window_s": 60, "strategy": "round-robin", "cloud": {"enabled": False},
           "gateway": {"timeouts": {"connect_s": 5, "first_byte_s": 60, "idle_s": 60,
                                    "total_s": 600},
                       "health": {"interval_s": 0}, "retries": 0},
           "devices": [{"name": "fake", "tokens_per_s": 1000, "max_parallel": 4096,
                        "window_tokens": 10 ** 15, "max_requests": 65536,
                        "url": f"http://127.0.0.1:{fake_port}/v1"}]}
    path = os.path.join(tmp, name + ".json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    # its request log goes to a file: a pipe could fill, and a failure shows its last lines
    p = subprocess.Popen([elm, "gateway", "--config", path, "--port", "0"],
                         stdout=subprocess.PIPE, stderr=open(path + ".err", "w"), text=True)
    p.err_path = path + ".err"
    line = p.stdout.readline()
    m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
    if not m:
        p.wait()
        sys.exit(f"the gateway did not start: {line!r} {tail(p.err_path)}")
    return p, int(m.group(1))


def tail(path, n=2000):
    with open(path, errors="replace") as f:
        return f.read()[-n:]


def alive(p, what):
    if p.poll() is not None:
        sys.exit(f"{what} exited with {p.returncode}: {tail(p.err_path)}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_nginx(tmp, fake_port):
    """nginx as a plain keep-alive reverse proxy to the fake, one worker; None when absent."""
    nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)),
                                          None)
    if not nginx:
        return None, None
    port = free_port()
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/nginx-body;
  proxy_temp_path {tmp}/nginx-proxy;
  fastcgi_temp_path {tmp}/nginx-fastcgi;
  uwsgi_temp_path {tmp}/nginx-uwsgi;
  scgi_temp_path {tmp}/nginx-scgi;
  upstream fake {{ server 127.0.0.1:{fake_port}; keepalive 256; }}
  server {{
    listen 127.0.0.1:{port};
    keepalive_requests 1000000;
    location / {{
      proxy_pass http://fake;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }}
  }}
}}
""")
    p = subprocess.Popen([nginx, "-p", tmp, "-c", conf], stdout=subprocess.DEVNULL,
                         stderr=open(conf + ".err", "w"))
    p.err_path = conf + ".err"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return p, port
        except OSError:
            if p.poll() is not None:
                sys.exit(f"nginx did not start: {tail(p.err_path)}")
            time.sleep(0.05)
    sys.exit("nginx did not start listening")


def gwload(tool, port, *args):
    out = subprocess.run([tool, "--url", f"http://127.0.0.1:{port}{CHAT}", *map(str, args)],
                         capture_output=True, text=True)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if not lines:
        sys.exit(f"gwload failed ({out.returncode}): {out.stderr}")
    return json.loads(lines[-1])


def cpu_s(pid):
    """The process's user + system CPU time so far, seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(v, p):
    """Nearest-rank percentile p of the sorted list v (gwload's definition)."""
    return v[max(0, -(-len(v) * p // 100) - 1)] if v else 0.0


def measure(a, tmp, rate, paths, gw):
    """Every path at one rate, in turns: {path: {"p50", "p99", "achieved", "errors"}} and the
    gateway's CPU ms per request (its warm-up requests included)."""
    lat = {n: [] for n, _ in paths}
    ok = {n: 0 for n, _ in paths}
    err = {n: 0 for n, _ in paths}
    busy_s = {n: 0.0 for n, _ in paths}
    cpu = 0.0
    f = os.path.join(tmp, "samples.txt")
    for _ in range(a.slices):
        for name, port in paths:
            alive(gw, "the gateway")
            c0 = cpu_s(gw.pid)
            r = gwload(a.gwload, port, "--rate", rate, "--duration", a.duration / a.slices,
                       "--warmup", a.warmup, "--samples", f)
            if name == "gateway":
                cpu += cpu_s(gw.pid) - c0
            with open(f) as fh:
                lat[name] += [float(x) for x in fh]
            ok[name] += r["ok"]
            err[name] += r["errors"]
            busy_s[name] += r["ok"] / r["achieved_rps"] if r["achieved_rps"] else 0
    out = {}
    for name, v in lat.items():
        v.sort()
        out[name] = {"p50": pct(v, 50), "p99": pct(v, 99), "errors": err[name],
                     "achieved": ok[name] / busy_s[name] if busy_s[name] else 0.0}
    return out, cpu * 1e3 / (rate * (a.duration + a.slices * a.warmup))


def perf_start(pid, tmp):
    if not shutil.which("perf"):
        return None
    data = os.path.join(tmp, "perf.data")
    return data, subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-p", str(pid), "-o",
                                   data], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def perf_report(rec, top=15):
    """Stops perf record and returns its hottest functions by self time."""
    if not rec:
        return "perf: not installed"
    data, p = rec
    p.send_signal(signal.SIGINT)
    p.wait()

    def report(sort):
        out = subprocess.run(["perf", "report", "-i", data, "--stdio", "--sort", sort,
                              "--percent-limit", "1"], capture_output=True, text=True)
        return [re.sub(r"(\s+-)+$", "", line.rstrip()) for line in out.stdout.splitlines()
                if re.match(r"\s+\d+\.\d+%", line)]

    rows = report("dso,symbol")
    if not rows:
        return "perf report gave nothing (perf_event_paranoid?)"
    objs = "; ".join(" ".join(line.split()) for line in report("dso"))
    return "by object: " + objs + "\n" + "\n".join(rows[:top])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("elm")
    ap.add_argument("fake")
    ap.add_argument("gwload")
    ap.add_argument("--rates", default="200,500,1000")
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--slices", type=int, default=5)
    ap.add_argument("--warmup", type=float, default=0.5)
    ap.add_argument("--streams", type=int, default=1000)
    ap.add_argument("--stream-s", type=int, default=30)
    ap.add_argument("--perf", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="short durations: checks the plumbing")
    a = ap.parse_args()
    if a.smoke:
        a.rates, a.duration, a.slices, a.warmup = "50,100", 1, 2, 0.2
        a.streams, a.stream_s = 20, 2
    rates = [float(r) for r in a.rates.split(",")]
    raise_nofile()
    tmp = tempfile.mkdtemp(prefix="elm-bench-")
    procs = []
    try:
        fake, fport = start_fake(a.fake, "--tokens", "1")
        procs.append(fake)
        gw, gport = start_gateway(a.elm, tmp, "fast", fport)
        procs.append(gw)
        ngx, nport = start_nginx(tmp, fport)
        if ngx:
            procs.append(ngx)
        paths = [("direct", fport), ("gateway", gport)] + ([("nginx", nport)] if ngx else [])
        rows, prof = [], None
        for rate in rates:
            rec = perf_start(gw.pid, tmp) if a.perf and rate == max(rates) else None
            rows.append((rate, *measure(a, tmp, rate, paths, gw)))
            if a.perf and rate == max(rates):
                prof = perf_report(rec)
        procs.remove(gw)
        gw.terminate()
        gw.wait()

        slow, sport = start_fake(a.fake, "--tokens", str(a.stream_s), "--tokens-per-s", "1")
        procs.append(slow)
        sgw, sgport = start_gateway(a.elm, tmp, "streams", sport)
        procs.append(sgw)
        rss0 = rss_kib(sgw.pid, "VmRSS")
        st = gwload(a.gwload, sgport, "--streams", a.streams, "--ramp", min(5, a.stream_s / 4),
                    "--timeout", a.stream_s + 60)
        hwm = rss_kib(sgw.pid, "VmHWM")
        alive(sgw, "the streams' gateway")
    finally:
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    def ms(x):
        return f"{x:.3f}"

    print(f"edgelm gateway, one device: tests/fake_openai.c (--tokens 1, non-streaming chat), "
          f"open loop, {a.duration:g} s per rate and path in {a.slices} turns (each after "
          f"{a.warmup:g} s of warm-up); latency in ms from each request's scheduled send time; "
          f"added = gateway - direct at the same rate")
    print("| rate req/s | achieved direct / gateway | direct p50 | direct p99 | gateway p50 | "
          "gateway p99 | added p50 | added p99 | gateway CPU per request | errors |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for rate, r, cpu in rows:
        d, g = r["direct"], r["gateway"]
        print(f"| {rate:g} | {d['achieved']:.0f} / {g['achieved']:.0f} | {ms(d['p50'])} | "
              f"{ms(d['p99'])} | {ms(g['p50'])} | {ms(g['p99'])} | {ms(g['p50'] - d['p50'])} | "
              f"{ms(g['p99'] - d['p99'])} | {cpu * 1e3:.0f} µs | "
              f"{d['errors']} / {g['errors']} |")
    print()
    slow_direct = rows[0][1]["direct"]["p50"]
    if slow_direct >= 10:
        # two small sends per reply without TCP_NODELAY: Nagle holds the second until the
        # client's delayed ACK, so both paths carry a ~40 ms stall that hides the gateway's cost
        print(f"WARNING: the upstream alone takes {slow_direct:.1f} ms (p50) at {rows[0][0]:g} "
              f"req/s, so it is not a fast upstream: a fake that writes a reply's head and body in "
              f"two sends without TCP_NODELAY waits for the client's delayed ACK (~40 ms).")
    ncpu = os.cpu_count()
    print(f"The fake upstream, the load generator (benchmarks/gwload.c) and the gateway share this "
          f"machine's {ncpu} CPU{'s' if ncpu != 1 else ''}: the added latency includes their "
          f"contention, so it is an upper bound on the gateway's own cost.")
    if ngx:
        print("nginx (one worker, keep-alive upstream), added over direct: " + "; ".join(
            f"{rate:g} req/s p50 {ms(r['nginx']['p50'] - r['direct']['p50'])} p99 "
            f"{ms(r['nginx']['p99'] - r['direct']['p99'])} ms ({r['nginx']['errors']} errors)"
            for rate, r, _ in rows))
    else:
        print("nginx: not installed")
    print(f"{a.streams} concurrent streams (a token a second for {a.stream_s} s) through the "
          f"gateway: {st['first_token']} got their first token, {st['finished']} finished, "
          f"{st['errors']} errors; TTFT p50 {st['ttft_ms']['p50']:.0f} ms p99 "
          f"{st['ttft_ms']['p99']:.0f} ms; gateway RSS {rss0 / 1024:.1f} MiB before, peak "
          f"{hwm / 1024:.1f} MiB, {(hwm - rss0) / max(1, a.streams):.1f} KiB per stream")
    if a.perf:
        print(f"\nperf record -e cpu-clock of the gateway at {max(rates):g} req/s "
              f"(self time by function, >= 1 %):\n{prof}")
    rate, top, _ = rows[-1]
    added = top["gateway"]["p99"] - top["direct"]["p99"]
    verdict = ("not judged: the upstream is not fast (above)" if slow_direct >= 10 else
               "met" if added <= 1.0 else "missed")
    print(f"\ngoal: added p99 <= 1 ms at {rate:g} req/s: {verdict} ({added:.3f} ms)")


main()
