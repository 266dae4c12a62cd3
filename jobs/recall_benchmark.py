"""Measure the LSH neighbour search: recall@5, timings, memory under skew, auto threshold.

Plain Python (not spark-submit); builds its own local[2] session from conf/local.toml
and calls the library. Generated datasets are cached as Parquet under --cache-dir
(default ./bench, gitignored).

    python jobs/recall_benchmark.py recall      # recall@5 table, default settings
    python jobs/recall_benchmark.py timing      # 2.88M x 18: neighbour phase vs job
    python jobs/recall_benchmark.py memory      # peak memory: skewed vs spread-out
    python jobs/recall_benchmark.py threshold   # exact vs LSH time by class size
    python jobs/recall_benchmark.py kernel PARQUET  # chunk ranking per query, no Spark
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_memory import largest_python_worker, tree_memory

ROOT = Path(__file__).resolve().parent.parent
MASTER = "local[2]"
SUSY_ROWS, SUSY_MINORITY, SUSY_FEATURES = 2_880_000, 170_000, 18
CLUSTER_DIMS = {2: 100_000, 8: 100_000, 32: 100_000, 64: 100_000, 128: 50_000, 256: 50_000}
SKEW_ROWS = 1_000_000


def session(memory: str = "4g") -> Any:
    """A local[2] session with the settings of conf/local.toml."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from spark_smote.cli import build_session, load_job_config

    config = load_job_config(str(ROOT / "conf" / "local.toml"))
    config.spark["spark.driver.memory"] = memory
    config.spark["spark.ui.enabled"] = "false"
    config.spark["spark.ui.showConsoleProgress"] = "false"
    spark = build_session(config, MASTER, None)
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _write(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {f"f{j}": x[:, j] for j in range(x.shape[1])}
    columns["label"] = y.astype(np.int32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    pq.write_table(pa.table(columns), tmp, row_group_size=200_000)
    tmp.rename(path)


def susy_like(cache: Path) -> Path:
    """2.88M x 18 make_classification data with 170k minority rows (SUSY's shape)."""
    path = cache / "susy_like_2880k.parquet"
    if not path.exists():
        from sklearn.datasets import make_classification

        minority = SUSY_MINORITY / SUSY_ROWS
        x, y = make_classification(
            n_samples=SUSY_ROWS,
            n_features=SUSY_FEATURES,
            n_informative=10,
            n_redundant=4,
            n_clusters_per_class=4,
            weights=[1 - minority],
            flip_y=0.0,
            random_state=7,
        )
        _write(path, x, y)
    return path


def gaussian_clusters(cache: Path, dimension: int, minority: int) -> Path:
    """Minority: 50 Gaussian clusters (std 0.5-2, centres N(0, 4^2)); majority: 1.1x."""
    path = cache / f"clusters_{dimension}d_{minority}.parquet"
    if not path.exists():
        rng = np.random.default_rng(dimension)
        parts, labels = [], []
        for label, rows in ((1, minority), (0, int(minority * 1.1))):
            centres = rng.normal(0.0, 4.0, (50, dimension))
            spread = rng.uniform(0.5, 2.0, 50)
            which = rng.integers(0, 50, rows)
            parts.append(
                centres[which] + rng.normal(0.0, 1.0, (rows, dimension)) * spread[which, None]
            )
            labels.append(np.full(rows, label))
        _write(path, np.concatenate(parts), np.concatenate(labels))
    return path


def skewed(cache: Path, kind: str) -> Path:
    """1M minority rows that are identical, one tight cluster, or spread out (18 dims)."""
    path = cache / f"skew_{kind}_{SKEW_ROWS}.parquet"
    if not path.exists():
        rng = np.random.default_rng(11)
        d = SUSY_FEATURES
        if kind == "identical":
            minority = np.tile(rng.normal(0.0, 1.0, (1, d)), (SKEW_ROWS, 1))
        elif kind == "tight":
            minority = rng.normal(0.0, 1.0, (1, d)) + rng.normal(0.0, 1e-4, (SKEW_ROWS, d))
        else:
            minority = rng.normal(0.0, 10.0, (SKEW_ROWS, d))
        majority = rng.normal(0.0, 10.0, (SKEW_ROWS + SKEW_ROWS // 10, d))
        labels = np.concatenate([np.ones(SKEW_ROWS), np.zeros(len(majority))])
        _write(path, np.concatenate([minority, majority]), labels)
    return path


def run_recall(cache: Path, sample_size: int) -> None:
    from spark_smote import neighbor_recall

    spark = session()
    datasets = [("make_classification 2.88M x 18 (170k minority)", susy_like(cache))]
    datasets += [
        (f"Gaussian clusters {d}d ({n // 1000}k minority)", gaussian_clusters(cache, d, n))
        for d, n in CLUSTER_DIMS.items()
    ]
    print("| dataset | recall@5 | tables | hashes | bucket width | bucket cap | time (s) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, path in datasets:
        df = spark.read.parquet(str(path))
        started = time.monotonic()
        report = neighbor_recall(
            df, label_col="label", k_neighbors=5, sample_size=sample_size, seed=1
        )
        elapsed = time.monotonic() - started
        p = report.parameters[1]
        print(
            f"| {name} | {report.recall:.4f} | {p['tables']} | {p['hashes_per_table']} | "
            f"{p['bucket_width']:.3g} | {p['bucket_cap']} | {elapsed:.0f} |",
            flush=True,
        )
    spark.stop()


def run_timing(cache: Path, method: str) -> None:
    """Wall time of the whole job vs the neighbour phase alone, on the 2.88M data."""

    from spark_smote import SMOTE
    from spark_smote._features import collect_input_stats, resolve_layout
    from spark_smote._keys import ClassPlan, build_points, spread_points
    from spark_smote._plan import plan_search
    from spark_smote._search import nearest_neighbors
    from spark_smote._strategy import resolve_sampling_strategy

    spark = session()
    path = str(susy_like(cache))
    out = cache / "out_susy"
    # Whole job: resample and write Parquet.
    started = time.monotonic()
    sampler = SMOTE(label_col="label", seed=1, neighbor_search=method)
    sampler.fit_resample(spark.read.parquet(path)).write.mode("overwrite").parquet(str(out))
    total = time.monotonic() - started
    report = sampler.report_
    assert report is not None  # set by fit_resample
    print(
        f"job ({method}): {total:.1f} s; {report.neighbor_method} {report.neighbor_parameters}",
        flush=True,
    )
    # Neighbour phase alone, from a materialised points table.
    df = spark.read.parquet(path)
    params = sampler.params
    layout = resolve_layout(df.schema, params)
    stats = collect_input_stats(df, layout, params)
    targets = resolve_sampling_strategy(params.sampling_strategy, stats.class_counts)
    plans = [
        ClassPlan(lab, o, n, targets.get(lab, 0))
        for o, (lab, n) in enumerate(stats.class_counts.items())
    ]
    grown = [p for p in plans if p.n_new > 0]
    sizes = {p.ordinal: p.n_rows for p in grown}
    points = build_points(df, grown, layout, params, sizes)
    points = spread_points(points, sum(sizes.values())).persist()
    points.count()
    started = time.monotonic()
    plan = plan_search(sizes, 5, stats.dimension, method)
    neighbors, _ = nearest_neighbors(points, plan, 5, stats.dimension, 1)
    neighbors.write.format("noop").mode("overwrite").save()
    phase = time.monotonic() - started
    print(
        f"neighbour phase ({method}): {phase:.1f} s = {100 * phase / total:.0f}% of the job",
        flush=True,
    )
    points.unpersist()
    spark.stop()


def _tree_memory(root: int) -> tuple[int, int]:
    """(memory of a process tree, largest python worker), in bytes (see bench_memory)."""
    found = tree_memory(root)
    return sum(size for _, size, _ in found), largest_python_worker(found)


def _peak_memory(command: list[str]) -> tuple[int, int, int]:
    """Run ``command``; return (peak tree memory, peak python worker, exit code)."""
    child = subprocess.Popen(command)
    peaks, stop = [0, 0], threading.Event()

    def watch() -> None:
        while not stop.is_set():
            total, worker = _tree_memory(child.pid)
            peaks[0], peaks[1] = max(peaks[0], total), max(peaks[1], worker)
            time.sleep(0.2)

    watcher = threading.Thread(target=watch)
    watcher.start()
    code = child.wait()
    stop.set()
    watcher.join()
    return peaks[0], peaks[1], code


def run_memory(cache: Path) -> None:
    """Each skew case in its own process (fresh JVM); peak memory sampled every 0.2 s."""
    print("| 1M minority rows, 18 dims | peak memory, all processes (GiB) | ", end="")
    print("peak python worker (MiB) | time (s) |")
    print("| --- | --- | --- | --- |")
    for kind in ("spread", "identical", "tight"):
        path = skewed(cache, kind)
        started = time.monotonic()
        total, worker, code = _peak_memory([sys.executable, __file__, "one-memory", str(path)])
        status = "" if code == 0 else " FAILED"
        print(
            f"| {kind} | {total / 2**30:.2f} | {worker / 2**20:.0f} | "
            f"{time.monotonic() - started:.0f}{status} |",
            flush=True,
        )


def one_memory(path: str) -> None:
    from spark_smote import SMOTE

    spark = session()
    sampler = SMOTE(label_col="label", seed=1, neighbor_search="lsh")
    sampler.fit_resample(spark.read.parquet(path)).write.format("noop").mode("overwrite").save()
    report = sampler.report_
    assert report is not None  # set by fit_resample
    print(f"  {Path(path).name}: {report.neighbor_parameters}", file=sys.stderr)
    spark.stop()


def run_threshold(cache: Path) -> None:
    """Time exact and LSH search on one class of n rows (18 features, k=5)."""
    from pyspark.sql import functions as F

    from spark_smote._keys import CLASS, IDX, SIZE, X
    from spark_smote._plan import plan_search
    from spark_smote._search import nearest_neighbors

    spark = session()
    df = spark.read.parquet(str(susy_like(cache))).filter("label = 1")
    features = F.array(*[F.col(f"f{j}").cast("double") for j in range(SUSY_FEATURES)])
    print("| class rows | exact (s) | lsh (s) |")
    print("| --- | --- | --- |")
    for n in (5_000, 10_000, 20_000, 40_000, 80_000):
        rows = df.limit(n).select(features.alias(X)).toPandas()
        rows[CLASS] = 0
        rows[SIZE] = n
        rows[IDX] = np.arange(n)
        points = spark.createDataFrame(rows[[CLASS, SIZE, IDX, X]]).persist()
        points.count()
        times = []
        for method in ("exact", "lsh"):
            started = time.monotonic()
            plan = plan_search({0: n}, 5, SUSY_FEATURES, method)
            neighbors, _ = nearest_neighbors(points, plan, 5, SUSY_FEATURES, 1)
            neighbors.write.format("noop").mode("overwrite").save()
            times.append(time.monotonic() - started)
        points.unpersist()
        print(f"| {n} | {times[0]:.1f} | {times[1]:.1f} |", flush=True)
    spark.stop()


def run_kernel(path: str, rounds: int = 7) -> None:
    """Time the chunk ranking per query, with and without the running bound, by chunk size.

    The minority class (label 1) of a Parquet file, ordered along one random
    projection (rows close in it share chunks, as in an LSH table); each chunk ranks
    its central half as queries, one core (set ``OPENBLAS_NUM_THREADS=1``). The bound
    is each query's true k-th distance in the whole class: what a later table sees once
    the earlier ones have found the neighbours.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from spark_smote._search.kernels import block_top_k, chunk_top_k

    table = pq.read_table(path)
    table = table.filter(pc.equal(table["label"], 1))
    x = np.column_stack([table[c].to_numpy() for c in table.column_names if c != "label"])
    order = np.argsort(x @ np.random.default_rng(0).standard_normal(x.shape[1]))
    print(f"{len(x)} rows x {x.shape[1]} features, k = 5; microseconds per query")
    print("| chunk rows | no bound | bounded by the k-th distance |")
    print("| --- | --- | --- |")
    for cap in (1024, 2048, 4096):
        rows = order[len(x) // 3 : len(x) // 3 + cap]
        queries = np.arange(cap // 4, cap // 4 + cap // 2)
        chunk, idx = x[rows], rows.astype(np.int64)
        _, truth = block_top_k(chunk[queries], idx[queries], x, np.arange(len(x)), 5)
        cells = []
        for limits in (None, truth[:, -1]):
            times = []
            for _ in range(rounds):
                start = time.perf_counter()
                chunk_top_k(chunk, idx, queries, 5, limits)
                times.append(time.perf_counter() - start)
            cells.append(f"{np.median(times) * 1e6 / len(queries):.1f}")
        print(f"| {cap} | {cells[0]} | {cells[1]} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "what",
        choices=["recall", "timing", "memory", "threshold", "one-memory", "data", "kernel"],
    )
    parser.add_argument("path", nargs="?")
    parser.add_argument("--cache-dir", default=str(ROOT / "bench"))
    parser.add_argument("--sample-size", type=int, default=500)
    parser.add_argument("--method", default="auto", choices=["auto", "lsh", "exact"])
    args = parser.parse_args()
    cache = Path(args.cache_dir)
    if args.what == "recall":
        run_recall(cache, args.sample_size)
    elif args.what == "timing":
        run_timing(cache, args.method)
    elif args.what == "memory":
        run_memory(cache)
    elif args.what == "one-memory":
        one_memory(args.path)
    elif args.what == "threshold":
        run_threshold(cache)
    elif args.what == "kernel":
        run_kernel(args.path)
    else:
        susy_like(cache)
        for d, n in CLUSTER_DIMS.items():
            gaussian_clusters(cache, d, n)
        for kind in ("spread", "identical", "tight"):
            skewed(cache, kind)


if __name__ == "__main__":
    main()
