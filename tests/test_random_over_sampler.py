"""RandomOverSampler: exact counts, copies of rows of their class, smoothed bootstrap."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest

from spark_smote import InvalidFeatureValuesError, InvalidParameterError, RandomOverSampler
from spark_smote._plan import PlanLimits
from spark_smote._random_over import bandwidth_factor

pytestmark = pytest.mark.e2e


def make_df(spark: Any, n0: int = 200, n1: int = 40, partitions: int = 3) -> Any:
    rng = np.random.default_rng(3)
    rows = [
        (i, float(rng.normal()), float(rng.normal(5, 2)), int(i % 7), f"t{i}", 0) for i in range(n0)
    ]
    rows += [
        (n0 + i, float(rng.normal(3, 0.5)), float(rng.normal(-2, 3)), int(i % 5), f"u{i}", 1)
        for i in range(n1)
    ]
    schema = "id long, a double, b double, k int, tag string, label int"
    return spark.createDataFrame(rows, schema).repartition(partitions)


def test_counts_and_every_added_row_is_a_copy_of_its_class(spark) -> None:
    df = make_df(spark)
    sampler = RandomOverSampler(id_col="id", seed=1, synthetic_col="added")
    out = sampler.fit_resample(df)
    counts = Counter(r.label for r in out.collect())
    assert counts == {0: 200, 1: 200}
    assert sampler.report_.synthetic_counts == {1: 160}
    originals = {(r.a, r.b, r.k, r.tag, r.label) for r in df.collect()}
    added = out.where("added").collect()
    assert len(added) == 160
    assert all(r.id is None for r in added)
    assert all((r.a, r.b, r.k, r.tag, r.label) in originals and r.label == 1 for r in added)
    # Uniform with replacement: many distinct bases, some drawn twice.
    bases = Counter(r.tag for r in added)
    assert len(bases) > 30
    assert max(bases.values()) > 1


def test_output_does_not_depend_on_partitioning(spark) -> None:
    outs = []
    for partitions, shuffle in ((1, "2"), (5, "6")):
        spark.conf.set("spark.sql.shuffle.partitions", shuffle)
        try:
            out = RandomOverSampler(seed=9, shrinkage=0.3).fit_resample(
                make_df(spark, partitions=partitions)
            )
            outs.append(sorted(tuple(r) for r in out.collect()))
        finally:
            spark.conf.set("spark.sql.shuffle.partitions", "4")
    assert outs[0] == outs[1]


def test_broadcast_and_shuffled_lookups_give_the_same_rows(spark) -> None:
    df = make_df(spark)
    outs = []
    for limit in (64 << 20, 0):  # the class rows broadcast to the draws, or both shuffled
        sampler = RandomOverSampler(seed=5, id_col="id", provenance=True)
        sampler._plan_limits = PlanLimits(broadcast_lookup_bytes=limit)
        outs.append(sorted(repr(tuple(r)) for r in sampler.fit_resample(df).collect()))
    assert outs[0] == outs[1]


def test_plain_copies_keep_any_value_as_imbalanced_learn_does(spark) -> None:
    # imbalanced-learn's RandomOverSampler checks X for finite values only when it
    # smooths; plain copies carry null, NaN and infinity through unchanged.
    rows = [(float(i), 1.0, 0) for i in range(20)]
    rows += [(None, float("nan"), 1), (float("inf"), -0.0, 1), (2.0, 3.0, 1)]
    df = spark.createDataFrame(rows, "a double, b double, label int")
    out = RandomOverSampler(seed=1, synthetic_col="added").fit_resample(df)
    added = out.where("added").collect()
    assert len(added) == 17
    originals = {repr((r.a, r.b)) for r in df.where("label = 1").collect()}
    assert {repr((r.a, r.b)) for r in added} <= originals
    assert any(r.a is None for r in added) and any(r.a == float("inf") for r in added)


def test_bad_value_with_shrinkage_fails_before_any_output(spark) -> None:
    rows = [(float(i), 1.0, 0) for i in range(20)] + [(1.0, float(i), 1) for i in range(5)]
    rows[3] = (float("nan"), 1.0, 0)  # a row of the class left alone
    df = spark.createDataFrame(rows, "a double, b double, label int")
    with pytest.raises(InvalidFeatureValuesError, match="'a': 1 row"):
        RandomOverSampler(seed=1, shrinkage=0.5).fit_resample(df)


def test_shrinkage_noise_spread_follows_the_formula(spark) -> None:
    df = make_df(spark, n0=1500, n1=300)
    sampler = RandomOverSampler(
        features=["a", "b"], id_col="id", seed=4, shrinkage={1: 2.0}, provenance=True
    )
    out = sampler.fit_resample(df)
    rows = df.where("label = 1").collect()
    by_id = {r.id: (r.a, r.b) for r in rows}
    added = out.where("smote_base_id is not null").collect()
    assert len(added) == 1200
    noise = np.array(
        [(r.a - by_id[r.smote_base_id][0], r.b - by_id[r.smote_base_id][1]) for r in added]
    )
    std = np.array([(r.a, r.b) for r in rows]).std(axis=0)
    expected = 2.0 * std * bandwidth_factor(1800, 2)
    np.testing.assert_allclose(sampler.report_.noise_scale[1], expected, rtol=1e-9)
    # 1200 normal draws: the sample std is within about 3 x 2 % of the true one.
    np.testing.assert_allclose(noise.std(axis=0), expected, rtol=0.07)
    assert abs(noise.mean(axis=0) / expected).max() < 0.1
    # Integer feature columns would be rounded; k is not a feature here: copied.
    assert {r.k for r in added} <= set(range(5))


def test_shrinkage_errors(spark) -> None:
    with pytest.raises(InvalidParameterError, match="shrinkage=-1"):
        RandomOverSampler(shrinkage=-1)
    with pytest.raises(InvalidParameterError, match="no factor for the classes to grow"):
        RandomOverSampler(shrinkage={0: 1.0}, seed=1).fit_resample(make_df(spark, 20, 5))
