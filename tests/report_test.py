"""edgelm report's pages checked as a reader and a browser see them: usage
report_test.py EMPTY.html FULL.html FILTERED.html FIXTURE_DIR TMP.

EMPTY is the report without a store, FULL the report of the fixture store (report_fixture's
results.db, sim.json, access.jsonl) and FILTERED the fixture store under a --model that matches
nothing. Each page must be well-formed XML with every figure in the contents list; EMPTY and
FILTERED say per figure what to run; FULL draws every figure, and its marks carry the fixture's
values (fixture.json); Chromium renders FULL to a non-blank PNG and both pages to PDFs of the
expected page counts."""
import json
import math
import os
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import browser  # noqa: E402
from checklib import check, summary  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"

# Every figure of issue 17, by anchor, in page order.
FIGURES = ["fig-speed", "fig-energy", "fig-memory", "fig-timeline", "fig-threads", "fig-perf",
           "fig-phases", "fig-ttft", "fig-energy-token", "fig-action", "fig-quality",
           "fig-gsm8k", "fig-quant", "fig-cost", "fig-permtok", "fig-battery", "fig-breakeven",
           "fig-routing"]
# Figures drawn from the store (the rest come from --sim / --gateway-log).
STORE_FIGURES = FIGURES[:-1]


def load(path):
    """The page as an element tree, or None (a FAIL is recorded)."""
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as e:
        check(False, f"{os.path.basename(path)} parses as XML", str(e))
        return None


def sections(root):
    return {s.get("id"): s for s in root.iter("section") if s.get("class") == "fig"}


def text(el):
    return "".join(el.itertext())


def marks(sec):
    """(series, x, value) of every data mark in the section's charts."""
    out = []
    for el in sec.iter():
        if el.get("data-value") is not None and el.tag in (SVG + "rect", SVG + "circle",
                                                          SVG + "text", SVG + "path"):
            v = el.get("data-value")
            out.append((el.get("data-series"), el.get("data-x"), float(v)))
    return out


def check_page(name, root):
    """What every page has: the figures in order, each in the contents list, SVGs with xmlns."""
    secs = sections(root)
    ids = [s.get("id") for s in root.iter("section") if s.get("class") == "fig"]
    check(all(f in secs for f in FIGURES), f"{name}: every figure has its section",
          [f for f in FIGURES if f not in secs])
    check([i for i in ids if i in FIGURES] == FIGURES, f"{name}: figures in page order", ids)
    links = {a.get("href") for a in root.iter("a")}
    check(all("#" + f in links for f in FIGURES), f"{name}: the contents list links every figure",
          [f for f in FIGURES if "#" + f not in links])
    svgs = [e for e in root.iter() if e.tag == SVG + "svg"]
    check(all(e.tag.startswith(SVG) for s in svgs for e in s.iter()),
          f"{name}: every chart element is in the SVG namespace")
    return secs


def missing_command(sec):
    """The command a figure without data names, or None."""
    for div in sec.iter("div"):
        if div.get("class") == "missing":
            codes = [text(c) for c in div.iter("code")]
            return codes[0] if codes else ""
    return None


def check_missing(name, secs, figures):
    for f in figures:
        cmd = missing_command(secs[f]) if f in secs else None
        check(cmd is not None and "edgelm " in cmd,
              f"{name}: {f} says what to run instead of an empty chart", cmd)
        check(not any(e.tag == SVG + "svg" for e in secs.get(f, ET.Element("x")).iter()),
              f"{name}: {f} draws no empty chart")


def close(a, b, rel=1e-4):
    return a == b or (math.isfinite(a) and math.isfinite(b) and
                      abs(a - b) <= rel * max(abs(a), abs(b)))


def mark(secs, fig, series, x, kind=None):
    """The value of the mark of (series, x) in a figure (the first one of that tag), or None."""
    for el in secs[fig].iter():
        if (el.get("data-series") == series and el.get("data-x") == x and
                el.get("data-value") is not None and (kind is None or el.tag == SVG + kind)):
            return float(el.get("data-value"))
    return None


def best_runs(fx):
    """The in-process run with the highest generation speed per (device, "family QUANT"), as the
    per-model figures choose them (the newest among equals)."""
    best = {}
    for run in fx["runs"]:
        if run["is_target"] or run.get("gen_tps") is None:
            continue
        key = (run["device"], f'{run["family"]} {run["quant"]}')
        if key not in best or run["gen_tps"] >= best[key]["gen_tps"]:
            best[key] = run
    return best


def check_values(secs, fx, sim):
    """The fixture's numbers in the full report's marks."""
    for f in FIGURES:
        check(missing_command(secs[f]) is None, f"full: {f} is drawn from the fixture")
    best = best_runs(fx)
    bad = [(k, r["gen_tps"], mark(secs, "fig-speed", k[0], k[1], "rect"))
           for k, r in best.items() if not close(mark(secs, "fig-speed", k[0], k[1], "rect") or
                                                 math.nan, r["gen_tps"])]
    check(not bad and best, f"full: fig-speed: the {len(best)} generation bars are the fastest "
          "run's gen_tps per (device, model)", bad[:3])
    bad = [k for k, r in best.items()
           if not close(mark(secs, "fig-speed", k[0] + " TTFT", k[1], "circle") or math.nan,
                        r["ttft_ms"] / 1000)]
    check(not bad, "full: fig-speed: the TTFT points are those runs' ttft_ms in seconds", bad[:3])
    bad = [k for k, r in best.items() if r.get("wh_per_query") is not None and
           not close(mark(secs, "fig-energy", k[0], k[1], "rect") or math.nan, r["wh_per_query"])]
    check(not bad, "full: fig-energy: the bars are those runs' Wh per query", bad[:3])
    oom = [r for r in fx["runs"] if r.get("oom")]
    notes = [el for el in secs["fig-speed"].iter() if el.get("data-value") == "nan" and
             "OOM" in text(el)]
    check(oom and len(notes) >= len(oom), "full: fig-speed marks the out-of-memory run OOM",
          len(notes))
    newest = {}
    for e in fx["evals"]:
        newest[(e["kind"], e["quant"], e["family"])] = e
    for kind, fig in (("ppl", "fig-quality"), ("gsm8k", "fig-gsm8k")):
        es = [e for (k, _, _), e in newest.items() if k == kind]
        bad = [(e["family"], e["quant"]) for e in es
               if not close(mark(secs, fig, e["quant"], e["family"], "rect") or math.nan,
                            e["value"])]
        check(es and not bad, f"full: {fig}: the {len(es)} bars are the {kind} results", bad)
    for sc in sim["scenarios"]:
        label = f'sim.json: {sc["workload"]}+{sc["strategy"]}'
        for series, key in (("processed on a device", "processed"),
                            ("redirected to the cloud", "redirected"), ("rejected", "rejected")):
            v = mark(secs, "fig-routing", series, label, "rect")
            check(close(v if v is not None else math.nan, sc["summary"][key]["mean"]),
                  f"full: fig-routing: {label} {key} is the simulation's mean", v)
    acc = fx["access"]
    for series, key in (("processed on a device", "processed"),
                        ("redirected to the cloud", "redirected"), ("rejected", "rejected")):
        v = mark(secs, "fig-routing", series, "access.jsonl (load-aware)", "rect")
        check(v == acc[key], f"full: fig-routing: the gateway log's {key} count", v)
    for f in FIGURES:
        if f in ("fig-quant", "fig-cost"):
            continue  # tables
        check(len(marks(secs[f])) > 0, f"full: {f} has marks carrying data-value")


def check_browser(tmp, empty_html, full_html, n_empty_pages):
    if not browser.chromium():
        print("SKIPPED: chromium is not installed (scripts/install-deps.sh installs it)")
        return
    png = os.path.join(tmp, "full.png")
    ok, tail = browser.screenshot(full_html, png, 1000, 2400)
    check(ok, "chromium renders the full report to a PNG", tail)
    if ok:
        share, colours = browser.ink(png)
        check(share > 0.03 and colours >= 6, "the screenshot is not blank",
              f"{share:.3f} of the pixels inked, {colours} colours")
    for name, html, lo, hi in (("empty", empty_html, n_empty_pages, n_empty_pages),
                               ("full", full_html, n_empty_pages, 3 * n_empty_pages)):
        out = os.path.join(tmp, name + ".pdf")
        ok, tail = browser.pdf(html, out)
        check(ok, f"chromium prints the {name} report to a PDF", tail)
        if ok:
            pages = browser.pdf_pages(out)
            check(lo <= pages <= hi, f"the {name} PDF has {lo}..{hi} pages (A4, a figure a page)",
                  pages)


def main():
    empty_html, full_html, filtered_html, fxdir, tmp = sys.argv[1:6]
    empty, full, filtered = load(empty_html), load(full_html), load(filtered_html)
    fx = json.load(open(os.path.join(fxdir, "fixture.json")))
    sim = json.load(open(os.path.join(fxdir, "sim.json")))
    if empty is not None:
        secs = check_page("empty", empty)
        check_missing("empty", secs, FIGURES)
    if filtered is not None:
        secs = check_page("filtered", filtered)
        check_missing("filtered", secs, STORE_FIGURES)
    if full is not None:
        secs = check_page("full", full)
        title = full.find("head/title")
        check(title is not None and title.text == "Fixture <&> report",
              "the title is escaped, not markup", None if title is None else title.text)
        check_values(secs, fx, sim)
    check_browser(tmp, empty_html, full_html, 1 + len(FIGURES))
    summary()


main()
