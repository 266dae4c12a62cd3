"""Spatial cells of a class too large for one task: sizes, halos, the neighbours kept."""

from __future__ import annotations

import numpy as np
import pytest

from spark_smote._search.cells import (
    HALO_QUANTILE,
    MAX_CELLS,
    Cells,
    choose_cells,
    project_rows,
    reachable,
)
from spark_smote._search.tuning_rules import recall_by_tables

K = 5


def correlated(n: int, dimension: int, seed: int = 0) -> np.ndarray:
    """Rows of a few clusters stretched along shared directions, as tabular data is."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(0.0, 1.0, (dimension, dimension))
    centres = rng.normal(0.0, 4.0, (6, dimension))
    return centres[rng.integers(0, 6, n)] + rng.normal(0.0, 1.0, (n, dimension)) @ mixing


def sample_and_neighbors(x: np.ndarray, size: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A sample of rows and their exact k nearest rows (itself excluded)."""
    sample = np.sort(np.random.default_rng(seed).choice(len(x), size, replace=False))
    squared = ((x[sample][:, None, :] - x[None, :, :]) ** 2).sum(-1)
    squared[np.arange(size), sample] = np.inf
    return sample, np.argsort(squared, axis=1)[:, :K]


def cell_rows(cells: Cells, x: np.ndarray) -> np.ndarray:
    """Rows each cell really holds (core and halo)."""
    z = project_rows(x, cells.direction)
    return ((z[None, :] >= cells.lower()[:, None]) & (z[None, :] < cells.upper()[:, None])).sum(1)


def test_cells_fit_the_budget_and_keep_the_neighbours() -> None:
    x = correlated(60_000, 8)
    sample, knn = sample_and_neighbors(x, 256)
    budget = len(x) * 8 * 8 // 3  # a third of the class's features
    cells = choose_cells(x[sample], x[knn], len(x), budget)
    assert 3 <= cells.count < MAX_CELLS
    assert list(cells.bounds) == sorted(cells.bounds)
    # Sized from 256 sampled rows, with room for their error: every real cell fits.
    assert (cell_rows(cells, x) * 8 * 8 <= budget).all()
    assert (cell_rows(cells, x) <= np.array(cells.rows)).all()
    # Each row is the query of exactly one cell, which holds it.
    z = project_rows(x, cells.direction)
    core = cells.core(z)
    assert ((z >= cells.lower()[core]) & (z < cells.upper()[core])).all()
    # The halo holds the sample's neighbours up to its quantile, measured on all rows.
    assert cells.kept >= HALO_QUANTILE
    other, other_knn = sample_and_neighbors(x, 300, seed=7)
    assert reachable(cells, x[other], x[other_knn]).mean() >= 0.98
    # One cell fewer would not have fitted.
    fewer = choose_cells(x[sample], x[knn], len(x), budget * 10)
    assert fewer.count == 2


def test_a_neighbour_within_the_halo_is_always_in_its_querys_cell() -> None:
    x = correlated(5_000, 6, seed=3)
    sample, knn = sample_and_neighbors(x, 200)
    cells = choose_cells(x[sample], x[knn], len(x), len(x) * 6 * 8 // 4)
    z = project_rows(x, cells.direction)
    pairs = np.random.default_rng(0).integers(0, len(x), (20_000, 2))
    close = np.abs(z[pairs[:, 0]] - z[pairs[:, 1]]) <= cells.halo
    inside = reachable(cells, x[pairs[:, 0]], x[pairs[:, 1]][:, None, :])[:, 0]
    assert close.any() and inside[close].all()


def test_projection_sums_feature_after_feature() -> None:
    x = np.random.default_rng(4).normal(0.0, 1e6, (1000, 18))
    direction = np.random.default_rng(5).normal(size=18)
    expected = np.zeros(1000)
    for j in range(18):
        expected = expected + x[:, j] * direction[j]
    assert np.array_equal(project_rows(x, tuple(direction.tolist())), expected)
    # Rows alone decide their value: a row projects the same in any batch.
    assert np.array_equal(project_rows(x[::-1], direction)[::-1], expected)


def test_a_halo_wider_than_the_slabs_takes_the_smallest_largest_cell() -> None:
    # Isotropic rows in two dimensions: neighbours lie as far apart as the slabs are
    # wide, so no cut fits a budget of a fortieth of the class.
    x = np.random.default_rng(6).normal(size=(4_000, 2))
    sample, knn = sample_and_neighbors(x, 200)
    cells = choose_cells(x[sample], x[knn], len(x), len(x) * 2 * 8 // 40)
    z = project_rows(x[sample], cells.direction)
    largest = {}
    for count in range(40, MAX_CELLS + 1):
        bounds = np.quantile(z, np.arange(1, count) / count)
        lower = np.concatenate([[-np.inf], bounds - cells.halo])
        upper = np.concatenate([bounds + cells.halo, [np.inf]])
        largest[count] = (
            ((z[None, :] >= lower[:, None]) & (z[None, :] < upper[:, None])).sum(1).max()
        )
    assert largest[cells.count] == min(largest.values())
    assert max(cells.rows) < len(x)


def test_recall_counts_only_the_neighbours_a_cell_can_find() -> None:
    ranks = np.zeros((2, 3), np.int64)
    neighbor_ranks = np.zeros((2, K, 3), np.int64)  # every neighbour in every chunk
    found = np.zeros((2, K), bool)
    everywhere = recall_by_tables(ranks, neighbor_ranks, found, 100, 10)
    assert everywhere.tolist() == [1.0, 1.0, 1.0]
    outside = np.ones((2, K), bool)
    outside[0, :2] = False
    assert recall_by_tables(ranks, neighbor_ranks, found, 100, 10, outside).tolist() == [0.8] * 3


def test_rows_spread_along_one_axis_only_still_cut() -> None:
    x = np.zeros((1_000, 3))
    x[:, 1] = np.random.default_rng(8).normal(size=1_000)
    sample, knn = sample_and_neighbors(x, 100)
    cells = choose_cells(x[sample], x[knn], len(x), len(x) * 3 * 8 // 3)
    assert abs(cells.direction[1]) == pytest.approx(1.0)
    assert cells.count >= 3 and cells.kept >= HALO_QUANTILE
