"""Every synthetic row lies between its base and one of the base's exact k neighbours.

Ground truth is scikit-learn's NearestNeighbors on the same rows. Ties in distance are
accepted: a neighbour is valid when it is no farther than the base's k-th nearest other
row. Exact duplicates of a row (distance 0) are valid neighbours; the row itself never.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from spark_smote import SMOTE
from spark_smote._plan import PlanLimits
from spark_smote._search.kernels import block_top_k, candidate_distances
from tests.helpers import sorted_rows

K = 4
DIMENSION = 3


def known_geometry_rows() -> list[tuple]:
    """(id, a, b, c, label): a majority blob and a minority blob with duplicated points."""
    rng = np.random.default_rng(20021)
    majority = rng.normal(0.0, 1.0, size=(150, DIMENSION))
    minority = rng.normal(6.0, 2.0, size=(110, DIMENSION))
    duplicated = np.repeat(minority[:6], 3, axis=0)  # six points, each three times more
    minority = np.vstack([minority, duplicated, np.repeat(minority[6:7], K + 2, axis=0)])
    rows = [(i, *map(float, x), 0) for i, x in enumerate(majority)]
    start = len(rows)
    rows += [(start + i, *map(float, x), 1) for i, x in enumerate(minority)]
    return rows


@pytest.fixture(scope="module")
def geometry_rows() -> list[tuple]:
    return known_geometry_rows()


def resample_with_provenance(spark, rows, **overrides):
    df = spark.createDataFrame(rows, ["id", "a", "b", "c", "label"])
    params = {
        "label_col": "label",
        "k_neighbors": K,
        "sampling_strategy": {1: 500},
        "seed": 11,
        "id_col": "id",
        "synthetic_col": "is_synthetic",
        "provenance": True,
    }
    params.update(overrides)
    sampler = SMOTE(**params)
    out = sampler.fit_resample(df)
    return out, sampler.report_


def assert_on_segments_to_true_neighbours(rows, out) -> int:
    """Check every synthetic row of ``out``; return how many used a distance-0 neighbour."""
    points = {r[0]: np.array(r[1:4]) for r in rows}
    label_of = {r[0]: r[4] for r in rows}
    synthetic = out.where("is_synthetic").collect()
    assert synthetic, "no synthetic rows to check"
    by_class: dict[int, tuple[list[int], np.ndarray, np.ndarray]] = {}
    for label in {r[4] for r in rows}:
        ids = [r[0] for r in rows if r[4] == label]
        matrix = np.array([points[i] for i in ids])
        distances, positions = NearestNeighbors(n_neighbors=K + 1).fit(matrix).kneighbors(matrix)
        by_class[label] = (ids, distances, positions)
    at_zero = 0
    for row in synthetic:
        base_id, neighbor_id, lam = (
            row["smote_base_id"],
            row["smote_neighbor_id"],
            row["smote_lambda"],
        )
        assert 0.0 <= lam < 1.0
        assert base_id != neighbor_id, "a row was used as its own neighbour"
        assert label_of[base_id] == label_of[neighbor_id] == row["label"]
        ids, distances, positions = by_class[row["label"]]
        i = ids.index(base_id)
        others = [d for d, p in zip(distances[i], positions[i], strict=True) if p != i][:K]
        kth_distance = max(others)
        base, neighbor = points[base_id], points[neighbor_id]
        gap = float(np.linalg.norm(neighbor - base))
        assert gap <= kth_distance + 1e-9, (
            f"neighbour {neighbor_id} of {base_id} at {gap} is beyond the k-th nearest "
            f"({kth_distance})"
        )
        at_zero += gap == 0.0
        expected = base + lam * (neighbor - base)
        got = np.array([row["a"], row["b"], row["c"]])
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    return at_zero


@pytest.mark.e2e
def test_synthetic_rows_lie_between_base_and_a_true_neighbour(spark, geometry_rows):
    out, _ = resample_with_provenance(spark, geometry_rows)
    at_zero = assert_on_segments_to_true_neighbours(geometry_rows, out)
    assert out.where("is_synthetic").count() == 500 - 134
    assert at_zero > 0, "duplicates at distance 0 were never used as neighbours"


@pytest.mark.e2e
def test_multi_block_search_and_bucketed_index_give_true_neighbours(
    spark, geometry_rows, monkeypatch
):
    limits = PlanLimits(exact_block_rows=32, rows_per_index_bucket=40)
    monkeypatch.setattr(SMOTE, "_plan_limits", limits)
    out, report = resample_with_provenance(spark, geometry_rows, seed=12)
    assert report.neighbor_parameters[1]["blocks"] == 5
    assert_on_segments_to_true_neighbours(geometry_rows, out)
    assert out.where("is_synthetic").count() == 500 - 134


@pytest.mark.e2e
def test_multi_block_search_gives_the_same_rows_as_one_block(spark, geometry_rows, monkeypatch):
    one_block, report = resample_with_provenance(spark, geometry_rows, seed=5)
    assert report.neighbor_parameters[1]["blocks"] == 1
    expected = sorted_rows(one_block)
    # The index buckets change which row gets which index (a function of the class
    # size only), so only the block size varies here.
    monkeypatch.setattr(SMOTE, "_plan_limits", PlanLimits(exact_block_rows=32))
    many_blocks, report = resample_with_provenance(spark, geometry_rows, seed=5)
    assert report.neighbor_parameters[1]["blocks"] == 5
    assert sorted_rows(many_blocks) == expected


@pytest.mark.e2e
def test_class_of_identical_rows_uses_duplicates_never_itself(spark):
    rows = [(i, 1.0, 2.0, 3.0, 1) for i in range(6)]
    rows += [(100 + i, float(i), 0.0, 0.0, 0) for i in range(20)]
    out, _ = resample_with_provenance(spark, rows, k_neighbors=3, sampling_strategy="auto")
    synthetic = out.where("is_synthetic").collect()
    assert len(synthetic) == 14
    for row in synthetic:
        assert row["smote_base_id"] != row["smote_neighbor_id"]
        assert (row["a"], row["b"], row["c"]) == (1.0, 2.0, 3.0)


def test_block_top_k_matches_sklearn_and_excludes_the_query():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(60, 4))
    x[10:14] = x[9]  # five identical rows
    idx = np.arange(60, dtype=np.int64) * 3
    neighbors, distances = block_top_k(x, idx, x, idx, K)
    truth_d, truth_p = NearestNeighbors(n_neighbors=K + 1).fit(x).kneighbors(x)
    for i in range(60):
        assert idx[i] not in neighbors[i]
        others = [d for d, p in zip(truth_d[i], truth_p[i], strict=True) if p != i][:K]
        np.testing.assert_allclose(np.sqrt(distances[i]), others, atol=1e-12)
        assert list(distances[i]) == sorted(distances[i])
    assert set(neighbors[9]) == set(idx[10:14])


def test_candidate_distances_are_the_exact_squared_distances_bit_for_bit():
    rng = np.random.default_rng(11)
    refs = rng.normal(size=(500, 18)) * 1e3
    queries = refs[[3, 77, 400]] + rng.normal(size=(3, 18)) * 1e-9  # near-duplicates
    candidates = rng.integers(0, 500, size=(3, 21))
    before = refs.copy()
    expected = np.array(
        [
            [float(np.sum((queries[i] - refs[c]) ** 2)) for c in row]
            for i, row in enumerate(candidates)
        ]
    )
    np.testing.assert_allclose(candidate_distances(queries, refs, candidates), expected, rtol=1e-12)
    broadcast = queries[:, None, :] - refs[candidates]
    assert np.array_equal(
        candidate_distances(queries, refs, candidates),
        np.einsum("ijk,ijk->ij", broadcast, broadcast),
    )
    assert np.array_equal(refs, before)  # computed in a gathered copy, not in the references
