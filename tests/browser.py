"""Headless Chromium for the report tests: render an HTML file to a PNG screenshot and a PDF, and
read back what a test asserts on them (the PNG's pixels, the PDF's page count) with the standard
library alone."""
import os
import re
import shutil
import struct
import subprocess
import zlib


def chromium():
    """The Chromium binary, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(args, out, timeout=120):
    """Run headless Chromium with args; returns (ok, its output's last lines)."""
    binary = chromium()
    cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-dev-shm-usage", "--user-data-dir=" + os.path.dirname(out) + "/chromium-profile"]
    p = subprocess.run(cmd + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout, text=True)
    tail = "\n".join(p.stdout.splitlines()[-5:])
    return p.returncode == 0 and os.path.exists(out) and os.path.getsize(out) > 0, tail


def screenshot(html, png, width=1000, height=3000):
    return _run([f"--screenshot={png}", f"--window-size={width},{height}",
                 "--hide-scrollbars", "file://" + os.path.abspath(html)], png)


def pdf(html, out):
    return _run([f"--print-to-pdf={out}", "--no-pdf-header-footer",
                 "file://" + os.path.abspath(html)], out)


def pdf_pages(path):
    """Pages of a PDF: the /Count of its page tree root, else the /Type /Page objects."""
    data = open(path, "rb").read()
    counts = [int(m) for m in re.findall(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)", data)]
    counts += [int(m) for m in re.findall(rb"/Count\s+(\d+)[^>]*?/Type\s*/Pages\b", data)]
    if counts:
        return max(counts)
    return len(re.findall(rb"/Type\s*/Page\b(?!s)", data))


def png_pixels(path):
    """(width, height, rows): an 8-bit RGB or RGBA PNG's rows of (r, g, b) tuples."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG")
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", body[:10])
            if depth != 8 or ctype not in (2, 6) or body[12] != 0:
                raise ValueError(f"{path}: only 8-bit non-interlaced RGB(A) is read here")
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(width)])
        prev = line
    return width, height, rows


def ink(path, step=4):
    """(share of sampled pixels that are not near-white, distinct colours among them) of a PNG."""
    _, _, rows = png_pixels(path)
    total = dark = 0
    colours = set()
    for row in rows[::step]:
        for px in row[::step]:
            total += 1
            if min(px) < 235:
                dark += 1
                colours.add(px)
    return dark / max(total, 1), len(colours)
