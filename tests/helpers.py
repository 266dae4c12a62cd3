"""Small builders and comparisons shared by the test files."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from pyspark.ml.linalg import DenseVector, SparseVector
from pyspark.sql import DataFrame


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
