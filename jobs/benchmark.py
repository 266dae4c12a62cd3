"""Benchmark: spark_smote's samplers against a fair Spark floor and imbalanced-learn.

    python jobs/benchmark.py --size 2.88M --rounds 4           # SMOTE: floor, imblearn
    python jobs/benchmark.py --size 12M --skip imblearn        # presets: 0.3M 2.88M 12M 30M
    python jobs/benchmark.py --rows 200000 --minority 0.25 --features 40
    python jobs/benchmark.py --size 2.88M --sampler adasyn,borderline-1 --sampler smote-enn

On one cached input (jobs/bench_data.py: generated once per shape, in chunks) it runs
each contender in its own process, so that its wall time (process start to exit, Spark
session start included) and peak memory (summed over the whole process tree: driver JVM,
Python workers; each shared page counted once, see bench_memory.py) are its own:

- ``floor``: the cheapest Spark job that writes what an oversampler writes, a smoothed
  bootstrap (jobs/bench_floor.py); ``floor_copies``, plain copies, beside it for context;
- ``spark_smote``: the ``spark-smote`` command with its defaults and ``--seed 1``, and
  ``spark_smote[NAME]`` the same with ``--sampler NAME`` for each other ``--sampler``
  asked for (SMOTE always runs: every sampler is compared with it in the same round);
- ``imblearn`` / ``imblearn[NAME]``: imbalanced-learn's same sampler in one process
  (jobs/bench_imblearn.py), stopped with its whole process tree after
  ``--imblearn-timeout`` seconds ("did not finish in N min"), skipped when the input
  would not fit in the memory available (``--imblearn-anyway`` runs it regardless).

``--rounds N`` runs all contenders N times in turn, so each round's ratios compare runs
made minutes apart; the summary gives every run, and for each ratio the per-round values,
their median and range, for machines whose speed drifts between runs. The ratios: each
spark_smote sampler over the floor, over spark_smote's SMOTE of the same round, and over
imbalanced-learn's same sampler. The Markdown table is printed and written to
``bench/results_<shape>[_<samplers>].md``, every measurement to the ``.json`` beside it;
each run's console output goes to ``bench/logs/<shape>/``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_data import add_shape_arguments, cached_dataset, resolve_shape, shape_label
from bench_imblearn import SAMPLERS
from bench_memory import largest_python_worker, tree_memory

ROOT = Path(__file__).resolve().parent.parent
JOBS = Path(__file__).resolve().parent
SEED = 1
# Memory sampling period: often enough to catch a peak that lasts a stage, rarely
# enough that reading PSS costs little CPU (see bench_memory.py).
SAMPLE_SECONDS = 0.2
# imbalanced-learn holds about this many bytes per input value (rows x features) at its
# peak: 35 GB at 30M x 18 for SMOTE. Used only to skip it where it cannot fit.
IMBLEARN_BYTES_PER_VALUE = 65
FAMILIES = ("floor", "floor_copies", "spark_smote", "imblearn")


@dataclass
class Contender:
    name: str
    family: str  # one of FAMILIES
    sampler: str | None  # the --sampler name, for spark_smote and imblearn
    command: list[str]
    output: Path


@dataclass
class Measurement:
    round: int
    name: str
    family: str
    sampler: str | None
    status: str  # ok | failed | timeout | skipped
    seconds: float | None = None
    peak_gb: float | None = None
    worker_mb: float | None = None  # largest PySpark Python worker, at its peak
    rows_out: int | None = None
    mb_out: float | None = None
    note: str = ""
    timeout_s: float | None = None  # where a run that did not finish was stopped
    command: list[str] = field(default_factory=list)


def parse_samplers(values: list[str]) -> list[str]:
    """The ``--sampler`` values (repeated or comma-separated), deduplicated, in order."""
    names: list[str] = []
    for value in values or ["smote"]:
        for name in (n.strip() for n in value.split(",")):
            if name not in SAMPLERS:
                raise SystemExit(
                    f"benchmark: --sampler {name!r}: unknown; use one of {', '.join(SAMPLERS)}"
                )
            if name not in names:
                names.append(name)
    return names


def spark_name(sampler: str) -> str:
    return "spark_smote" if sampler == "smote" else f"spark_smote[{sampler}]"


def imblearn_name(sampler: str) -> str:
    return "imblearn" if sampler == "smote" else f"imblearn[{sampler}]"


def build_contenders(samplers: list[str], data: Path, work: Path, master: str) -> list[Contender]:
    """Every contender in running order: the floors, then each sampler's pair."""
    python = sys.executable
    floor = [python, str(JOBS / "bench_floor.py"), "--master", master, str(data)]
    contenders = [
        Contender("floor", "floor", None, [*floor, str(work / "floor")], work / "floor"),
        Contender(
            "floor_copies",
            "floor_copies",
            None,
            [*floor, str(work / "floor_copies"), "--kind", "copies"],
            work / "floor_copies",
        ),
    ]
    for sampler in ["smote", *(s for s in samplers if s != "smote")]:
        output = work / spark_name(sampler)
        command = [python, "-m", "spark_smote", "--input", str(data), "--output", str(output)]
        command += ["--label-col", "label", "--seed", str(SEED), "--master", master]
        command += ["--config", str(ROOT / "conf" / "local.toml")]
        if sampler != "smote":  # SMOTE runs as a new user runs it: no --sampler
            command += ["--sampler", sampler]
        contenders.append(Contender(spark_name(sampler), "spark_smote", sampler, command, output))
        if sampler in samplers:
            output = work / f"{imblearn_name(sampler)}.parquet"
            command = [python, str(JOBS / "bench_imblearn.py"), sampler, str(data), str(output)]
            contenders.append(
                Contender(imblearn_name(sampler), "imblearn", sampler, command, output)
            )
    return contenders


def _kill_tree(process: subprocess.Popen[bytes]) -> None:
    """Stop ``process`` and every process under it (it leads its own session)."""
    pids = [pid for pid, _, _ in tree_memory(process.pid)]
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    for pid in pids:  # any that left the process group
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait()


def _failure_note(log: Path, code: int, sampler: str | None) -> str:
    text = log.read_text(errors="replace")
    if sampler and ("unrecognized arguments: --sampler" in text or "argument --sampler" in text):
        return f"failed: this spark-smote has no `--sampler {sampler}` (exit {code})"
    tail = " / ".join(line.strip() for line in text.splitlines()[-3:])
    return f"failed (exit {code}): {tail}"


def _output_size(path: Path) -> tuple[int, float]:
    """(rows, MB) of the Parquet written at ``path``, data files only."""
    import pyarrow.dataset as ds

    files = [path] if path.is_file() else list(path.rglob("*"))
    data = [f for f in files if f.is_file() and not f.name.startswith(("_", "."))]
    rows = ds.dataset(str(path), format="parquet").count_rows()
    return rows, sum(f.stat().st_size for f in data) / 1e6


def measure(contender: Contender, number: int, log: Path, timeout: float | None) -> Measurement:
    """Run one contender to its end (or ``timeout``), sampling its tree's memory."""
    print(f"benchmark: round {number}: {contender.name}: {' '.join(contender.command)}", flush=True)
    result = Measurement(
        number, contender.name, contender.family, contender.sampler, "ok", command=contender.command
    )
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    peak = worker = 0
    started = time.monotonic()
    with open(log, "w") as out:
        process = subprocess.Popen(
            contender.command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        while process.poll() is None:
            found = tree_memory(process.pid)
            peak = max(peak, sum(size for _, size, _ in found))
            worker = max(worker, largest_python_worker(found))
            if timeout is not None and time.monotonic() - started > timeout:
                _kill_tree(process)
                result.status = "timeout"
                result.timeout_s = timeout
                result.note = f"did not finish in {_duration(timeout)} (stopped; peak until then)"
                break
            time.sleep(SAMPLE_SECONDS)
    seconds = time.monotonic() - started
    if result.status == "ok" and process.returncode != 0:
        result.status = "failed"
        result.note = _failure_note(log, process.returncode, contender.sampler)
    if result.status != "failed":  # a timed-out run's peak is what it held when stopped
        result.peak_gb = peak / 2**30
        result.worker_mb = worker / 2**20 if worker else None
    if result.status == "ok":
        result.seconds = seconds
        result.rows_out, result.mb_out = _output_size(contender.output)
    if contender.output.is_dir():
        shutil.rmtree(contender.output, ignore_errors=True)
    else:
        contender.output.unlink(missing_ok=True)
    return result


def _duration(seconds: float) -> str:
    """``30 min`` for whole minutes, else ``45 s``."""
    return f"{seconds / 60:g} min" if seconds % 60 == 0 else f"{seconds:g} s"


def _available_gb() -> float:
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    return float("inf")


def _skip_note(contender: Contender, args: argparse.Namespace, values: int) -> str | None:
    """Why ``contender`` does not run in this benchmark at all (None: it runs)."""
    if contender.name in args.skip or contender.family in args.skip:
        return "skipped (--skip)"
    if contender.family != "imblearn":
        return None
    if importlib.util.find_spec("imblearn") is None:
        return "skipped: imbalanced-learn not installed"
    needed, available = values * IMBLEARN_BYTES_PER_VALUE / 2**30, _available_gb()
    if needed > available and not args.imblearn_anyway:
        return (
            f"skipped: needs about {needed:.0f} GB, {available:.0f} GB available "
            "(--imblearn-anyway runs it)"
        )
    return None


def run_rounds(
    contenders: list[Contender], args: argparse.Namespace, label: str, values: int
) -> list[Measurement]:
    """All rounds; a contender that fails or times out is not run again."""
    skipped = {c.name: note for c in contenders if (note := _skip_note(c, args, values))}
    results: list[Measurement] = []
    for number in range(1, max(1, args.rounds) + 1):
        print(f"benchmark: round {number} of {max(1, args.rounds)}", flush=True)
        for contender in contenders:
            if contender.name in skipped:
                note = skipped[contender.name]
                results.append(
                    Measurement(
                        number,
                        contender.name,
                        contender.family,
                        contender.sampler,
                        "skipped",
                        note=note,
                        command=contender.command,
                    )
                )
                continue
            timeout = args.imblearn_timeout if contender.family == "imblearn" else None
            log = ROOT / "bench" / "logs" / label / f"r{number}_{contender.name}.log"
            result = measure(contender, number, log, timeout)
            results.append(result)
            if result.status != "ok":
                skipped[contender.name] = f"not run again: {result.status} in round {number}"
    return results


@dataclass
class Ratio:
    name: str
    per_round: list[float]
    bound: float | None = None  # upper bound when the denominator did not finish

    def line(self) -> str:
        if not self.per_round:
            assert self.bound is not None
            return (
                f"- {self.name} wall time: < {self.bound:.2f}x (the second did not finish: "
                "bound at its timeout)"
            )
        values = self.per_round
        text = f"- {self.name} wall time: **{statistics.median(values):.2f}x**"
        if len(values) > 1:
            each = ", ".join(f"{v:.2f}" for v in values)
            text += (
                f" (median of {len(values)} rounds, {min(values):.2f}-{max(values):.2f}: {each})"
            )
        return text


def ratios(results: list[Measurement], samplers: list[str]) -> list[Ratio]:
    """Per-round wall-time ratios of each spark_smote sampler to its references."""
    by_round: dict[int, dict[str, Measurement]] = {}
    for r in results:
        by_round.setdefault(r.round, {})[r.name] = r
    pairs = []
    for sampler in ["smote", *(s for s in samplers if s != "smote")]:
        mine = spark_name(sampler)
        others = ["floor", "floor_copies"] if sampler == "smote" else ["floor", "spark_smote"]
        if sampler in samplers:
            others.append(imblearn_name(sampler))
        pairs += [(mine, other) for other in others]
    found = []
    for mine, other in pairs:
        per_round, bounds = [], []
        for runs in by_round.values():
            a, b = runs.get(mine), runs.get(other)
            if a is None or b is None or a.seconds is None:
                continue
            if b.seconds:
                per_round.append(a.seconds / b.seconds)
            elif b.timeout_s:
                bounds.append(a.seconds / b.timeout_s)
        if per_round or bounds:
            found.append(Ratio(f"{mine} / {other}", per_round, max(bounds, default=None)))
    return found


def _commit() -> str:
    def git(*arguments: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(ROOT), *arguments], capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" (with uncommitted changes)" if dirty else "")


def _cell(value: float | int | None, digits: int) -> str:
    if value is None:
        return "-"
    return str(value) if isinstance(value, int) else f"{value:.{digits}f}"


def report(header: str, results: list[Measurement], found: list[Ratio]) -> str:
    lines = [
        header,
        "",
        "| round | run | wall time (s) | peak memory, process tree (GB) | largest Python "
        "worker (MB) | rows out | written (MB) | note |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r.round} | {r.name} | {_cell(r.seconds, 1)} | {_cell(r.peak_gb, 2)} | "
            f"{_cell(r.worker_mb, 0)} | {_cell(r.rows_out, 0)} | {_cell(r.mb_out, 0)} | {r.note} |"
        )
    lines += ["", *(ratio.line() for ratio in found)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_shape_arguments(parser)
    parser.add_argument(
        "--sampler",
        action="append",
        default=[],
        help=f"repeatable or comma-separated: {', '.join(SAMPLERS)} (default smote)",
    )
    parser.add_argument("--cache", default=str(ROOT / "bench" / "data"))
    parser.add_argument("--work", default=str(ROOT / "bench" / "work"))
    parser.add_argument("--master", default="local[2]")
    parser.add_argument(
        "--rounds", type=int, default=1, help="run every contender this many times, in turn"
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        help="a run to leave out: floor, floor_copies, spark_smote, imblearn (all of a "
        "family) or one run's name, e.g. imblearn[adasyn]",
    )
    parser.add_argument(
        "--imblearn-timeout",
        type=float,
        default=1800,
        help="stop imbalanced-learn after this many seconds (default 1800)",
    )
    parser.add_argument(
        "--imblearn-anyway",
        "--imblearn-at-30m",
        action="store_true",
        help="run imbalanced-learn even where it needs more memory than is available",
    )
    args = parser.parse_args()
    samplers = parse_samplers(args.sampler)
    rows, minority, features = resolve_shape(args)
    label = shape_label(args)

    data = cached_dataset(Path(args.cache), rows, features, minority, args.classes)
    work = Path(args.work) / label
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    contenders = build_contenders(samplers, data, work, args.master)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    results = run_rounds(contenders, args, label, rows * features)
    found = ratios(results, samplers)

    rounds = max(1, args.rounds)
    header = (
        f"# Benchmark: {rows} rows x {features} features, {100 * minority:g} % minority, "
        f"{args.master}, {os.cpu_count()} cores, {rounds} round(s)\n\n"
        f"Samplers: {', '.join(samplers)}. Code: {_commit()}. Started {started}. Input: {data}."
    )
    text = report(header, results, found)
    print(text)
    suffix = "" if samplers == ["smote"] else "_" + "+".join(samplers)
    # Not Path.with_suffix: the shape's own name has dots (results_2.88M).
    markdown = ROOT / "bench" / f"results_{label}{suffix}.md"
    measurements = markdown.with_name(markdown.name.removesuffix(".md") + ".json")
    markdown.write_text(text + "\n")
    summary = {
        "shape": {"rows": rows, "features": features, "minority": minority, "label": label},
        "input": str(data),
        "master": args.master,
        "cores": os.cpu_count(),
        "rounds": rounds,
        "samplers": samplers,
        "imblearn_timeout_s": args.imblearn_timeout,
        "commit": _commit(),
        "started": started,
        "measurements": [asdict(r) for r in results],
        "ratios": [
            {
                "name": r.name,
                "per_round": r.per_round,
                "median": statistics.median(r.per_round) if r.per_round else None,
                "min": min(r.per_round, default=None),
                "max": max(r.per_round, default=None),
                "upper_bound": r.bound,
            }
            for r in found
        ],
    }
    measurements.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"benchmark: wrote {markdown} and {measurements}")


if __name__ == "__main__":
    main()
