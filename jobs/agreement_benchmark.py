"""Measure how often LSH classifies rows as exact search does, for Borderline-SMOTE and ADASYN.

Plain Python (not spark-submit); builds a local[2] session from conf/local.toml. For
each generated dataset and each asked ``target_recall`` of the cross-class LSH search,
every row of the classes to grow gets its other-label count by LSH (the variants' own
reduction of the search, :func:`spark_smote._variant_draws.other_class_counts`) and by
exact search (scikit-learn on the driver: the datasets are small enough). Printed per
run: the tuned tables, the tuner's sample recall, the agreement the sampler reports (on
its seeded sample) and the agreement over every query row: Borderline-SMOTE, in danger
or not (m_neighbors = 10); ADASYN, the same ratio r_i (n_neighbors = 5).

    python jobs/agreement_benchmark.py                    # targets 0.97 0.98 0.99
    python jobs/agreement_benchmark.py --targets 0.99 --seed 3
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recall_benchmark import session

# Rows per class and features of the datasets: Gaussian classes whose centres are 1
# apart in every feature (they overlap, so many rows border another class).
DATASETS = {
    "binary, 6 features": ({0: 20_000, 1: 2_000}, 6),
    "3 classes, 10 features": ({0: 20_000, 1: 3_000, 2: 1_000}, 10),
}
M_NEIGHBORS = 10
N_NEIGHBORS = 5


def overlapping(counts: dict[int, int], dimension: int, seed: int) -> tuple[np.ndarray, ...]:
    """Features and labels of Gaussian classes centred at (label, ..., label)."""
    rng = np.random.default_rng(seed)
    x = np.vstack([rng.normal(float(c), 1.0, (n, dimension)) for c, n in counts.items()])
    y = np.concatenate([np.full(n, c) for c, n in counts.items()])
    return x, y


def exact_other_counts(x: np.ndarray, y: np.ndarray, queries: np.ndarray, m: int) -> np.ndarray:
    """Other-label rows among each query row's m nearest rows (itself excluded)."""
    from sklearn.neighbors import NearestNeighbors

    _, found = NearestNeighbors(n_neighbors=m + 1).fit(x).kneighbors(x[queries])
    neighbours = found[:, 1:]
    return np.asarray((y[neighbours] != y[queries][:, None]).sum(axis=1))


def measure(
    spark: Any, name: str, targets: list[float], seed: int
) -> list[tuple[str, str, float, int, float, float, float, float]]:
    """Rows of the table for one dataset."""
    from pyspark.sql import types as T

    from spark_smote._borderline import in_danger
    from spark_smote._keys import CLASS, IDX, X
    from spark_smote._search.cross_lsh import CrossLSHParams
    from spark_smote._variant_draws import OTHER, other_class_counts

    counts, dimension = DATASETS[name]
    x, y = overlapping(counts, dimension, seed)
    index = np.concatenate([np.arange(n) for n in counts.values()])
    schema = T.StructType(
        [
            T.StructField(CLASS, T.IntegerType()),
            T.StructField(IDX, T.LongType()),
            T.StructField(X, T.ArrayType(T.DoubleType())),
        ]
    )
    rows = [(int(c), int(i), [float(v) for v in xs]) for c, i, xs in zip(y, index, x, strict=True)]
    points = spark.createDataFrame(rows, schema).repartition(4).localCheckpoint(eager=True)
    sizes = dict(counts)
    grown = [c for c in counts if c != 0]
    queries = np.flatnonzero(y != 0)
    position = {(int(y[q]), int(index[q])): j for j, q in enumerate(queries)}
    variants: dict[str, tuple[int, Callable[[int], Any]]] = {
        "Borderline": (M_NEIGHBORS, lambda o: in_danger(o, M_NEIGHBORS)),
        "ADASYN": (N_NEIGHBORS, lambda o: o),
    }
    results = []
    for variant, (m, classify) in variants.items():
        exact = exact_other_counts(x, y, queries, m)
        for target in targets:
            started = time.monotonic()
            found = other_class_counts(
                points,
                query_classes=grown,
                m=m,
                k=None,
                dimension=dimension,
                sizes=sizes,
                seed=seed,
                method="lsh",
                classify=classify,
                lsh_params=CrossLSHParams(target_recall=target),
            )
            lsh = np.empty(len(queries), np.int64)
            for row in found.table.select(CLASS, IDX, OTHER).collect():
                lsh[position[int(row[CLASS]), int(row[IDX])]] = int(row[OTHER])
            seconds = time.monotonic() - started
            pairs = zip(lsh.tolist(), exact.tolist(), strict=True)
            same = np.mean([classify(a) == classify(b) for a, b in pairs])
            report = found.report
            results.append(
                (
                    variant,
                    name,
                    target,
                    int(report.parameters["tables"]),
                    float(report.recall or 1.0),
                    float(found.agreement or 1.0),
                    float(same),
                    seconds,
                )
            )
            print(results[-1], flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=float, nargs="+", default=[0.97, 0.98, 0.99])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    spark = session()
    table = []
    for name in DATASETS:
        table += measure(spark, name, args.targets, args.seed)
    print()
    print(
        "| sampler | dataset | target_recall | tables | sample recall | reported agreement "
        "| agreement, every query row | seconds |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for variant, name, target, tables, recall, reported, full, seconds in table:
        print(
            f"| {variant} | {name} | {target} | {tables} | {recall:.3f} | {reported:.3f} "
            f"| {full:.4f} | {seconds:.0f} |"
        )
    spark.stop()


if __name__ == "__main__":
    main()
