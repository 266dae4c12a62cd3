"""LSH neighbour search: recall, bounded buckets, completion, determinism, dispatch."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import functions as F

import spark_smote._search.per_table as per_table
import spark_smote._search.tuning as tuning
import spark_smote._search.whole_class as whole_class
from spark_smote import SMOTE, InvalidParameterError, neighbor_recall
from spark_smote._arrow import binary_rows
from spark_smote._keys import CLASS, IDX, X, place_by_position
from spark_smote._plan import PlanLimits, SearchPlan, plan_search
from spark_smote._random import STREAM_LSH, numpy_generator
from spark_smote._search import NBR, nearest_neighbors
from spark_smote._search.hashing import draw_hash, table_keys, table_projections
from spark_smote._search.kernels import blobs_to_candidates
from spark_smote._search.table import run_order
from spark_smote._search.tuning_rules import LSHParams, Tuning
from tests.helpers import (
    POINTS_SCHEMA,
    assert_valid,
    clusters,
    neighbour_lists,
    points_of,
    recall_of,
    sorted_rows,
)

K = 5


@pytest.fixture(params=["whole class", "per table"])
def search_path(request) -> PlanLimits:  # type: ignore[no-untyped-def]
    """The limits that send a test through each LSH search path (small classes are
    searched whole unless the whole-class search is switched off)."""
    return PlanLimits(whole_class_search=request.param == "whole class")


def lsh_plan(n: int, dimension: int, limits: PlanLimits) -> SearchPlan:
    """The LSH search plan of one class (ordinal 0) of ``n`` rows."""
    return plan_search({0: n}, K, dimension, "lsh", limits)


def draw_test_hash(seed: int, ordinal: int, dimension: int, hashes: int, tables: int):  # type: ignore[no-untyped-def]
    """A class's hash functions, drawn from its stream as the search draws them."""
    return draw_hash(numpy_generator(seed, STREAM_LSH, ordinal), dimension, hashes, tables)


def test_lsh_recall_and_schema_match_exact(spark, search_path) -> None:  # type: ignore[no-untyped-def]
    x = clusters(800, 8)
    points = points_of(spark, x)
    plan = lsh_plan(len(x), 8, search_path)
    neighbors, report = nearest_neighbors(points, plan, K, 8, seed=3)
    exact_plan = plan_search({0: len(x)}, K, 8, "exact")
    exact, _ = nearest_neighbors(points, exact_plan, K, 8, seed=3)
    assert neighbors.schema == exact.schema
    found = neighbour_lists(neighbors)
    assert_valid(found, len(x), K)
    assert recall_of(x, found, K) >= 0.9
    parameters = report.parameters[0]
    assert report.method[0] == "lsh"
    assert {"bucket_width", "hashes_per_table", "tables", "bucket_cap"} <= set(parameters)
    assert parameters["estimated_recall"] >= 0.9


def _sorted_run(x: np.ndarray, width: float, seed: int = 0):  # type: ignore[no-untyped-def]
    """One (class, table) run in key order, as the search receives it."""
    import pyarrow as pa

    spec = draw_test_hash(seed, 0, x.shape[1], 4, 1)
    codes, splits = table_keys(table_projections(x, spec, 1), spec, width)
    idx = np.arange(len(x))
    order = np.lexsort([idx, splits[:, 0], *[codes[:, 0, j] for j in reversed(range(4))]])
    return pa.table(
        {
            CLASS: pa.array(np.zeros(len(x), np.int32)),
            per_table.TABLE: pa.array(np.zeros(len(x), np.int32)),
            IDX: pa.array(idx[order]),
            per_table.XBYTES: binary_rows(x[order]),
        }
    )


def test_search_holds_at_most_one_chunk_whatever_the_skew(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from pyspark.sql import types as T
    from pyspark.sql.pandas.types import to_arrow_schema

    seen: list[int] = []
    solve = per_table.chunk_top_k

    def bounded(x, idx, queries, k):  # type: ignore[no-untyped-def]
        seen.append(len(x))
        return solve(x, idx, queries, k)

    monkeypatch.setattr(per_table, "chunk_top_k", bounded)
    schema = to_arrow_schema(
        T.StructType(
            [
                T.StructField(CLASS, T.IntegerType()),
                T.StructField(IDX, T.LongType()),
                T.StructField(per_table.CANDIDATES, T.BinaryType()),
            ]
        )
    )
    for x in (np.ones((3000, 3)), clusters(3000, 3)):
        seen.clear()
        run = _sorted_run(x, width=1.0)
        search = per_table._search_udf(K, 3, {0: 64}, {0: len(x)}, schema)
        out = pa_concat(search(iter(run.to_batches(max_chunksize=700))))
        assert max(seen) <= 64
        assert sorted(out.column(IDX).to_pylist()) == list(range(len(x)))
        neighbors, distances = blobs_to_candidates(out.column(per_table.CANDIDATES), K)
        assert neighbors.shape == (len(x), K)
        assert (neighbors != out.column(IDX).to_numpy()[:, None]).all()
        assert (np.diff(distances, axis=1) >= 0).all()


def pa_concat(batches):  # type: ignore[no-untyped-def]
    import pyarrow as pa

    return pa.Table.from_batches(list(batches))


def test_class_search_answers_every_row_once_whatever_the_task_count() -> None:
    import pyarrow as pa
    from pyspark.sql import types as T
    from pyspark.sql.pandas.types import to_arrow_schema

    x = np.concatenate([clusters(1500, 4, seed=5), np.ones((400, 4))])
    n = len(x)
    spec = draw_test_hash(2, 0, 4, 4, 3)
    chosen = Tuning(width=2.0, cap=64, tables=3, sample_recall=-1.0, kth_distance_median=-1.0)
    schema = to_arrow_schema(
        T.StructType(
            [
                T.StructField(CLASS, T.IntegerType()),
                T.StructField(IDX, T.LongType()),
                T.StructField(X, T.ArrayType(T.DoubleType())),
                T.StructField(NBR, T.ArrayType(T.LongType())),
            ]
        )
    )
    shuffled = np.random.default_rng(0).permutation(n)
    answers = []
    for parts in (1, 2, 3, 8):
        search = whole_class._whole_class_task(
            K, 4, {0: spec}, {0: chosen}, {0: n}, {0: parts}, schema
        )
        found: dict[int, list[int]] = {}
        for part in range(parts):
            group = pa.table(
                {
                    CLASS: pa.array(np.zeros(n, np.int32)),
                    IDX: pa.array(shuffled),
                    X: pa.array(x[shuffled].tolist(), pa.list_(pa.float64())),
                    whole_class._SHARE: pa.array(np.full(n, part, np.int32)),
                }
            )
            out = pa_concat(search(iter(group.to_batches(max_chunksize=700))))
            pairs = zip(out.column(IDX).to_pylist(), out.column(NBR).to_pylist(), strict=True)
            for i, nbrs in pairs:
                assert i not in found
                found[i] = nbrs
        assert_valid(found, n, K)
        answers.append(found)
        assert list(search(iter([]))) == []  # a task dealt no rows answers nothing
    assert all(a == answers[0] for a in answers[1:])
    # A task missing a row of its class (a lost shuffle block would look like this)
    # fails loudly instead of ranking uninitialised features.
    search = whole_class._whole_class_task(K, 4, {0: spec}, {0: chosen}, {0: n + 1}, {0: 1}, schema)
    short = group.set_column(3, whole_class._SHARE, pa.array(np.zeros(n, np.int32)))
    with pytest.raises(RuntimeError, match=r"got 1900 of the 1901 rows of class ordinal 0"):
        list(search(iter(short.to_batches(max_chunksize=700))))


def test_whole_class_search_gives_the_per_table_result_and_report(spark, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Three classes: two searched whole and one per table, against all three per table.
    xs = {0: clusters(900, 5, seed=1), 1: np.ones((700, 5)), 3: clusters(1200, 5, seed=2)}
    rows = [
        (o, len(x), i, [float(v) for v in x[i]], f"id-{o}-{i}")
        for o, x in xs.items()
        for i in range(len(x))
    ]
    points = spark.createDataFrame(rows, f"{POINTS_SCHEMA}, _smote_id string")
    sizes = {o: len(x) for o, x in xs.items()}
    params = LSHParams(bucket_cap=128, sample_size=50)

    def run(plan: SearchPlan):  # type: ignore[no-untyped-def]
        neighbors, report = nearest_neighbors(points, plan, K, 5, seed=4, lsh_params=params)
        return sorted(tuple(r) for r in neighbors.collect()), report.parameters, neighbors.schema

    per_table = run(SearchPlan(sizes, per_table_classes=frozenset(sizes)))
    # The plan made from sizes: classes 0 and 1 fit the whole-class limit, class 3 not;
    # class 1 also fits the one-task tuning limit, class 0 not.
    limits = PlanLimits(
        whole_class_bytes=1000 * 5 * 8, one_task_tuning_bytes=800 * 5 * 8, cell_class_bytes=0
    )
    tuned_apart_plan = plan_search(sizes, K, 5, "lsh", limits)
    assert tuned_apart_plan.whole_classes == {0, 1}
    assert tuned_apart_plan.per_table_classes == {3}
    assert tuned_apart_plan.one_task_tuning == {1}
    mixed = run(
        SearchPlan(
            sizes,
            whole_classes=frozenset({0, 1}),
            per_table_classes=frozenset({3}),
            one_task_tuning=frozenset({0, 1}),
        )
    )
    assert mixed == per_table
    # Class 0 searched whole but tuned over blocks, as the per-table class is, with the
    # same statistics.
    blocked: list[int] = []
    sample_search = tuning.sample_exact_neighbors

    def recorded_sample(rows, indices, *args):  # type: ignore[no-untyped-def]
        blocked.extend(sorted(indices))
        return sample_search(rows, indices, *args)

    monkeypatch.setattr(tuning, "sample_exact_neighbors", recorded_sample)
    tuned_apart = run(tuned_apart_plan)
    assert blocked == [0, 3]
    assert tuned_apart == per_table


@pytest.mark.e2e
def test_search_deals_runs_round_robin_over_its_tasks(spark) -> None:  # type: ignore[no-untyped-def]
    tables, sizes, tasks = {0: 3, 2: 5}, {0: 100, 2: 900}, 4
    runs = spark.createDataFrame(
        [(o, t) for o, n in tables.items() for t in range(n)], f"{CLASS} int, {per_table.TABLE} int"
    )
    if not hasattr(runs, "repartitionById"):
        pytest.skip("Spark 4.0 has no repartitionById: runs are hash-partitioned there")
    placed = (
        place_by_position(runs, tasks, run_order(tables, sizes, per_table.TABLE))
        .select(CLASS, per_table.TABLE, F.spark_partition_id().alias("task"))
        .collect()
    )
    # The larger class first: its tables are runs 0..4, the other class's runs 5..7.
    expected = {(2, t): t % tasks for t in range(5)} | {(0, t): (5 + t) % tasks for t in range(3)}
    assert {(r[CLASS], r[per_table.TABLE]): r["task"] for r in placed} == expected


def test_tuning_recall_is_the_recall_of_the_search_on_its_sample(spark, search_path) -> None:  # type: ignore[no-untyped-def]
    x = clusters(3000, 6, seed=7)
    points = points_of(spark, x)
    params = LSHParams(bucket_cap=64, sample_size=60)
    plan = lsh_plan(len(x), 6, search_path)
    neighbors, report = nearest_neighbors(points, plan, K, 6, seed=3, lsh_params=params)
    found = neighbour_lists(neighbors)
    sample = tuning.sample_indices({0: len(x)}, 60, 3, purpose=0)[0]
    estimated = report.parameters[0]["estimated_recall"]
    measured = recall_of(x, {i: found[i] for i in sample}, K)
    assert abs(estimated - measured) < 1e-3, (estimated, measured)
    assert 0.0 < estimated < 1.0


def test_identical_rows_split_into_bounded_buckets(spark, search_path) -> None:  # type: ignore[no-untyped-def]
    x = np.ones((400, 3))
    params = LSHParams(bucket_cap=48)
    plan = lsh_plan(400, 3, search_path)
    neighbors, report = nearest_neighbors(
        points_of(spark, x), plan, K, 3, seed=1, lsh_params=params
    )
    found = neighbour_lists(neighbors)
    assert_valid(found, 400, K)
    assert report.parameters[0]["bucket_cap"] == 48


def test_rows_in_tiny_buckets_are_completed_to_k(spark, search_path) -> None:  # type: ignore[no-untyped-def]
    x = clusters(300, 4, seed=2)
    params = LSHParams(bucket_width=1e-6, hashes_per_table=4, tables=1, bucket_cap=48)
    plan = lsh_plan(300, 4, search_path)
    neighbors, _ = nearest_neighbors(points_of(spark, x), plan, K, 4, seed=1, lsh_params=params)
    assert_valid(neighbour_lists(neighbors), 300, K)


def test_duplicates_are_neighbours_at_distance_zero(spark, search_path) -> None:  # type: ignore[no-untyped-def]
    base = clusters(200, 3, seed=4)
    x = np.concatenate([base, base[:50]])
    plan = lsh_plan(len(x), 3, search_path)
    neighbors, _ = nearest_neighbors(points_of(spark, x), plan, K, 3, seed=5)
    found = neighbour_lists(neighbors)
    assert_valid(found, len(x), K)
    assert recall_of(x, found, K) >= 0.9


def _labelled(spark, seed: int = 0):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    minority = clusters(300, 4, seed=seed)
    majority = rng.normal(0.0, 8.0, (400, 4))
    rows = [(i, *map(float, r), 1) for i, r in enumerate(minority)]
    rows += [(1000 + i, *map(float, r), 0) for i, r in enumerate(majority)]
    return spark.createDataFrame(rows, ["id", "a", "b", "c", "d", "label"])


@pytest.mark.e2e
def test_lsh_output_is_bit_identical_across_partitionings(spark, search_path) -> None:  # type: ignore[no-untyped-def]
    df = _labelled(spark)
    previous = spark.conf.get("spark.sql.shuffle.partitions")
    results = []
    try:
        for partitions, layout in ((3, lambda d: d.repartition(5)), (11, lambda d: d.coalesce(1))):
            spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
            shuffled = layout(df.orderBy(F.xxhash64("id", F.lit(partitions))))
            sampler = SMOTE(
                label_col="label", seed=9, neighbor_search="lsh", id_col="id", provenance=True
            )
            sampler._plan_limits = search_path
            out = sampler.fit_resample(shuffled)
            results.append(sorted_rows(out))
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", previous)
    assert results[0] == results[1]
    assert len(results[0]) == 800


@pytest.mark.e2e
def test_auto_uses_exact_up_to_threshold_and_lsh_above(spark) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1)
    rows = [(float(v), 0) for v in rng.normal(size=300)]
    rows += [(float(v), 1) for v in rng.normal(size=100)]
    rows += [(float(v), 2) for v in rng.normal(size=40)]
    sampler = SMOTE(label_col="label", seed=2)
    sampler._plan_limits = PlanLimits(auto_exact_max_rows=60)
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


# Over Spark Connect two of the eight cases run again (e2e): between them every layout,
# task split and key kind; the numpy and Spark work compared is the same in either session.
@pytest.mark.parametrize(
    ("layout", "draws_per_task", "id_col"),
    [
        pytest.param(layout, draws, id_col, id=f"{layout}-{tasks}-{keys}", marks=marks)
        for layout in ("columns", "vector")
        for draws, tasks in ((2_000_000, "one task"), (200, "several tasks"))
        for id_col, keys in (("id", "id keys"), (None, "content keys"))
        for marks in [
            [pytest.mark.e2e]
            if (layout, draws, id_col) in {("columns", 200, "id"), ("vector", 2_000_000, None)}
            else []
        ]
    ],
)
def test_rows_drawn_in_the_search_tasks_are_the_rows_drawn_in_spark(
    spark, monkeypatch, layout, draws_per_task, id_col
) -> None:  # type: ignore[no-untyped-def]
    # The fused path also numbers and tunes each class in one task; the other numbers it
    # with Spark's window and tunes in a job of its own.
    from pyspark.ml.functions import array_to_vector

    import spark_smote._smote as smote_module

    rng = np.random.default_rng(5)
    rows = [
        (f"m{i}", *map(float, clusters(1, 3, seed=i)[0]), int(rng.integers(-50, 50)), "yes")
        for i in range(240)
    ]
    rows += [(f"M{i}", *map(float, rng.normal(0, 8, 3)), int(i), "no") for i in range(900)]
    df = spark.createDataFrame(rows, "id string, a double, b double, c double, n int, label string")
    features: str | list[str] = ["a", "b", "c", "n"]
    if layout == "vector":
        df = df.select("id", array_to_vector(F.array("a", "b", "c")).alias("v"), "label")
        features = "v"
    drawn = []
    draw_in_search = smote_module.draw_in_search
    monkeypatch.setattr(
        smote_module,
        "draw_in_search",
        lambda *args, **kwargs: drawn.append(1) or draw_in_search(*args, **kwargs),
    )

    def run(limits: PlanLimits) -> list[tuple]:
        sampler = SMOTE(
            label_col="label",
            features=features,
            seed=8,
            neighbor_search="lsh",
            id_col=id_col,
            synthetic_col="synthetic",
            provenance=id_col is not None,  # provenance names rows by id_col
        )
        sampler._plan_limits = limits
        return sorted_rows(sampler.fit_resample(df))

    in_search = run(PlanLimits(draws_per_search_task=draws_per_task))
    assert drawn == [1]
    # A class too large to number and tune in one task: numbered by Spark's window and
    # tuned over blocks, still drawn in the search's tasks.
    too_large = PlanLimits(draws_per_search_task=draws_per_task, one_task_tuning_bytes=-1)
    assert run(too_large) == in_search
    assert drawn == [1, 1]
    drawn.clear()
    in_spark = run(PlanLimits(draws_per_search_task=draws_per_task, fused_draws=False))
    assert drawn == []
    assert in_search == in_spark
    assert len(in_search) == 1800


def test_numpy_interpolation_is_sparks_bit_for_bit(spark) -> None:  # type: ignore[no-untyped-def]
    from spark_smote._synthesis import _interpolate, interpolate_numpy

    rng = np.random.default_rng(2)
    base = np.concatenate([rng.normal(0, 1e3, (200, 3)), [[-1.7e308, 1.0, 0.0]]])
    neighbor = np.concatenate([rng.normal(0, 1e3, (200, 3)), [[1.7e308, -1.0, 0.0]]])
    lam = rng.random(len(base))
    rows = [
        ([float(v) for v in b], [float(v) for v in n], float(t))
        for b, n, t in zip(base, neighbor, lam, strict=True)
    ]
    df = spark.createDataFrame(rows, "b array<double>, n array<double>, t double")
    between = _interpolate(F.col("t"), overflow_safe=True)
    got = np.array(
        [r[0] for r in df.select(F.zip_with("b", "n", between)).collect()], dtype=np.float64
    )
    expected = interpolate_numpy(base, neighbor, lam)
    assert np.isfinite(expected).all()
    assert got.tobytes() == expected.tobytes()
