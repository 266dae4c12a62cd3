"""Memory of a process tree, for the benchmarks: proportional set size (PSS) per process.

Resident set size (RSS) counts a page once in every process that maps it. Two cases
make RSS of a Spark job's process tree wrong: the driver JVM forks short-lived helper
processes (Hadoop's local file system runs ``chmod`` and ``ls`` that way), and each
fork reports the JVM's whole resident heap until it execs; and PySpark's Python
workers are forked from one daemon and share its pages. PSS divides each shared page
among the processes that map it, so the sum over the tree is the memory the job holds.
"""

from __future__ import annotations

import os


def _pss_bytes(pid: int) -> int | None:
    """PSS of one process from /proc/PID/smaps_rollup (None if it has exited)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def tree_memory(root: int) -> list[tuple[int, int, str]]:
    """(pid, PSS in bytes, command line) of ``root`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        pss = _pss_bytes(pid)
        if pss is None:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                command = handle.read().decode(errors="replace")
        except OSError:
            command = ""
        found.append((pid, pss, command))
    return found
