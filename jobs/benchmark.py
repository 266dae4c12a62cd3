"""Benchmark: spark_smote against the Spark I/O floor and imbalanced-learn, side by side.

    python jobs/benchmark.py --size 2.88M          # or 0.3M, 30M; or spark-submit

On the same cached input (jobs/bench_data.py) it runs, each in its own process so that
its wall time and peak memory (summed over the whole process tree: driver JVM, Python
workers; each shared page counted once, see bench_memory.py) are measured alone:

1. spark_smote end to end: read Parquet, resample (defaults, seed fixed), write Parquet,
   through the ``spark-smote`` command, including session start;
2. the floor: the same Spark settings read the same input, grow the minority class to the
   same output size by random oversampling -- minority rows drawn uniformly with
   replacement (seeded) and looked up -- and write Parquet: the I/O and scheduling floor
   no SMOTE job can beat. ``floor_copies`` is the cheapest balancing there is, each
   minority row copied in a row: Parquet compresses those neighbouring copies away
   (454 MB written at 2.88M rows against 751 MB for the drawn copies or SMOTE's rows),
   so it writes less than any resampler does; it is reported beside the floor;
3. imbalanced-learn: pyarrow read, ``SMOTE(k_neighbors=5).fit_resample``, pyarrow write,
   in one process (skipped with a message when imbalanced-learn is not installed).

It prints a table with the ratios of spark_smote to the others and writes
it as Markdown beside the results. ``--rounds N`` runs the contenders N times in turn
(floor, floor_copies, spark_smote, imbalanced-learn, then again): each round's ratios
compare runs made minutes apart, and the summary gives every round's runs and the
median and range of the per-round ratios, for machines whose speed drifts between runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_data import SIZES, dataset_path, make_dataset
from bench_memory import tree_memory

ROOT = Path(__file__).resolve().parent.parent
SEED = 1
# The floor broadcasts the minority rows it draws from up to this size, as spark_smote
# broadcasts its lookups (spark_smote._plan.PlanLimits.broadcast_lookup_bytes).
BROADCAST_BYTES = 64 << 20


@dataclass
class Measurement:
    name: str
    seconds: float | None
    peak_gb: float | None
    rows_out: int | None
    note: str = ""


def _measure(name: str, command: list[str], env: dict[str, str] | None = None) -> Measurement:
    print(f"benchmark: running {name}: {' '.join(command)}", flush=True)
    started = time.monotonic()
    log = ROOT / "bench" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
        peak = 0
        while process.poll() is None:
            peak = max(peak, sum(size for _, size, _ in tree_memory(process.pid)))
            time.sleep(0.2)
    seconds = time.monotonic() - started
    if process.returncode != 0:
        tail = log.read_text().splitlines()[-5:]
        return Measurement(name, None, None, None, f"failed (exit {process.returncode}): {tail}")
    return Measurement(name, seconds, peak / 2**30, None)


def _parquet_rows(path: Path) -> int:
    import pyarrow.dataset as ds

    return ds.dataset(str(path), format="parquet").count_rows()


def run_floor(input_path: str, output_path: str, master: str, kind: str = "draws") -> None:
    """Random oversampling with the job's own session settings: read, balance, write.

    ``kind="draws"`` (the floor): each added row is a minority row drawn uniformly with
    replacement (seeded), so the copies lie scattered in the output as a resampler's
    rows do. ``kind="copies"``: each minority row repeated in a row (plus the first
    rows once more), the cheapest possible balancing; its copies sit side by side and
    Parquet compresses them away (454 MB written at 2.88M rows against 751 MB).
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from spark_smote._config import load_config
    from spark_smote.cli import build_session

    spark = build_session(load_config(ROOT / "conf" / "local.toml"), master, None)
    df = spark.read.parquet(input_path)
    counts = {r["label"]: r["count"] for r in df.groupBy("label").count().collect()}
    majority = max(counts, key=counts.__getitem__)
    parts = [df]
    for label, n in counts.items():
        if label == majority:
            continue
        n_new = counts[majority] - n
        minority = df.where(F.col("label") == label)
        if kind == "draws":
            # Number the minority rows 0 .. n-1, draw n_new indices, look the rows up.
            index = F.row_number().over(Window.orderBy(F.monotonically_increasing_id())) - 1
            rows = minority.withColumn("_row", index)
            if n * len(df.columns) * 8 <= BROADCAST_BYTES:
                rows = F.broadcast(rows)
            draws = spark.range(n_new).select(
                F.floor(F.rand(SEED) * F.lit(n)).cast("long").alias("_row")
            )
            parts.append(draws.join(rows, on="_row").drop("_row"))
            continue
        copies, remainder = divmod(n_new, n)
        if copies:
            repeated = minority.withColumn("_copy", F.explode(F.sequence(F.lit(1), F.lit(copies))))
            parts.append(repeated.drop("_copy"))
        if remainder:
            parts.append(minority.limit(remainder))
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    out.write.mode("overwrite").parquet(output_path)
    spark.stop()


def run_imblearn(input_path: str, output_path: str) -> None:
    """imbalanced-learn in one process: pyarrow read, SMOTE, pyarrow write."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from imblearn.over_sampling import SMOTE

    table = pq.read_table(input_path)
    names = [n for n in table.column_names if n != "label"]
    x = np.column_stack([table.column(n).to_numpy() for n in names])
    y = table.column("label").to_numpy()
    x_out, y_out = SMOTE(k_neighbors=5, random_state=SEED).fit_resample(x, y)
    columns = {n: x_out[:, i] for i, n in enumerate(names)}
    pq.write_table(pa.table({**columns, "label": y_out.astype(np.int32)}), output_path)


def _ratio(results: dict[str, Measurement], other: str) -> float | None:
    """spark_smote's wall time over ``other``'s in one round (None if either is missing)."""
    mine, theirs = results.get("spark_smote"), results.get(other)
    if mine is None or theirs is None or mine.seconds is None or not theirs.seconds:
        return None
    return mine.seconds / theirs.seconds


def _run_round(
    contenders: dict[str, list[str]], args: argparse.Namespace, work: Path, env: dict[str, str]
) -> dict[str, Measurement]:
    """Run every contender once, in order, each in its own process; outputs deleted."""
    results: dict[str, Measurement] = {}
    for name, command in contenders.items():
        if name in args.skip:
            continue
        if name == "imblearn" and args.size == "30M" and not args.imblearn_at_30m:
            note = "skipped: needs about 35 GB (--imblearn-at-30m)"
            results[name] = Measurement(name, None, None, None, note)
            continue
        if name == "imblearn" and importlib.util.find_spec("imblearn") is None:
            note = "skipped: imbalanced-learn not installed"
            results[name] = Measurement(name, None, None, None, note)
            continue
        result = _measure(name, command, env)
        output = work / ("imblearn.parquet" if name == "imblearn" else name)
        if result.seconds is not None:
            result.rows_out = _parquet_rows(output)
        results[name] = result
        if output.is_dir():
            shutil.rmtree(output, ignore_errors=True)
        else:
            output.unlink(missing_ok=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=list(SIZES), default="2.88M")
    parser.add_argument("--cache", default=str(ROOT / "bench" / "data"))
    parser.add_argument("--work", default=str(ROOT / "bench" / "work"))
    parser.add_argument("--master", default="local[2]")
    parser.add_argument(
        "--rounds", type=int, default=1, help="run every contender this many times, in turn"
    )
    parser.add_argument(
        "--skip", action="append", default=[], help="floor|floor_copies|spark_smote|imblearn"
    )
    parser.add_argument(
        "--imblearn-at-30m",
        action="store_true",
        help="also run imbalanced-learn at 30M rows (needs about 35 GB of memory)",
    )
    parser.add_argument("--run-floor", nargs=2, metavar=("INPUT", "OUTPUT"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--floor-kind", choices=["draws", "copies"], default="draws", help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--run-imblearn", nargs=2, metavar=("INPUT", "OUTPUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.run_floor:
        input_path, output_path = args.run_floor
        run_floor(input_path, output_path, args.master, args.floor_kind)
        return
    if args.run_imblearn:
        run_imblearn(*args.run_imblearn)
        return

    n_rows = SIZES[args.size]
    data = make_dataset(dataset_path(Path(args.cache), n_rows, 18, 0.059, 0), n_rows)
    work = Path(args.work) / args.size
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = {"PYSPARK_PYTHON": sys.executable}
    me = [sys.executable, str(Path(__file__).resolve())]
    contenders = {
        "floor": [*me, "--master", args.master, "--run-floor", str(data), str(work / "floor")],
        "floor_copies": [
            *me,
            "--master",
            args.master,
            "--floor-kind",
            "copies",
            "--run-floor",
            str(data),
            str(work / "floor_copies"),
        ],
        "spark_smote": [
            sys.executable,
            "-m",
            "spark_smote",
            "--input",
            str(data),
            "--output",
            str(work / "spark_smote"),
            "--label-col",
            "label",
            "--seed",
            str(SEED),
            "--master",
            args.master,
            "--config",
            str(ROOT / "conf" / "local.toml"),
        ],
        "imblearn": [*me, "--run-imblearn", str(data), str(work / "imblearn.parquet")],
    }
    rounds: list[dict[str, Measurement]] = []
    count = max(1, args.rounds)
    for round_number in range(1, count + 1):
        print(f"benchmark: round {round_number} of {count}", flush=True)
        rounds.append(_run_round(contenders, args, work, env))

    lines = [
        f"# Benchmark: {args.size} rows x 18 features, 5.9 % minority, {args.master}, "
        f"{os.cpu_count()} cores, {len(rounds)} round(s)",
        "",
        "| round | run | wall time (s) | peak memory, process tree (GB) | rows out | note |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for number, results in enumerate(rounds, start=1):
        for r in results.values():
            seconds = f"{r.seconds:.1f}" if r.seconds is not None else "-"
            peak = f"{r.peak_gb:.2f}" if r.peak_gb is not None else "-"
            lines.append(
                f"| {number} | {r.name} | {seconds} | {peak} | {r.rows_out or '-'} | {r.note} |"
            )
    lines.append("")
    for other in ("floor", "floor_copies", "imblearn"):
        ratios = [ratio for results in rounds if (ratio := _ratio(results, other)) is not None]
        if not ratios:
            continue
        line = f"- spark_smote / {other} wall time: **{statistics.median(ratios):.2f}x**"
        if len(ratios) > 1:
            each = ", ".join(f"{v:.2f}" for v in ratios)
            line += (
                f" (median of {len(ratios)} rounds, {min(ratios):.2f}-{max(ratios):.2f}: {each})"
            )
        lines.append(line)
    report = "\n".join(lines)
    print(report)
    out = ROOT / "bench" / f"results_{args.size}.md"
    out.write_text(report + "\n")
    print(f"benchmark: wrote {out}")


if __name__ == "__main__":
    main()
