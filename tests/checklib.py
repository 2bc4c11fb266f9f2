"""The python tests' checks: check() prints an ok:/FAIL: line and counts it; summary() prints
"N passed, N failed" and exits 1 when a check failed."""
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
