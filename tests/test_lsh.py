"""LSH neighbour search: recall, bounded buckets, completion, determinism, dispatch."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import functions as F

import spark_smote._lsh as lsh
from spark_smote import InvalidParameterError, LSHParams, neighbor_recall, smote
from spark_smote._keys import CLASS, IDX, SIZE, X
from spark_smote._lsh import lsh_neighbors
from spark_smote._neighbors import NBR, exact_neighbors

K = 5
POINTS_SCHEMA = f"{CLASS} int, {SIZE} long, {IDX} long, {X} array<double>"


def clusters(n: int, dimension: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 6.0, (10, dimension))
    return centres[rng.integers(0, 10, n)] + rng.normal(0.0, 1.0, (n, dimension))


def points_of(spark, x: np.ndarray, ordinal: int = 0):  # type: ignore[no-untyped-def]
    rows = [(ordinal, len(x), i, [float(v) for v in x[i]]) for i in range(len(x))]
    return spark.createDataFrame(rows, POINTS_SCHEMA)


def neighbour_lists(neighbors) -> dict[int, list[int]]:  # type: ignore[no-untyped-def]
    return {row[IDX]: list(row[NBR]) for row in neighbors.select(IDX, NBR).collect()}


def exact_kth(x: np.ndarray, k: int) -> np.ndarray:
    squared = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(squared, np.inf)
    return np.sqrt(np.sort(squared, axis=1)[:, k - 1])


def recall_of(x: np.ndarray, found: dict[int, list[int]], k: int) -> float:
    kth = exact_kth(x, k)
    hits = [
        np.sum(np.linalg.norm(x[nbrs] - x[i], axis=1) <= kth[i] * (1 + 1e-9))
        for i, nbrs in found.items()
    ]
    return float(np.sum(hits) / (k * len(found)))


def assert_valid(found: dict[int, list[int]], n: int, k: int) -> None:
    assert sorted(found) == list(range(n))
    for i, nbrs in found.items():
        assert len(nbrs) == k, (i, nbrs)
        assert len(set(nbrs)) == k, (i, nbrs)
        assert i not in nbrs


def test_lsh_recall_and_schema_match_exact(spark) -> None:  # type: ignore[no-untyped-def]
    x = clusters(800, 8)
    points = points_of(spark, x)
    neighbors, report = lsh_neighbors(points, {0: len(x)}, K, 8, seed=3)
    exact, _ = exact_neighbors(points, {0: len(x)}, K, 8)
    assert neighbors.schema == exact.schema
    found = neighbour_lists(neighbors)
    assert_valid(found, len(x), K)
    assert recall_of(x, found, K) >= 0.9
    parameters = report.parameters[0]
    assert report.method[0] == "lsh"
    assert {"bucket_width", "hashes_per_table", "tables", "bucket_cap"} <= set(parameters)
    assert parameters["estimated_recall"] >= 0.9


def test_chunks_bound_groups_and_give_each_row_one_query_slot(spark) -> None:  # type: ignore[no-untyped-def]
    n, step = 500, 16
    hashed = spark.range(n).select(
        F.lit(0).alias(CLASS),
        F.col("id").alias(IDX),
        F.lit(0).alias(lsh._TABLE),
        F.lit(7).cast("long").alias(lsh._BUCKET),
        (F.col("id") % 3).cast("double").alias(lsh._SPLIT),
    )
    members = lsh._chunk_memberships(hashed, step, step).cache()
    sizes = [r["count"] for r in members.groupBy(lsh._CHUNK).count().collect()]
    assert max(sizes) <= 2 * step
    queries = members.filter(lsh._IS_QUERY).groupBy(IDX).count()
    assert queries.count() == n
    assert queries.filter("count != 1").count() == 0
    # A query sees at least step / 2 ranks on each side (or the bucket's end).
    windows = members.groupBy(lsh._CHUNK).agg(
        F.min(lsh._RANK).alias("lo"), F.max(lsh._RANK).alias("hi")
    )
    joined = members.filter(lsh._IS_QUERY).join(windows, lsh._CHUNK)
    assert (
        joined.filter(
            ((F.col(lsh._RANK) - F.col("lo") < step // 2) & (F.col("lo") > 0))
            | ((F.col("hi") - F.col(lsh._RANK) < step // 2 - 1) & (F.col("hi") < n - 1))
        ).count()
        == 0
    )
    members.unpersist()


def test_identical_rows_split_into_bounded_buckets(spark) -> None:  # type: ignore[no-untyped-def]
    x = np.ones((400, 3))
    params = LSHParams(bucket_cap=48)
    neighbors, report = lsh_neighbors(points_of(spark, x), {0: 400}, K, 3, seed=1, params=params)
    found = neighbour_lists(neighbors)
    assert_valid(found, 400, K)
    assert report.parameters[0]["bucket_cap"] == 48


def test_rows_in_tiny_buckets_are_completed_to_k(spark) -> None:  # type: ignore[no-untyped-def]
    x = clusters(300, 4, seed=2)
    params = LSHParams(bucket_width=1e-6, hashes_per_table=4, tables=1)
    neighbors, _ = lsh_neighbors(points_of(spark, x), {0: 300}, K, 4, seed=1, params=params)
    assert_valid(neighbour_lists(neighbors), 300, K)


def test_duplicates_are_neighbours_at_distance_zero(spark) -> None:  # type: ignore[no-untyped-def]
    base = clusters(200, 3, seed=4)
    x = np.concatenate([base, base[:50]])
    neighbors, _ = lsh_neighbors(points_of(spark, x), {0: len(x)}, K, 3, seed=5)
    found = neighbour_lists(neighbors)
    assert_valid(found, len(x), K)
    assert recall_of(x, found, K) >= 0.9


def test_lsh_params_errors_name_field_and_fix() -> None:
    with pytest.raises(InvalidParameterError, match=r"bucket_cap=10: must be an integer >= 4"):
        LSHParams(bucket_cap=10).checked(5)
    with pytest.raises(InvalidParameterError, match=r"bucket_width=-1.0"):
        LSHParams(bucket_width=-1.0).checked(5)
    with pytest.raises(InvalidParameterError, match=r"target_recall=1.5"):
        LSHParams(target_recall=1.5).checked(5)


def _labelled(spark, seed: int = 0):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    minority = clusters(300, 4, seed=seed)
    majority = rng.normal(0.0, 8.0, (400, 4))
    rows = [(i, *map(float, r), 1) for i, r in enumerate(minority)]
    rows += [(1000 + i, *map(float, r), 0) for i, r in enumerate(majority)]
    return spark.createDataFrame(rows, ["id", "a", "b", "c", "d", "label"])


@pytest.mark.e2e
def test_lsh_output_is_bit_identical_across_partitionings(spark) -> None:  # type: ignore[no-untyped-def]
    df = _labelled(spark)
    previous = spark.conf.get("spark.sql.shuffle.partitions")
    results = []
    try:
        for partitions, layout in ((3, lambda d: d.repartition(5)), (11, lambda d: d.coalesce(1))):
            spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
            shuffled = layout(df.orderBy(F.xxhash64("id", F.lit(partitions))))
            out = smote(shuffled, label_col="label", seed=9, neighbor_search="lsh", provenance=True)
            results.append(sorted(tuple(r) for r in out.collect()))
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", previous)
    assert results[0] == results[1]
    assert len(results[0]) == 800


@pytest.mark.e2e
def test_auto_uses_exact_up_to_threshold_and_lsh_above(spark, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(lsh, "AUTO_EXACT_MAX_ROWS", 60)
    rng = np.random.default_rng(1)
    rows = [(float(v), 0) for v in rng.normal(size=300)]
    rows += [(float(v), 1) for v in rng.normal(size=100)]
    rows += [(float(v), 2) for v in rng.normal(size=40)]
    from spark_smote import SMOTE

    sampler = SMOTE(label_col="label", seed=2)
    out = sampler.fit_resample(spark.createDataFrame(rows, ["x", "label"]))
    assert sampler.report_ is not None
    assert sampler.report_.neighbor_method == {1: "lsh", 2: "exact"}
    assert sorted(out.groupBy("label").count().collect()) == [(0, 300), (1, 300), (2, 300)]


@pytest.mark.e2e
def test_neighbor_recall_reports_per_class_recall(spark) -> None:  # type: ignore[no-untyped-def]
    report = neighbor_recall(
        _labelled(spark, seed=3), label_col="label", features=["a", "b", "c", "d"], sample_size=40
    )
    assert report.k == 5
    assert set(report.per_class) == {1}
    assert report.sample_sizes == {1: 40}
    assert report.class_sizes == {1: 300}
    assert report.recall >= 0.9
    assert "recall@5" in str(report)
    with pytest.raises(InvalidParameterError, match=r"sample_size=0"):
        neighbor_recall(_labelled(spark), label_col="label", sample_size=0)
