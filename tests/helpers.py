"""Small builders and comparisons shared by the test files."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from pyspark.ml.linalg import DenseVector, SparseVector
from pyspark.sql import DataFrame

from spark_smote._keys import CLASS, IDX, SIZE, X
from spark_smote._search import NBR


def _canonical(value: Any) -> Any:
    """A hashable, totally ordered stand-in for one cell (vectors and lists as tuples)."""
    if isinstance(value, DenseVector | SparseVector):
        value = value.toArray().tolist()
    if isinstance(value, list | tuple):
        return (2, tuple(_canonical(v) for v in value))
    if value is None:
        return (0, "")
    if isinstance(value, float) and math.isnan(value):
        return (1, "nan")
    return (1, repr(type(value).__name__), value)


def sorted_rows(df: DataFrame) -> list[tuple[Any, ...]]:
    """The DataFrame's rows as sorted, comparable tuples (bit-for-bit for floats)."""
    return sorted(tuple(_canonical(v) for v in row) for row in df.collect())


def row_multiset(df: DataFrame) -> Counter[tuple[Any, ...]]:
    """The DataFrame's rows as a multiset of comparable tuples."""
    return Counter(tuple(_canonical(v) for v in row) for row in df.collect())


def label_counts(df: DataFrame, label_col: str) -> dict[Any, int]:
    """Rows per label value."""
    return {r[label_col]: r["count"] for r in df.groupBy(label_col).count().collect()}


def binary_rows(n_major: int, n_minor: int, labels: Sequence[Any] = (0, 1)) -> list[tuple]:
    """Rows (x, y, label) of two separated 2-D blobs on a deterministic lattice."""
    major, minor = labels
    rows = [(float(i % 17), float(i // 17), major) for i in range(n_major)]
    rows += [(100.0 + i % 5, 50.0 + i // 5 + 0.25 * (i % 3), minor) for i in range(n_minor)]
    return rows


def binary_df(
    spark: Any, n_major: int = 60, n_minor: int = 15, labels: Sequence[Any] = (0, 1)
) -> DataFrame:
    """A small two-class DataFrame with columns x, y (double) and label."""
    return spark.createDataFrame(binary_rows(n_major, n_minor, labels), ["x", "y", "label"])


def class_rows(counts: dict[Any, int], dimension: int = 2) -> list[tuple]:
    """Rows (id, f0..f{d-1}, label) with ``counts[label]`` rows per label, ids unique."""
    rows = []
    next_id = 0
    for ordinal, (label, n) in enumerate(counts.items()):
        for i in range(n):
            features = [
                float(ordinal * 1000 + (i * (j + 3)) % 23 + 0.5 * j) for j in range(dimension)
            ]
            rows.append((next_id, *features, label))
            next_id += 1
    return rows


def class_df(spark: Any, counts: dict[Any, int], dimension: int = 2) -> DataFrame:
    """A DataFrame (id, f0.., label) with the given rows per class."""
    names = ["id", *[f"f{j}" for j in range(dimension)], "label"]
    return spark.createDataFrame(class_rows(counts, dimension), names)


POINTS_SCHEMA = f"{CLASS} int, {SIZE} long, {IDX} long, {X} array<double>"


def clusters(n: int, dimension: int, seed: int = 0) -> np.ndarray:
    """Rows around 10 random centres, unit spread."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 6.0, (10, dimension))
    return centres[rng.integers(0, 10, n)] + rng.normal(0.0, 1.0, (n, dimension))


def points_of(spark, x: np.ndarray, ordinal: int = 0):  # type: ignore[no-untyped-def]
    """A points table of one class (the keys phase's columns) holding ``x``."""
    rows = [(ordinal, len(x), i, [float(v) for v in x[i]]) for i in range(len(x))]
    return spark.createDataFrame(rows, POINTS_SCHEMA)


def neighbour_lists(neighbors) -> dict[int, list[int]]:  # type: ignore[no-untyped-def]
    """Each row's neighbour list of a neighbours table, by index."""
    return {row[IDX]: list(row[NBR]) for row in neighbors.select(IDX, NBR).collect()}


def exact_kth(x: np.ndarray, k: int) -> np.ndarray:
    """Each row's exact k-th neighbour distance (itself excluded)."""
    squared = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(squared, np.inf)
    return np.sqrt(np.sort(squared, axis=1)[:, k - 1])


def recall_of(x: np.ndarray, found: dict[int, list[int]], k: int) -> float:
    """Share of the found neighbours no farther than the exact k-th."""
    kth = exact_kth(x, k)
    hits = [
        np.sum(np.linalg.norm(x[nbrs] - x[i], axis=1) <= kth[i] * (1 + 1e-9))
        for i, nbrs in found.items()
    ]
    return float(np.sum(hits) / (k * len(found)))


def assert_valid(found: dict[int, list[int]], n: int, k: int) -> None:
    """Every row answered once, with k distinct neighbours other than itself."""
    assert sorted(found) == list(range(n))
    for i, nbrs in found.items():
        assert len(nbrs) == k, (i, nbrs)
        assert len(set(nbrs)) == k, (i, nbrs)
        assert i not in nbrs
