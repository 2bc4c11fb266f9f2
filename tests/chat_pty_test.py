"""edgelm chat in a pseudo-terminal, as a person uses it: libedit's prompt, a two-turn
conversation whose second turn reads only its new tokens, /stats, /clear, Ctrl-C while an answer
is written (the answer stops, the chat goes on), Ctrl-C at the prompt (the chat stays), Ctrl-D.
usage: chat_pty_test.py EDGELM MODEL FIRST_ANSWER TURN1_READ TURN2_READ"""
import os
import pty
import re
import select
import sys
import termios
import time

from checklib import check, summary

ELM, MODEL, FIRST_ANSWER = sys.argv[1], sys.argv[2], sys.argv[3]
TURN1_READ, TURN2_READ = int(sys.argv[4]), int(sys.argv[5])
PROMPT = b">>> "


class Chat:
    """One `edgelm chat` on a pty; out holds everything it wrote (\\r\\n as the terminal has it)."""

    def __init__(self, *args):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.environ["TERM"] = "xterm"
            os.execv(ELM, [ELM, "chat", "-m", MODEL, "-t", "1", "--temp", "0", *args])
        self.out = b""

    def read_until(self, pattern, timeout=120, start=0):
        """Read until pattern (bytes) appears after offset start; the offset just past it, or
        None after timeout seconds or at the end of output."""
        end = time.time() + timeout
        while True:
            at = self.out.find(pattern, start)
            if at >= 0:
                return at + len(pattern)
            left = end - time.time()
            if left <= 0:
                return None
            r, _, _ = select.select([self.fd], [], [], left)
            if not r:
                return None
            try:
                data = os.read(self.fd, 4096)
            except OSError:  # the child has gone: EIO on the pty
                return None
            if not data:
                return None
            self.out += data

    def send(self, text):
        """Type text once the line editor reads (the terminal out of canonical mode): keys typed
        before that go through the terminal's own line discipline, as typeahead does."""
        end = time.time() + 10
        while termios.tcgetattr(self.fd)[3] & termios.ICANON and time.time() < end:
            time.sleep(0.01)
        os.write(self.fd, text)

    def interrupt(self):
        """Ctrl-C now, whatever reads the terminal."""
        os.write(self.fd, b"\x03")

    def turn(self, line, timeout=120):
        """Type line and Enter; the text written before the next prompt (the echo removed)."""
        start = len(self.out)
        self.send(line.encode() + b"\r")
        at = self.read_until(PROMPT, timeout, start)
        if at is None:
            return None
        text = self.out[start:at - len(PROMPT)].decode("utf-8", "replace").replace("\r\n", "\n")
        return text.split("\n", 1)[1] if "\n" in text else ""

    def wait(self, timeout=30):
        """The exit status, or None if the process is still running after timeout s."""
        end = time.time() + timeout
        while time.time() < end:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            self.read_until(b"\0", 0.1)  # drain, so the child never blocks on a full pty
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        return None


def stats(c):
    text = c.turn("/stats") or ""
    m = re.search(r"prompt: (\d+) tokens read \((\d+) reused", text)
    g = re.search(r"answer: (\d+) tokens.*\(stop: (.*)\)$", text, re.M)
    u = re.search(r"context: (\d+) of (\d+)", text)
    return {"read": int(m[1]) if m else None, "reused": int(m[2]) if m else None,
            "answer": int(g[1]) if g else None, "stop": g[2] if g else None,
            "used": int(u[1]) if u else None, "text": text}


# ---- a conversation ----
c = Chat("-n", "24")
check(c.read_until(PROMPT) is not None, "the chat starts and shows its prompt", c.out[-300:])
check(b"/bye or Ctrl-D" in c.out, "the banner says how to quit", c.out[-300:])
a1 = c.turn("Hello there")
check(a1 is not None and a1.rstrip("\n") == FIRST_ANSWER,
      "the first answer is `edgelm run --chat`'s for the same message", (a1, FIRST_ANSWER))
s1 = stats(c)
check(s1["read"] == TURN1_READ and s1["reused"] == 0,
      f"turn 1 reads the whole templated message ({TURN1_READ} tokens)", s1)
check(s1["answer"] == 24 and s1["stop"] == "length (-n)", "turn 1 answers -n 24 tokens", s1)
a2 = c.turn("Tell me a story")
check(bool(a2 and a2.strip()), "the second turn is answered", a2)
s2 = stats(c)
# the cache holds turn 1's prompt and its answer but the last token, which turn 2 reads first
check(s2["reused"] == TURN1_READ + 23,
      f"turn 2 builds on the cached turn 1 ({TURN1_READ} + 23 tokens)", s2)
check(s2["read"] == TURN2_READ,
      f"turn 2 reads only its new tokens ({TURN2_READ}: the answer's last token, the template's "
      "closing and the new message)", s2)
check(s2["used"] == TURN1_READ + 23 + TURN2_READ + 23, "the context holds both turns", s2)
cleared = c.turn("/clear")
check(cleared is not None and "[conversation cleared]" in cleared, "/clear says so", cleared)
check(stats(c)["used"] == 0, "/clear empties the cache")
a1_again = c.turn("Hello there")
check(a1_again is not None and a1_again.rstrip("\n") == FIRST_ANSWER,
      "after /clear the same message gets the same first answer", a1_again)
# Ctrl-C at the prompt drops the line and keeps the chat; Ctrl-D on an empty line quits
start = len(c.out)
c.send(b"half a line\x03")
check(c.read_until(PROMPT, 30, start) is not None, "Ctrl-C at the prompt gives a fresh prompt",
      c.out[start:])
c.send(b"\x03")
check(c.read_until(b"Ctrl-D to quit", 30, start) is not None,
      "Ctrl-C on an empty line says how to quit", c.out[start:])
check(c.turn("/stats") is not None, "the chat goes on after Ctrl-C at the prompt")
c.send(b"\x04")
check(c.wait() == 0, "Ctrl-D quits with status 0", c.out[-200:])

# ---- Ctrl-C while the answer is written ----
def interrupt(c, line):
    """Type line, wait for its answer to be under way, Ctrl-C: whether the prompt came back."""
    start = len(c.out)
    c.send(line.encode() + b"\r")
    echo = c.read_until(b"\n", 60, start)
    # some text of the answer first (--ignore-eos: it would go on until the context is full)
    streaming = echo is not None and c.read_until(b" ", 60, echo) is not None
    check(streaming, f"the answer to {line!r} streams", c.out[start:][-300:])
    c.interrupt()
    return c.read_until(PROMPT, 60, start) is not None


c = Chat("-c", "8192", "--ignore-eos")
c.read_until(PROMPT)
check(interrupt(c, "Once upon a time"), "Ctrl-C stops the answer and gives the prompt")
s = stats(c)
check(s["stop"] == "interrupted" and s["answer"] is not None and s["answer"] < 8000,
      "the answer stopped early, as interrupted", s)
check(interrupt(c, "The end"), "the next message is answered (and stopped) too")
s_next = stats(c)
check(s_next["reused"] == s["used"] and s_next["stop"] == "interrupted",
      "it builds on the cache the interrupted answer left", (s, s_next))
c.send(b"/bye\r")
check(c.wait(60) == 0, "/bye quits with status 0", c.out[-200:])

summary()
