"""What the benchmarks measure processes with: resident memory from /proc (Linux)."""

from __future__ import annotations

from pathlib import Path


def rss_mb(pid: int | str = "self", field: str = "VmRSS") -> float:
    """A process's current resident memory (VmRSS) or its peak (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0
