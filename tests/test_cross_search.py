"""Cross-class k nearest neighbours (all rows of all classes as reference), exact and LSH."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from spark_smote import InvalidParameterError
from spark_smote._plan import PlanLimits, plan_search
from spark_smote._search import CrossLSHParams, cross_whole, nearest_neighbors
from spark_smote._search.cross_exact import sample_queries

# The Spark Connect pass repeats what depends on the session: one exact and one LSH
# search against the truth, and output independent of partitioning (marked e2e below);
# the rest is the same numpy work in either session and runs in the classic pass.


def cross_class_neighbors(
    points, *, query_classes, k, dimension, sizes, seed, method, lsh_params=None, limits=None
):
    """The search among all classes, through its plan and the one entry point."""
    plan = plan_search(
        sizes, k, dimension, method, limits, reference="all", query_classes=query_classes
    )
    found, report = nearest_neighbors(points, plan, k, dimension, seed, lsh_params=lsh_params)
    assert set(report.method) == set(plan.class_sizes)
    return found, report.cross


def points_table(spark, x, y, partitions=2):
    """The points table of every class: (class, index in class, features)."""
    idx = np.zeros(len(y), np.int64)
    for c in np.unique(y):
        at = np.flatnonzero(y == c)
        idx[at] = np.arange(len(at))
    rows = [(int(c), int(i), [float(v) for v in row]) for c, i, row in zip(y, idx, x, strict=True)]
    schema = "_smote_class int, _smote_idx long, _smote_x array<double>"
    points = spark.createDataFrame(rows, schema).repartition(partitions)
    sizes = {int(c): int((y == c).sum()) for c in np.unique(y)}
    return points, sizes, idx


def overlapping(n, classes, seed, dimension=2):
    """Overlapping classes on a coarse grid: duplicates and tied distances."""
    rng = np.random.default_rng(seed)
    y = rng.choice(classes, size=n, p=np.linspace(1, 3, classes) / np.linspace(1, 3, classes).sum())
    centres = rng.normal(size=(classes, dimension))
    x = np.round(centres[y] + rng.normal(size=(n, dimension)), 1)
    x[:6] = x[6]  # a run of exact duplicates
    return x, y.astype(np.int64)


def neighbours_by_key(rows):
    return {
        (r["_smote_class"], r["_smote_idx"]): (
            list(zip(r["_smote_nbr_class"], r["_smote_nbr"], strict=True)),
            np.array(r["_smote_dist"]),
        )
        for r in rows
    }


def euclidean(x, row):
    """Distances to ``row`` as the search computes them: squares summed feature by feature."""
    squared = np.zeros(len(x))
    for j in range(x.shape[1]):
        squared += (x[:, j] - row[j]) ** 2
    return np.sqrt(squared)


def check_against_sklearn(rows, x, y, idx, k, query_classes):
    """Distances as sklearn's; neighbour sets equal below the k-th distance; ties by key."""
    position = {(int(c), int(i)): p for p, (c, i) in enumerate(zip(y, idx, strict=True))}
    expected_queries = [p for p in range(len(y)) if query_classes is None or y[p] in query_classes]
    found = neighbours_by_key(rows)
    assert len(rows) == len(expected_queries) == len(found)
    distances, _ = NearestNeighbors(n_neighbors=k).fit(x).kneighbors()  # self excluded
    for p in expected_queries:
        pairs, dist = found[int(y[p]), int(idx[p])]
        neighbours = [position[pair] for pair in pairs]
        assert p not in neighbours
        assert len(neighbours) == k
        np.testing.assert_allclose(dist, distances[p], rtol=1e-12, atol=1e-12)
        exact = euclidean(x, x[p])
        assert np.array_equal(exact[neighbours], dist)
        kth = dist[-1]
        closer = {q for q in range(len(x)) if q != p and exact[q] < kth}
        assert closer <= set(neighbours)
        # At the k-th distance (equal bits), the smallest (class, index) keys win.
        tied = sorted((int(y[q]), int(idx[q])) for q in range(len(x)) if q != p and exact[q] == kth)
        chosen_tied = sorted(pairs[len(closer) :])
        assert chosen_tied == tied[: len(chosen_tied)]


@pytest.mark.parametrize(
    ("classes", "query_classes"),
    [(2, [1]), (2, None), (3, [0, 2]), pytest.param(3, None, marks=pytest.mark.e2e)],
)
def test_exact_search_equals_sklearn(spark, classes, query_classes):
    x, y = overlapping(400, classes, seed=classes)
    points, sizes, idx = points_table(spark, x, y)
    k = 6
    found, report = cross_class_neighbors(
        points, query_classes=query_classes, k=k, dimension=2, sizes=sizes, seed=1, method="exact"
    )
    check_against_sklearn(found.collect(), x, y, idx, k, query_classes)
    assert report.method == "exact" and report.recall is None


def test_exact_search_over_several_blocks_equals_sklearn(spark):
    x, y = overlapping(2300, 3, seed=7, dimension=3)
    points, sizes, idx = points_table(spark, x, y, partitions=3)
    found, report = cross_class_neighbors(
        points, query_classes=[0], k=4, dimension=3, sizes=sizes, seed=1, method="exact"
    )
    assert report.parameters["reference_blocks"] == 3
    check_against_sklearn(found.collect(), x, y, idx, 4, [0])


def blobs(n, seed, dimension=6):
    """A few thousand rows: three overlapping Gaussian classes, 70/20/10, and duplicates."""
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=n, p=[0.7, 0.2, 0.1]).astype(np.int64)
    x = rng.normal(size=(n, dimension)) + 1.5 * rng.normal(size=(3, dimension))[y]
    x[:40] = x[40]
    return x, y


@pytest.mark.parametrize("query_classes", [[1, 2], pytest.param(None, marks=pytest.mark.e2e)])
def test_lsh_recall_against_exact_with_defaults(spark, query_classes):
    x, y = blobs(3000, seed=11)
    points, sizes, _ = points_table(spark, x, y)
    k = 5
    args = {"query_classes": query_classes, "k": k, "dimension": 6, "sizes": sizes, "seed": 3}
    exact, _ = cross_class_neighbors(points, method="exact", **args)
    approx, report = cross_class_neighbors(points, method="lsh", **args)
    truth, found = neighbours_by_key(exact.collect()), neighbours_by_key(approx.collect())
    assert found.keys() == truth.keys()
    hits = 0
    for key, (pairs, dist) in found.items():
        true_pairs, true_dist = truth[key]
        assert key not in pairs and len(pairs) == k
        hits += int((dist <= true_dist[-1]).sum())
        # Shared neighbours have the same distance, bit for bit.
        shared = dict(zip(true_pairs, true_dist, strict=True))
        for pair, d in zip(pairs, dist, strict=True):
            if pair in shared:
                assert d == shared[pair]
    recall = hits / (k * len(found))
    assert recall >= 0.95
    assert report.method == "lsh" and report.recall is not None and report.recall >= 0.95
    assert report.parameters["tables"] >= 1


def test_lsh_reported_recall_is_that_of_its_output_on_the_sample(spark):
    # Small chunks, so the search really misses some neighbours.
    x, y = blobs(2000, seed=5, dimension=8)
    points, sizes, _ = points_table(spark, x, y)
    k = 5
    params = CrossLSHParams(bucket_cap=48, tables=2, sample_size=64)
    args = {"query_classes": [2], "k": k, "dimension": 8, "sizes": sizes, "seed": 9}
    exact, _ = cross_class_neighbors(points, method="exact", **args)
    approx, report = cross_class_neighbors(points, method="lsh", lsh_params=params, **args)
    sample = sample_queries({2: sizes[2]}, 64, 9)
    truth, found = neighbours_by_key(exact.collect()), neighbours_by_key(approx.collect())
    keys = [(2, i) for i in sample[2]]
    hits = sum(int((found[key][1] <= truth[key][1][-1]).sum()) for key in keys)
    assert report.recall_sample == 64
    assert report.recall == pytest.approx(hits / (k * len(keys)), abs=1e-12)
    assert report.recall < 1.0


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("method", "limits"),
    [
        ("exact", None),
        ("lsh", None),
        # 1500 rows x 4 features are 48,000 bytes: three shards.
        pytest.param("lsh", PlanLimits(whole_class_bytes=20_000), id="lsh-sharded"),
    ],
)
def test_same_output_for_any_partitioning(spark, method, limits):
    x, y = blobs(1500, seed=2, dimension=4)
    args = {"query_classes": [1, 2], "k": 4, "dimension": 4, "seed": 5, "method": method}
    args["limits"] = limits
    params = CrossLSHParams(bucket_cap=64, tables=3, sample_size=32)
    outputs = []
    before = spark.conf.get("spark.sql.shuffle.partitions")
    try:
        for partitions, shuffle in ((1, "3"), (5, "7")):
            spark.conf.set("spark.sql.shuffle.partitions", shuffle)
            points, sizes, _ = points_table(spark, x, y, partitions=partitions)
            found, _ = cross_class_neighbors(points, sizes=sizes, lsh_params=params, **args)
            outputs.append(sorted(tuple(map(_freeze, row)) for row in found.collect()))
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", before)
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize(
    ("query_classes", "params", "split"),
    [
        ([1, 2], CrossLSHParams(bucket_cap=64, sample_size=48, max_tables=4), False),
        (None, CrossLSHParams(bucket_cap=48, tables=3, sample_size=32), False),
        (None, CrossLSHParams(bucket_cap=48, tables=3, sample_size=32), True),
    ],
)
def test_whole_reference_search_equals_per_table_search(
    spark, monkeypatch, query_classes, params, split
):
    # The search holding every row in its tasks returns the per-table copies' rows,
    # tuned alike: the same widths tried, the same curves, the same choice. With
    # ``split``, a task per table (each task's lists merged afterwards).
    merges = []
    if split:
        monkeypatch.setattr(cross_whole, "_WORK_PER_TASK", 1)
        merge = cross_whole.merge_lists
        monkeypatch.setattr(cross_whole, "merge_lists", lambda *a: merges.append(a) or merge(*a))
    x, y = blobs(1500, seed=8, dimension=5)
    x[50:80] = x[80]  # a bucket larger than a chunk
    points, sizes, _ = points_table(spark, x, y, partitions=3)
    k = 4
    outputs, reports = [], []
    for whole in (True, False):
        plan = plan_search(
            sizes,
            k,
            5,
            "lsh",
            PlanLimits(whole_class_search=whole),
            reference="all",
            query_classes=query_classes,
        )
        assert bool(plan.whole_classes) == whole
        found, report = nearest_neighbors(points, plan, k, 5, 7, lsh_params=params)
        outputs.append(sorted(tuple(map(_freeze, row)) for row in found.collect()))
        reports.append(report.cross)
    assert outputs[0] == outputs[1]
    assert reports[0].parameters == reports[1].parameters
    assert reports[0].recall == reports[1].recall
    assert len(merges) == int(split)


# Limits that cut the 3000 rows x 6 features (144,000 bytes) into three shards, and
# (too many queries to copy to every shard) into spatial cells of at most 120 KB.
SHARDED = PlanLimits(whole_class_bytes=50_000)
CELLS = PlanLimits(whole_class_bytes=120_000, shard_query_bytes=0)


@pytest.mark.parametrize(
    ("query_classes", "limits"),
    [
        ([1, 2], SHARDED),
        pytest.param([0, 1, 2], SHARDED, marks=pytest.mark.e2e),
        ([0, 1, 2], CELLS),
        pytest.param([1, 2], CELLS, marks=pytest.mark.e2e),
    ],
)
def test_sharded_search_recall_against_exact(spark, query_classes, limits):
    # Each task holds a third of the rows, or one cell of them (its slab and halo);
    # the lists give each query its k nearest of all rows as the whole search does
    # (recall >= 0.95).
    x, y = blobs(3000, seed=11)
    points, sizes, _ = points_table(spark, x, y, partitions=3)
    k, dimension = 5, 6
    args = {"query_classes": query_classes, "k": k, "dimension": dimension, "sizes": sizes}
    exact, _ = cross_class_neighbors(points, method="exact", seed=3, **args)
    plan = plan_search(
        sizes, k, dimension, "lsh", limits, reference="all", query_classes=query_classes
    )
    assert plan.whole_classes
    assert (plan.reference_shards, plan.cell_classes) == (
        (3, set()) if limits is SHARDED else (1, set(query_classes))
    )
    approx, report = nearest_neighbors(points, plan, k, dimension, 3)
    if limits is CELLS:
        assert report.cross.parameters["cells"] >= 2
    truth, found = neighbours_by_key(exact.collect()), neighbours_by_key(approx.collect())
    assert found.keys() == truth.keys()
    hits = 0
    for key, (pairs, dist) in found.items():
        true_pairs, true_dist = truth[key]
        assert key not in pairs and len(pairs) == k == len(set(pairs))
        assert (np.diff(dist) >= 0).all()
        hits += int((dist <= true_dist[-1]).sum())
        shared = dict(zip(true_pairs, true_dist, strict=True))
        assert all(d == shared[pair] for pair, d in zip(pairs, dist, strict=True) if pair in shared)
    assert hits / (k * len(found)) >= 0.95
    assert report.cross.recall is not None and report.cross.recall >= 0.95


def test_rows_that_cannot_be_cut_into_cells_are_searched_per_table(spark, caplog):
    # Cells of 50 KB cannot hold a slab and its halo of these 6-dimensional blobs: the
    # search warns and runs over per-table copies, with the same recall guarantee.
    x, y = blobs(3000, seed=11)
    points, sizes, _ = points_table(spark, x, y, partitions=3)
    limits = PlanLimits(whole_class_bytes=50_000, shard_query_bytes=0)
    plan = plan_search(sizes, 5, 6, "lsh", limits, reference="all")
    assert plan.cell_classes == set(sizes)
    with caplog.at_level("WARNING", logger="spark_smote"):
        found, report = nearest_neighbors(points, plan, 5, 6, 3)
    assert "cannot be cut into cells" in caplog.text
    assert "cells" not in report.cross.parameters
    assert found.count() == sum(sizes.values())
    assert report.cross.recall is not None and report.cross.recall >= 0.95


def _freeze(value):
    return tuple(value) if isinstance(value, list) else value


def test_a_class_of_one_row(spark):
    x, y = overlapping(60, 2, seed=4)
    y[10] = 2  # class 2: one row
    points, sizes, idx = points_table(spark, x, y)
    found, _ = cross_class_neighbors(
        points, query_classes=[2], k=3, dimension=2, sizes=sizes, seed=1, method="exact"
    )
    rows = found.collect()
    assert len(rows) == 1 and rows[0]["_smote_class"] == 2
    assert 2 not in rows[0]["_smote_nbr_class"]
    check_against_sklearn(rows, x, y, idx, 3, [2])


def test_k_larger_than_the_other_rows_is_refused(spark):
    x, y = overlapping(8, 2, seed=1)
    points, sizes, _ = points_table(spark, x, y)
    with pytest.raises(InvalidParameterError, match=r"k=8: .* 8 rows .* at most 7"):
        cross_class_neighbors(
            points, query_classes=None, k=8, dimension=2, sizes=sizes, seed=1, method="exact"
        )


def test_unknown_method_and_query_class_are_refused(spark):
    x, y = overlapping(20, 2, seed=1)
    points, sizes, _ = points_table(spark, x, y)
    args = {"k": 2, "dimension": 2, "sizes": sizes, "seed": 1}
    with pytest.raises(InvalidParameterError, match="neighbor_search='fast'"):
        cross_class_neighbors(points, query_classes=None, method="fast", **args)
    with pytest.raises(InvalidParameterError, match=r"query_classes=\[5\]"):
        cross_class_neighbors(points, query_classes=[5], method="exact", **args)


def test_auto_picks_exact_for_small_inputs_and_says_why(spark):
    x, y = overlapping(50, 2, seed=1)
    points, sizes, _ = points_table(spark, x, y)
    _, report = cross_class_neighbors(
        points, query_classes=None, k=2, dimension=2, sizes=sizes, seed=1, method="auto"
    )
    assert report.method == "exact"
    assert "50 rows <= 10000" in report.reason
