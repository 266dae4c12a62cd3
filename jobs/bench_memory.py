"""Memory of a process tree, for the benchmarks: a page counted once, however shared.

Resident set size (RSS) counts a page once in every process that maps it. Two cases
make RSS of a Spark job's process tree wrong: the driver JVM forks short-lived helper
processes (Hadoop's local file system runs ``chmod`` and ``ls`` that way), and each
fork reports the JVM's whole resident heap until it execs; and PySpark's Python
workers are forked from one daemon and share its pages. Proportional set size (PSS)
divides each shared page among the processes that map it, so the sum over the tree is
the memory the job holds.

PSS is costly to read, though: the kernel walks the page tables of the process, 18 ms
for a driver JVM holding 2 GB, with the JVM's memory map locked meanwhile. Sampled
every 0.2 s over the whole tree, that took 1.3-2.4 s of a 42 s spark_smote run on two
cores (alternating runs with and without sampling). So PSS is read only where pages are
shared: for a process with the same command line as its parent or one of its children,
which is what a fork that has not exec'd looks like (the JVM's helpers, the Python
daemon and its workers). Every other process shares only its libraries' file pages with
the rest of the machine, and its RSS (read from kernel counters, no page walk) counts
them in full: an upper bound of its PSS by a few tens of MB.
"""

from __future__ import annotations

import os
from pathlib import Path

# A PySpark Python worker is a fork of the daemon: ``python -m <daemon module>`` (the
# driver JVM's command line also names the module, in its Spark settings).
DAEMON_MODULES = {"pyspark.daemon", "pyspark.worker", "spark_smote._daemon"}


def _field_bytes(path: str, field: str) -> int | None:
    """The ``field:`` line of a /proc file, in bytes (None if the process has exited)."""
    try:
        with open(path) as handle:
            for line in handle:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _command(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().decode(errors="replace")
    except OSError:
        return None


def tree_memory(root: int) -> list[tuple[int, int, str]]:
    """(pid, memory in bytes, command line) of ``root`` and all its descendants.

    Memory is PSS for a process sharing pages with a forked relative, else RSS (see the
    module docstring); the sum over the list is the memory the tree holds.
    """
    children: dict[int, list[int]] = {}
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
        parents[int(entry)] = parent
    tree, stack = [], [root]
    while stack:
        pid = stack.pop()
        tree.append(pid)
        stack.extend(children.get(pid, []))
    relatives = {pid: [parents.get(pid, 0), *children.get(pid, [])] for pid in tree}
    known = {*tree, *(other for others in relatives.values() for other in others)}
    commands = {pid: _command(pid) for pid in known}
    found = []
    for pid in tree:
        command = commands[pid]
        if command is None:
            continue
        forked = any(commands.get(other) == command for other in relatives[pid])
        if forked:
            size = _field_bytes(f"/proc/{pid}/smaps_rollup", "Pss:")
        else:
            size = _field_bytes(f"/proc/{pid}/status", "VmRSS:")
        if size is not None:
            found.append((pid, size, command))
    return found


def largest_python_worker(found: list[tuple[int, int, str]]) -> int:
    """Memory in bytes of the largest PySpark Python worker in ``tree_memory``'s list."""
    argvs = [(size, command.split("\0")) for _, size, command in found]
    workers = [
        size for size, argv in argvs if "python" in Path(argv[0]).name and DAEMON_MODULES & {*argv}
    ]
    return max(workers, default=0)
