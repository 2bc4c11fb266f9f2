"""What the benchmark drivers (serve.py, gateway.py) share: reading a process's memory."""


def rss_kib(pid, key):
    """A /proc/PID/status line's value in KiB (VmRSS: resident now, VmHWM: its peak); 0 if absent."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0
