"""Borderline-SMOTE and ADASYN against imbalanced-learn 0.14, exact search.

Small data with overlapping classes; every synthetic row is checked through its
provenance (``id_col``): it lies on its segment, its base is in imbalanced-learn's
danger set (Borderline) and its neighbour is among the right k nearest rows (sklearn's
NearestNeighbors, ties allowed). Counts are exact; ADASYN's per-row counts are within 1
of their real-valued share. Plus determinism, the errors, and the command line.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from imblearn.over_sampling import BorderlineSMOTE as ImbBorderlineSMOTE
from sklearn.neighbors import NearestNeighbors

from spark_smote import ADASYN, BorderlineSMOTE, InvalidInputError
from tests._reliability import batch_cases
from tests.helpers import sorted_rows

pytestmark = pytest.mark.e2e

FEATURES = ["a", "b", "c"]


def overlapping(counts: dict[int, int], seed: int = 0) -> pd.DataFrame:
    """Gaussian classes whose centres are 1 apart in each feature (they overlap)."""
    rng = np.random.default_rng(seed)
    parts = [
        pd.DataFrame(rng.normal(float(label), 1.0, (n, 3)), columns=FEATURES).assign(label=label)
        for label, n in counts.items()
    ]
    frame = pd.concat(parts, ignore_index=True)
    return frame.assign(id=np.arange(len(frame), dtype=np.int64))[["id", *FEATURES, "label"]]


BINARY = overlapping({0: 300, 1: 45})
THREE = overlapping({0: 240, 1: 60, 2: 40}, seed=1)


def resample(spark: Any, frame: pd.DataFrame, sampler: Any) -> pd.DataFrame:
    out = sampler.fit_resample(spark.createDataFrame(frame))
    return out.toPandas()


def synthetic_rows(out: pd.DataFrame) -> pd.DataFrame:
    synthetic = out[out["smote_lambda"].notna()].reset_index(drop=True)
    ids = ["smote_base_id", "smote_neighbor_id"]
    return synthetic.astype(dict.fromkeys(ids, "int64"))


def within_k_nearest(
    frame: pd.DataFrame, base_ids: np.ndarray, neighbor_ids: np.ndarray, k: int, own: bool
) -> bool:
    """Whether each neighbour is among its base's k nearest (own class or all), ties allowed."""
    x = frame[FEATURES].to_numpy()
    labels = frame["label"].to_numpy()
    for base, neighbor in zip(base_ids, neighbor_ids, strict=True):
        pool = np.flatnonzero(labels == labels[base]) if own else np.arange(len(frame))
        pool = pool[pool != base]
        distances = np.sqrt(((x[pool] - x[base]) ** 2).sum(axis=1))
        kth = np.sort(distances)[k - 1]
        if np.sqrt(((x[neighbor] - x[base]) ** 2).sum()) > kth + 1e-12:
            return False
    return True


def on_segments(frame: pd.DataFrame, synthetic: pd.DataFrame) -> None:
    x = frame.set_index("id")[FEATURES]
    base = x.loc[synthetic["smote_base_id"]].to_numpy()
    neighbor = x.loc[synthetic["smote_neighbor_id"]].to_numpy()
    step = synthetic["smote_lambda"].to_numpy()[:, None]
    np.testing.assert_allclose(
        synthetic[FEATURES].to_numpy(), base + step * (neighbor - base), rtol=0, atol=1e-12
    )
    assert ((step >= 0) & (step < 1)).all()


def sampler_kwargs(**extra: Any) -> dict[str, Any]:
    return dict(
        label_col="label",
        features=FEATURES,
        id_col="id",
        provenance=True,
        seed=11,
        neighbor_search="exact",
        **extra,
    )


# --- Borderline-SMOTE ---------------------------------------------------------------


@pytest.fixture(scope="module")
def borderline(spark: Any) -> dict[str, tuple[Any, pd.DataFrame]]:
    """Each kind on the three-class data, asking many rows so every danger row is drawn."""
    runs = {}
    strategy = {1: 1500, 2: 1500}
    for kind in ("borderline-1", "borderline-2"):
        sampler = BorderlineSMOTE(**sampler_kwargs(kind=kind, sampling_strategy=strategy))
        runs[kind] = (sampler, resample(spark, THREE, sampler))
    return runs


@pytest.mark.parametrize("kind", ["borderline-1", "borderline-2"])
def test_borderline_danger_set_and_counts_match_imblearn(
    borderline: dict[str, tuple[Any, pd.DataFrame]], kind: str
) -> None:
    sampler, out = borderline[kind]
    danger = imblearn_danger(THREE, 10)
    synthetic = synthetic_rows(out)
    for label in (1, 2):
        bases = set(synthetic.loc[synthetic["label"] == label, "smote_base_id"].tolist())
        assert bases == danger[label]
        assert sampler.report_.danger_counts[label] == len(danger[label])
    assert Counter(out["label"]) == {0: 240, 1: 1500, 2: 1500}
    assert sampler.report_.synthetic_counts == {1: 1440, 2: 1460}


def imblearn_danger(frame: pd.DataFrame, m: int) -> dict[int, set[int]]:
    """imbalanced-learn's danger sets of classes 1 and 2 (each grown, one-vs-rest)."""
    sampler = ImbBorderlineSMOTE(m_neighbors=m, sampling_strategy={1: 100, 2: 100}, random_state=0)
    sampler.fit_resample(frame[FEATURES].to_numpy(), frame["label"].to_numpy())
    ids = frame["id"].to_numpy()
    return {int(c): set(ids[i].tolist()) for c, i in sampler.in_danger_indices.items()}


@pytest.mark.parametrize("kind", ["borderline-1", "borderline-2"])
def test_borderline_rows_lie_on_segments_to_their_k_nearest(
    borderline: dict[str, tuple[Any, pd.DataFrame]], kind: str
) -> None:
    _, out = borderline[kind]
    synthetic = synthetic_rows(out)
    on_segments(THREE, synthetic)
    base = synthetic["smote_base_id"].to_numpy()
    neighbor = synthetic["smote_neighbor_id"].to_numpy()
    assert within_k_nearest(THREE, base, neighbor, 5, own=kind == "borderline-1")
    labels = THREE.set_index("id")["label"]
    other = labels.loc[neighbor].to_numpy() != synthetic["label"].to_numpy()
    if kind == "borderline-1":
        assert not other.any()
    else:
        assert other.any()
        assert (synthetic["smote_lambda"].to_numpy()[other] < 0.5).all()


def test_borderline_with_no_danger_row_warns_and_reports(
    spark: Any, caplog: pytest.LogCaptureFixture
) -> None:
    frame = overlapping({0: 60, 1: 12})
    frame.loc[frame["label"] == 1, FEATURES] += 50.0  # far apart: no row in danger
    sampler = BorderlineSMOTE(**sampler_kwargs())
    with caplog.at_level(logging.WARNING, logger="spark_smote"):
        out = resample(spark, frame, sampler)
    assert len(out) == len(frame)
    assert "adds no rows to class 1" in caplog.text
    assert "no row in danger" in sampler.report_.skipped_classes[1]
    assert sampler.report_.synthetic_counts == {}


# --- ADASYN -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def adasyn_run(spark: Any) -> tuple[Any, pd.DataFrame]:
    sampler = ADASYN(**sampler_kwargs())
    return sampler, resample(spark, BINARY, sampler)


def test_adasyn_per_row_counts_follow_the_ratios(adasyn_run: tuple[Any, pd.DataFrame]) -> None:
    sampler, out = adasyn_run
    synthetic = synthetic_rows(out)
    n_new = 300 - 45
    assert len(synthetic) == n_new
    x, labels = BINARY[FEATURES].to_numpy(), BINARY["label"].to_numpy()
    minority = np.flatnonzero(labels == 1)
    found = NearestNeighbors(n_neighbors=6).fit(x).kneighbors(x[minority], return_distance=False)
    ratio = (labels[found[:, 1:]] != 1).sum(axis=1) / 5
    share = ratio / ratio.sum() * n_new
    made = synthetic["smote_base_id"].value_counts().reindex(minority, fill_value=0).to_numpy()
    assert (np.abs(made - share) < 1).all()
    assert sampler.report_.ratio_sums == {1: pytest.approx(ratio.sum())}
    on_segments(BINARY, synthetic)
    base = synthetic["smote_base_id"].to_numpy()
    assert within_k_nearest(BINARY, base, synthetic["smote_neighbor_id"].to_numpy(), 5, True)


def test_adasyn_multiclass_counts_are_exact(spark: Any) -> None:
    out = resample(spark, THREE, ADASYN(**sampler_kwargs()))
    assert Counter(out["label"]) == {0: 240, 1: 240, 2: 240}


def test_same_rows_whatever_the_partitioning(spark: Any) -> None:
    frame = spark.createDataFrame(BINARY)
    first = BorderlineSMOTE(**sampler_kwargs(kind="borderline-2")).fit_resample(frame)
    expected = sorted_rows(first)
    previous = spark.conf.get("spark.sql.shuffle.partitions")
    spark.conf.set("spark.sql.shuffle.partitions", "7")
    try:
        shuffled = frame.repartition(5).sortWithinPartitions("b")
        again = BorderlineSMOTE(**sampler_kwargs(kind="borderline-2")).fit_resample(shuffled)
        assert sorted_rows(again) == expected
        adasyn_a = ADASYN(**sampler_kwargs()).fit_resample(shuffled)
        adasyn_rows = sorted_rows(adasyn_a)
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", previous)
    assert sorted_rows(ADASYN(**sampler_kwargs()).fit_resample(frame)) == adasyn_rows


# --- errors -------------------------------------------------------------------------


def test_borderline_1_refuses_a_class_smaller_than_k_plus_one(spark: Any) -> None:
    frame = overlapping({0: 40, 1: 4})
    with pytest.raises(InvalidInputError, match=r"k_neighbors=5: with kind='borderline-1'"):
        BorderlineSMOTE(**sampler_kwargs()).fit_resample(spark.createDataFrame(frame))


def test_adasyn_refuses_a_class_with_no_other_label_near(spark: Any) -> None:
    frame = overlapping({0: 60, 1: 12})
    frame.loc[frame["label"] == 1, FEATURES] += 50.0
    with pytest.raises(InvalidInputError, match=r"class 1 .*Use SMOTE"):
        ADASYN(**sampler_kwargs()).fit_resample(spark.createDataFrame(frame))


# --- command line -------------------------------------------------------------------


def minority_other_counts(frame: pd.DataFrame, m: int) -> np.ndarray:
    """Rows of class 0 among each class-1 row's m nearest rows (itself excluded)."""
    x, labels = frame[FEATURES].to_numpy(), frame["label"].to_numpy()
    minority = np.flatnonzero(labels == 1)
    found = NearestNeighbors(n_neighbors=m + 1).fit(x).kneighbors(x[minority])[1]
    return np.asarray((labels[found[:, 1:]] != 1).sum(axis=1))


# Last in the shared batch: these command lines take the built-in configuration (no
# --config, and the batch's folder has no conf/local.toml), whose runtime SQL settings
# then stay set in the batch's session.
@batch_cases(order=2)
def variant_cases(folder: Path) -> list[dict[str, Any]]:
    source = folder / "in.parquet"
    BINARY.to_parquet(source)
    cases = []
    for sampler in ("borderline-1", "borderline-2", "adasyn"):
        argv = ["--input", str(source), "--output", str(folder / sampler)]
        argv += ["--label-col", "label", "--features", "a,b,c", "--seed", "3"]
        argv += ["--sampler", sampler, "--master", "local[2]"]
        argv += ["--m-neighbors", "8"] if sampler != "adasyn" else ["--n-neighbors", "4"]
        cases.append({"name": sampler, "argv": argv})
    return cases


# The command line builds its own classic session in a subprocess (--master): the
# Connect pass has nothing to add, and its environment would make pyspark expect a remote.
@pytest.mark.classic_only
def test_cli_runs_each_variant(spark: Any, cli_batch: dict[str, Any]) -> None:
    tmp_path, results = cli_batch[__name__]
    for sampler in ("borderline-1", "borderline-2", "adasyn"):
        assert results[sampler]["exit"] == 0, results[sampler]
        written = spark.read.parquet(str(tmp_path / sampler)).toPandas()
        assert Counter(written["label"]) == {0: 300, 1: 300}
    # The JSON report and the printed line carry each sampler's own decisions.
    other = minority_other_counts(BINARY, 8)
    danger = int(((2 * other >= 8) & (other < 8)).sum())
    for sampler in ("borderline-1", "borderline-2"):
        own = json.loads((tmp_path / sampler / "_smote_report.json").read_text())
        assert own["sampler_report"]["danger_counts"] == {"1": danger}
        assert own["sampler_report"]["skipped_classes"] == {}
        assert own["sampler_report"]["cross_search"]["method"] == "exact"
        assert own["sampler_report"]["cross_search"]["k"] == 8
        line = f"BorderlineSMOTE report: danger_counts={{1: {danger}}}, noise_counts={{1: "
        assert line in results[sampler]["stdout"]
    own = json.loads((tmp_path / "adasyn" / "_smote_report.json").read_text())
    ratio_sum = float(minority_other_counts(BINARY, 4).sum() / 4)
    assert own["sampler_report"]["ratio_sums"]["1"] == pytest.approx(ratio_sum)
    assert own["sampler_report"]["classification_agreement"] is None
    assert f"ADASYN report: ratio_sums={{1: {ratio_sum:.4g}}}" in results["adasyn"]["stdout"]


def test_lsh_reports_its_agreement_with_exact_search(spark: Any) -> None:
    kwargs = {**sampler_kwargs(kind="borderline-2"), "neighbor_search": "lsh"}
    sampler = BorderlineSMOTE(**kwargs)
    out = resample(spark, BINARY, sampler)
    report = sampler.report_
    assert report.cross_search["method"] == "lsh"
    assert report.agreement_sample == 45  # every minority row (fewer than the sample size)
    assert report.classification_agreement >= 0.9
    assert Counter(out["label"]) == {0: 300, 1: 300}


# A quality figure of the search over 11,500 rows, the same numpy work in either session;
# the Connect pass runs Borderline-SMOTE's LSH path in the test above, and the cross-class
# LSH search both samplers call in tests/test_cross_search.py, on less data.
@pytest.mark.classic_only
@pytest.mark.parametrize("sampler_class", [BorderlineSMOTE, ADASYN])
def test_lsh_defaults_classify_as_exact_search_does(spark: Any, sampler_class: Any) -> None:
    """With default LSH settings at least 98% of sampled rows get exact search's class."""
    rng = np.random.default_rng(5)
    columns = [f"f{j}" for j in range(6)]
    parts = [
        pd.DataFrame(rng.normal(float(label), 1.0, (n, 6)), columns=columns).assign(label=label)
        for label, n in {0: 10_000, 1: 1_500}.items()
    ]
    frame = spark.createDataFrame(pd.concat(parts, ignore_index=True))
    sampler = sampler_class(label_col="label", seed=2, neighbor_search="lsh")
    sampler.fit_resample(frame)  # the search and the agreement run here; the output is lazy
    report = sampler.report_
    assert report.cross_search["method"] == "lsh"
    assert report.agreement_sample == 1000
    assert report.classification_agreement >= 0.98
