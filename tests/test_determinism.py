"""Same input rows, parameters and seed give the same output rows, bit for bit.

Whatever the shuffle partitions, the input partitioning or the row order; with and
without ``id_col``. The data has many exact duplicates and distance ties, where an
order-dependent choice would show.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import numpy as np
import pytest

from spark_smote import SMOTE
from spark_smote._plan import PlanLimits
from spark_smote._search.kernels import block_top_k
from tests.helpers import sorted_rows

COLUMNS = ["id", "x", "y", "label"]


def tie_heavy_rows() -> list[tuple]:
    """(id, x, y, label): the minority has 25 and 10 identical rows and a unit lattice."""
    minority = [(1.0, 1.0)] * 25 + [(2.0, 2.0)] * 10
    minority += [(float(3 + i % 5), float(3 + i // 5)) for i in range(25)]
    majority = [(float(i % 15) / 3.0, float(i // 15) / 2.0 - 9.0) for i in range(150)]
    rows = [(i, x, y, "minor") for i, (x, y) in enumerate(minority)]
    rows += [(1000 + i, x, y, "major") for i, (x, y) in enumerate(majority)]
    return rows


def resample(df, seed=21, id_col=None):
    sampler = SMOTE(
        label_col="label",
        features=["x", "y"],
        k_neighbors=5,
        sampling_strategy={"minor": 300},
        seed=seed,
        id_col=id_col,
        synthetic_col="is_synthetic",
        provenance=id_col is not None,  # provenance names rows by id_col
    )
    return sorted_rows(sampler.fit_resample(df)), sampler


@pytest.fixture
def shuffle_partitions(spark) -> Iterator[object]:
    """Set spark.sql.shuffle.partitions for one test, then restore it."""
    key = "spark.sql.shuffle.partitions"
    before = spark.conf.get(key)

    def set_partitions(n: int) -> None:
        spark.conf.set(key, str(n))

    yield set_partitions
    spark.conf.set(key, before)


@pytest.fixture(scope="module")
def rows() -> list[tuple]:
    return tie_heavy_rows()


@pytest.mark.e2e
@pytest.mark.parametrize("id_col", [None, "id"], ids=["content_keys", "id_col"])
def test_same_rows_under_any_shuffle_partitions(spark, rows, shuffle_partitions, id_col):
    df = spark.createDataFrame(rows, COLUMNS)
    expected, _ = resample(df, id_col=id_col)
    for n in (1, 7):
        shuffle_partitions(n)
        assert resample(df, id_col=id_col)[0] == expected, f"shuffle partitions {n}"


@pytest.mark.e2e
@pytest.mark.parametrize("id_col", [None, "id"], ids=["content_keys", "id_col"])
def test_same_rows_under_any_input_partitioning_and_row_order(spark, rows, id_col):
    expected, _ = resample(spark.createDataFrame(rows, COLUMNS), id_col=id_col)
    shuffled = rows[:]
    random.Random(5).shuffle(shuffled)
    reversed_rows = rows[::-1]
    variants = {
        "one partition": spark.createDataFrame(rows, COLUMNS).coalesce(1),
        "five partitions": spark.createDataFrame(rows, COLUMNS).repartition(5),
        "shuffled": spark.createDataFrame(shuffled, COLUMNS).repartition(3, "x"),
        "reversed": spark.createDataFrame(reversed_rows, COLUMNS).repartition(2),
    }
    for name, df in variants.items():
        assert resample(df, id_col=id_col)[0] == expected, name


@pytest.mark.e2e
def test_different_seeds_give_different_rows(spark, rows):
    df = spark.createDataFrame(rows, COLUMNS)
    first, _ = resample(df, seed=1)
    second, _ = resample(df, seed=2)
    assert len(first) == len(second)
    assert first != second


@pytest.mark.e2e
def test_seed_none_is_reported_and_reproduces(spark, rows):
    df = spark.createDataFrame(rows, COLUMNS)
    drawn, sampler = resample(df, seed=None)
    report = sampler.report_
    assert report is not None
    assert not report.seed_was_given
    assert isinstance(report.seed, int)
    again, again_sampler = resample(df, seed=report.seed)
    assert again_sampler.report_.seed_was_given
    assert again == drawn


@pytest.fixture
def many_index_buckets_and_blocks(monkeypatch) -> None:
    """Index the classes in several buckets and search them in several blocks."""
    limits = PlanLimits(exact_block_rows=16, rows_per_index_bucket=12)
    monkeypatch.setattr(SMOTE, "_plan_limits", limits)


@pytest.mark.e2e
@pytest.mark.usefixtures("many_index_buckets_and_blocks")
@pytest.mark.parametrize("id_col", [None, "id"], ids=["content_keys", "id_col"])
def test_same_rows_with_bucketed_index_and_blocked_search(spark, rows, shuffle_partitions, id_col):
    shuffled = rows[:]
    random.Random(9).shuffle(shuffled)
    expected, sampler = resample(spark.createDataFrame(rows, COLUMNS), id_col=id_col)
    assert sampler.report_.neighbor_parameters["minor"]["blocks"] == 4
    for n, parts in ((1, 4), (5, 1)):
        shuffle_partitions(n)
        df = spark.createDataFrame(shuffled, COLUMNS).repartition(parts)
        assert resample(df, id_col=id_col)[0] == expected, (n, parts)


def test_neighbour_search_of_a_block_does_not_depend_on_row_order():
    # 25 and 10 identical rows: more ties than the fast ranking keeps candidates for.
    x = np.array(
        [[1.0, 1.0]] * 25 + [[2.0, 2.0]] * 10 + [[3.0 + i % 5, 3.0 + i // 5] for i in range(25)]
    )
    idx = np.arange(len(x), dtype=np.int64) * 2 + 5
    expected_neighbors, expected_distances = block_top_k(x, idx, x, idx, 5)
    assert list(expected_neighbors[0]) == [7, 9, 11, 13, 15]  # ties go to the smaller index
    rng = np.random.default_rng(1)
    for _ in range(5):
        order = rng.permutation(len(x))
        neighbors, distances = block_top_k(x[order], idx[order], x[order], idx[order], 5)
        assert np.array_equal(neighbors, expected_neighbors[order])
        assert np.array_equal(distances, expected_distances[order])


def test_numpy_draws_are_the_spark_plans_draws_bit_for_bit(spark) -> None:  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    from spark_smote._random import uniform_column, uniform_column_numpy

    counters = np.array([0, 1, 2, 65_535, 2**40 + 7, 2**63 - 1, -5], np.int64)
    table = spark.createDataFrame([(int(c),) for c in counters], "c long")
    keys = [(1, 1, 0), (0, 3, 7), (2**62 + 11, 2, 123_456), (-3, 1, 2**31 - 1)]
    for seed, stream, ordinal in keys:
        drawn = uniform_column(seed, stream, F.lit(ordinal).cast("int"), F.col("c"))
        in_spark = np.array([r[0] for r in table.select(drawn).collect()])
        assert in_spark.tobytes() == uniform_column_numpy(seed, stream, ordinal, counters).tobytes()


@pytest.mark.parametrize("id_col", [None, "id"], ids=["content_keys", "id_col"])
def test_numpy_numbering_is_the_window_numbering(spark, rows, id_col) -> None:  # type: ignore[no-untyped-def]
    # class_order numbers a class held by one task as build_points' window does,
    # duplicated rows included (25 and 10 identical minority rows).
    from spark_smote._features import resolve_layout
    from spark_smote._keys import (
        HASH,
        ID,
        IDX,
        ClassPlan,
        X,
        build_points,
        class_order,
        keyed_rows,
    )
    from spark_smote._params import SMOTEParams

    df = spark.createDataFrame(rows, COLUMNS)
    params = SMOTEParams.build(label_col="label", features=["x", "y"], id_col=id_col, seed=1)
    layout = resolve_layout(df.schema, params)
    plans = [ClassPlan("minor", 1, 60, 240)]
    key = ID if id_col else X
    windowed = build_points(df, plans, layout, params, {1: 60}).select(IDX, key).collect()
    by_window = [row[key] for row in sorted(windowed, key=lambda row: row[IDX])]
    keyed = keyed_rows(df, plans, layout, params).toArrow()
    keys = keyed.column(key).combine_chunks()
    order = class_order(keyed.column(HASH).to_numpy(), keys)
    assert [keys[int(i)].as_py() for i in order] == by_window
    assert sorted(order.tolist()) == list(range(60))


def test_classes_found_by_label_case_are_those_of_the_class_table_join(spark) -> None:  # type: ignore[no-untyped-def]
    # Up to PlanLimits.case_max_classes grown classes the keys pass finds a row's class by a CASE
    # over the labels, above by a join with the class table: the same rows either way,
    # rows flagged by the value check kept whatever their class.
    import spark_smote._keys as keys
    from spark_smote._features import BAD_ROW, resolve_layout, row_checks
    from spark_smote._params import SMOTEParams

    data = [(float(i), float(i % 7), ["a", "b", "c"][i % 3]) for i in range(90)]
    data += [(float("nan"), 1.0, "a"), (None, 2.0, "c"), (3.0, float("inf"), "b")]
    df = spark.createDataFrame(data, "x double, y double, label string")
    params = SMOTEParams.build(label_col="label", features=["x", "y"], seed=1)
    layout = resolve_layout(df.schema, params)
    plans = [keys.ClassPlan(label, i, 31, 9 if i else 0) for i, label in enumerate("abc")]

    def keyed(flagged: bool, by_case: bool) -> list[tuple]:
        checks = row_checks(layout) if flagged else None
        out = keys.keyed_rows(
            df,
            plans,
            layout,
            params,
            checks=checks,
            keep_flagged=BAD_ROW if flagged else None,
            by_label_case=by_case,
        )
        return sorted(tuple(map(repr, row)) for row in out.collect())

    for flagged in (False, True):
        by_case = keyed(flagged, by_case=True)
        by_join = keyed(flagged, by_case=False)
        assert by_case == by_join
        # Classes b and c (31 rows each, one bad in each) plus, when flagged, a's bad row.
        assert len(by_case) == (63 if flagged else 62)
