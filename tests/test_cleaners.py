"""TomekLinks, EditedNearestNeighbours, SMOTETomek and SMOTEENN against imbalanced-learn.

Exact search: the rows kept are exactly those imbalanced-learn keeps (compared by an
id column, or as rows for the combinations' synthetic rows), binary and multi-class,
several strategies. Also: the schema is the input's, output independent of
partitioning, LSH agreement reported, and the errors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from imblearn.under_sampling import EditedNearestNeighbours as ImbENN
from imblearn.under_sampling import TomekLinks as ImbTomek

from spark_smote import (
    SMOTE,
    SMOTEENN,
    EditedNearestNeighbours,
    InvalidInputError,
    InvalidParameterError,
    SMOTETomek,
    TomekLinks,
)

pytestmark = pytest.mark.e2e


def overlapping(n: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping Gaussian classes (continuous values: no tied distances)."""
    rng = np.random.default_rng(seed)
    weights = np.linspace(3, 1, classes)
    y = rng.choice(classes, size=n, p=weights / weights.sum())
    x = rng.normal(size=(n, 3)) + y[:, None] * 0.9
    return x, y.astype(np.int64)


def as_df(spark: Any, x: np.ndarray, y: np.ndarray, partitions: int = 3) -> Any:
    rows = [(i, *map(float, row), int(c)) for i, (row, c) in enumerate(zip(x, y, strict=True))]
    schema = "id long, a double, b double, c double, label int"
    return spark.createDataFrame(rows, schema).repartition(partitions)


def kept_ids(out: Any) -> list[int]:
    return sorted(r.id for r in out.select("id").collect())


@pytest.fixture(scope="module")
def data(spark: Any) -> dict[str, Any]:
    binary = overlapping(240, 2, 1)
    multi = overlapping(300, 3, 2)
    return {
        "binary": (*binary, as_df(spark, *binary)),
        "multi": (*multi, as_df(spark, *multi)),
    }


@pytest.mark.parametrize(
    ("which", "strategy"),
    [("binary", "auto"), ("binary", "all"), ("multi", "majority"), ("multi", "not majority")],
)
def test_tomek_keeps_the_rows_imbalanced_learn_keeps(data, which, strategy) -> None:
    x, y, df = data[which]
    reference = ImbTomek(sampling_strategy=strategy)
    reference.fit_resample(x, y)
    sampler = TomekLinks(id_col="id", sampling_strategy=strategy, seed=1)
    out = sampler.fit_resample(df)
    assert kept_ids(out) == sorted(reference.sample_indices_.tolist())
    assert out.schema == df.schema
    report = sampler.report_
    assert sum(report.class_counts_after.values()) == len(reference.sample_indices_)
    assert report.search.method == "exact"


@pytest.mark.parametrize(
    ("which", "kind_sel", "strategy"),
    [
        ("binary", "all", "auto"),
        ("binary", "mode", "all"),
        ("multi", "all", "all"),
        ("multi", "mode", "auto"),
        ("multi", "mode", [0, 2]),
    ],
)
def test_enn_keeps_the_rows_imbalanced_learn_keeps(data, which, kind_sel, strategy) -> None:
    x, y, df = data[which]
    reference = ImbENN(sampling_strategy=strategy, kind_sel=kind_sel, n_neighbors=4)
    reference.fit_resample(x, y)
    sampler = EditedNearestNeighbours(
        id_col="id", sampling_strategy=strategy, kind_sel=kind_sel, n_neighbors=4, seed=1
    )
    out = sampler.fit_resample(df)
    assert kept_ids(out) == sorted(reference.sample_indices_.tolist())
    removed = {
        c: int((y == c).sum() - (y[reference.sample_indices_] == c).sum()) for c in (0, 1, 2)
    }
    assert sampler.report_.removed_counts == {c: n for c, n in removed.items() if c in set(y)}


def test_content_keys_give_the_same_rows_and_schema(spark, data) -> None:
    """Without id_col rows are keyed by label and features; nullability kept."""
    x, y, _ = data["multi"]
    rows = [(*map(float, row), int(c)) for row, c in zip(x, y, strict=True)]
    df = spark.createDataFrame(rows, "a double not null, b double, c double, label int not null")
    out = EditedNearestNeighbours(kind_sel="mode", seed=2).fit_resample(df)
    assert out.schema == df.schema
    reference = ImbENN(kind_sel="mode")
    x_kept, _ = reference.fit_resample(x, y)
    assert sorted(tuple(r)[:3] for r in out.collect()) == sorted(map(tuple, x_kept.tolist()))


def test_output_does_not_depend_on_partitioning(spark, data) -> None:
    x, y, _ = data["multi"]
    outs = []
    previous = spark.conf.get("spark.sql.shuffle.partitions")
    for partitions, shuffle in ((1, "2"), (5, "7")):
        spark.conf.set("spark.sql.shuffle.partitions", shuffle)
        try:
            df = as_df(spark, x[::-1], y[::-1], partitions)
            outs.append(kept_ids(TomekLinks(id_col="id", seed=3).fit_resample(df)))
        finally:
            spark.conf.set("spark.sql.shuffle.partitions", previous)
    assert outs[0] == outs[1]


def _smote_output_as_numpy(out: Any) -> tuple[np.ndarray, np.ndarray]:
    rows = out.select("a", "b", "c", "label").collect()
    return np.array([r[:3] for r in rows]), np.array([r[3] for r in rows])


@pytest.mark.parametrize("combination", ["tomek", "enn"])
def test_combinations_equal_imbalanced_learns_cleaner_on_our_smote(data, combination) -> None:
    df = data["multi"][2]
    smote = SMOTE(features=["a", "b", "c"], k_neighbors=4, seed=5)
    smoted = smote.fit_resample(df)
    xs, ys = _smote_output_as_numpy(smoted)
    if combination == "tomek":
        sampler: Any = SMOTETomek(smote=smote)
        reference: Any = ImbTomek(sampling_strategy="all")
    else:
        sampler = SMOTEENN(
            smote=smote, enn=EditedNearestNeighbours(kind_sel="mode", sampling_strategy="all")
        )
        reference = ImbENN(sampling_strategy="all", kind_sel="mode")
    x_kept, y_kept = reference.fit_resample(xs, ys)
    out = sampler.fit_resample(df)
    found = sorted((*r[:3], r[3]) for r in out.select("a", "b", "c", "label").collect())
    expected = sorted((*row, int(c)) for row, c in zip(x_kept.tolist(), y_kept, strict=True))
    assert found == expected
    report = sampler.report_
    assert report.synthetic_counts == smote.report_.synthetic_counts
    assert sum(report.class_counts_after.values()) == len(expected)
    assert sum(report.removed_counts.values()) == len(ys) - len(expected)


def test_combination_parameters_round_trip(tmp_path) -> None:
    sampler = SMOTEENN(
        smote=SMOTE(label_col="y", seed=4), enn=EditedNearestNeighbours(n_neighbors=5)
    )
    params = sampler.get_params()
    assert params["smote"]["class"] == "SMOTE"
    assert params["enn"] == {"class": "EditedNearestNeighbours", "params": params["enn"]["params"]}
    copy = SMOTEENN(**params)
    assert copy.get_params() == params
    sampler.save(tmp_path / "c.json")
    assert SMOTEENN.load(tmp_path / "c.json").get_params() == params
    cleaner = copy.params.cleaner()
    assert (cleaner.params.label_col, cleaner.params.n_neighbors, cleaner.params.seed) == (
        "y",
        5,
        4,
    )
    default = SMOTETomek(smote=SMOTE(id_col="id", seed=1)).params.cleaner()
    assert (default.params.sampling_strategy, default.params.id_col) == ("all", "id")


def test_errors() -> None:
    with pytest.raises(InvalidParameterError, match="kind_sel='most'"):
        EditedNearestNeighbours(kind_sel="most")
    with pytest.raises(InvalidParameterError, match="label_col='target' disagrees"):
        SMOTEENN(smote=SMOTE(label_col="y"), enn=EditedNearestNeighbours(label_col="target"))
    with pytest.raises(InvalidParameterError, match="id_col"):
        SMOTETomek(smote=SMOTE(id_col="id"), tomek=TomekLinks(id_col="other"))
    with pytest.raises(InvalidParameterError, match="minority"):
        TomekLinks(sampling_strategy="minority")


def test_a_strategy_naming_an_unknown_class_is_refused(data) -> None:
    _, _, df = data["binary"]
    with pytest.raises(InvalidParameterError, match="not present"):
        TomekLinks(sampling_strategy=[0, 7], seed=1).fit_resample(df)
    with pytest.raises(InvalidInputError, match="n_neighbors=400"):
        EditedNearestNeighbours(n_neighbors=400, seed=1).fit_resample(df)


def test_lsh_agreement_is_measured_and_reported(spark) -> None:
    x, y = overlapping(3000, 2, 7)
    df = as_df(spark, x, y, 4)
    sampler = EditedNearestNeighbours(id_col="id", neighbor_search="lsh", seed=11)
    out = sampler.fit_resample(df)
    report = sampler.report_
    assert report.search.method == "lsh"
    assert report.agreement_sample == 1000
    assert report.lsh_agreement is not None and report.lsh_agreement >= 0.97
    assert report.lsh_agreement == report.agreement_removed_both / report.agreement_removed_exact
    reference = ImbENN()
    reference.fit_resample(x, y)
    exact = set(range(len(y))) - set(reference.sample_indices_.tolist())
    removed = set(range(len(y))) - set(kept_ids(out))
    assert len(exact & removed) / len(exact) >= 0.97


def test_tomek_agreement_counts_the_links_exact_search_finds(spark) -> None:
    # 800 rows: the 1000-row agreement sample is every row, so exact search's removals
    # in it are imbalanced-learn's, though only rows with a nearest row of another
    # class (and those rows) are searched a second time.
    x, y = overlapping(800, 2, 5)
    sampler = TomekLinks(id_col="id", sampling_strategy="all", neighbor_search="lsh", seed=2)
    out = sampler.fit_resample(as_df(spark, x, y))
    report = sampler.report_
    reference = ImbTomek(sampling_strategy="all")
    reference.fit_resample(x, y)
    exact = set(range(len(y))) - set(reference.sample_indices_.tolist())
    assert report.agreement_sample == len(y)
    assert report.agreement_removed_exact == len(exact) > 0
    removed = set(range(len(y))) - set(kept_ids(out))
    assert report.agreement_removed_both == len(exact & removed)


def test_tomek_agreement_is_not_measured_when_the_classes_do_not_touch(spark) -> None:
    rng = np.random.default_rng(4)
    y = np.repeat(np.array([0, 1], np.int64), [300, 100])
    x = rng.normal(size=(400, 3)) + y[:, None] * 20.0
    sampler = TomekLinks(id_col="id", neighbor_search="lsh", seed=2)
    out = sampler.fit_resample(as_df(spark, x, y))
    assert out.count() == 400
    assert sampler.report_.agreement_sample == 400
    assert sampler.report_.agreement_removed_exact == 0
    assert sampler.report_.lsh_agreement is None
