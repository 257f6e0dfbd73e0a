"""CPU time of the processes a benchmark drives, from /proc: a figure load does not distort
(wall time on a machine shared with other work does)."""

from __future__ import annotations

import os
from pathlib import Path


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def pids_named(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def backends_of(database: str) -> list[int]:
    """PostgreSQL backends serving ``database`` ("postgres: [15/main:] user db host state")."""
    found = []
    for pid in pids_named("postgres"):
        try:
            words = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").split()
        except OSError:
            continue
        if database.encode() in words[1:5]:
            found.append(pid)
    return found


def idle_floor(cpu: dict[str, float], ideal: float, processes: int) -> float:
    """Seconds a push could not beat on an idle machine of this size, from the CPU it used
    (an estimate: it assumes perfect overlap of waiting and computing)."""
    cores = os.cpu_count() or 1
    return max(
        ideal,
        cpu["octosim"],  # one asyncio process: one core at most
        cpu["workers"] / min(processes, cores),
        (cpu["workers"] + cpu["octosim"] + cpu["postgres"]) / cores,
    )
