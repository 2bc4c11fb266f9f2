"""The python tests' checks: check() prints an ok:/FAIL: line and counts it; summary() prints
"N passed, N failed" and exits 1 when a check failed; request() is one HTTP exchange on
loopback."""
import http.client
import json
import signal
import subprocess
import sys

passed = failed = 0


def check(ok, what, detail=None):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok: {what}")
    else:
        failed += 1
        print(f"FAIL: {what}" + ("" if detail is None else f": {detail!r}"))


def summary():
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def request(port, method, path, body=None, headers=None, timeout=60, raw=None):
    """method path on 127.0.0.1:port with body as JSON (or raw text): (status, the body as JSON or
    None, the body's text, the response)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    text = r.read().decode("utf-8", "replace")
    c.close()
    try:
        j = json.loads(text)
    except ValueError:
        j = None
    return r.status, j, text, r


def terminate(p, timeout=30):
    """SIGTERM the server process p and wait for it (killed after timeout s): (exit status or
    "killed", its stderr)."""
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        rc = "killed"
    return rc, p.stderr.read()
