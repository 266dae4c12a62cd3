"""Spatial cells of a class too large for one task: slabs of its main direction, with halos.

Part of the neighbour search (phase 4, :mod:`spark_smote._search`), numpy only. The
whole-class search (:mod:`~spark_smote._search.whole_class`) holds a class in each of
its tasks; a class whose features exceed what a task may hold
(:attr:`~spark_smote._plan.SearchPlan.cell_bytes`) is cut into cells that fit, and each
cell is searched whole, as a small class is:

- the class's rows are projected on its main direction (the tuning sample's first
  principal axis): a random direction shrinks a neighbour's offset by about
  sqrt(d) as it does the class's spread, while the main axis keeps most of the spread;
- the projections are cut at quantiles into slabs: a row is a query of the cell of
  its own slab (its *core*);
- each cell also holds, as references only, the rows within ``halo`` of its slab: a
  query's neighbour lies in the query's cell whenever their projections differ by at
  most ``halo``, the :data:`HALO_QUANTILE` of those differences over the tuning sample
  and its exact neighbours.

The share of the sample's exact neighbours that lie in their query's cell is measured
(:attr:`Cells.kept`) and counted in the tuning's recall: a neighbour outside the cell
is one the search cannot find.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

__all__ = [
    "HALO_QUANTILE",
    "MAX_CELLS",
    "Cells",
    "choose_cells",
    "main_direction",
    "project_rows",
    "reachable",
]

# A neighbour of the tuning sample lies outside its query's cell only when its
# projection is farther than this quantile of the sample's offsets and it sits across
# the slab's edge: on the 3M-row class of the 12M preset, 3 cells keep 99.9 % or more.
HALO_QUANTILE = 0.99
# The most cells a class is cut into: each is held whole by its tasks, and every one
# repeats the ordering of its halo rows.
MAX_CELLS = 64
# Cells are sized from the tuning sample's projections (a few hundred rows), so each
# estimate gets this much room for the sample's error.
_SIZE_MARGIN = 1.2


@dataclass(frozen=True)
class Cells:
    """How one class is cut into cells.

    Attributes
    ----------
    direction : tuple of float
        The unit direction rows are projected on (:func:`project_rows`).
    bounds : tuple of float
        The ``count - 1`` ascending edges of the slabs: a row with projection z is in
        the core of cell ``searchsorted(bounds, z, side='right')``.
    halo : float
        A cell holds the rows whose projection is within ``halo`` of its slab.
    rows : tuple of int
        Estimated rows of each cell (core and halo), from the tuning sample.
    kept : float
        Share of the tuning sample's exact neighbours lying in their query's cell.
    fits : bool
        Every cell's estimated features fit the size asked for.

    """

    direction: tuple[float, ...]
    bounds: tuple[float, ...]
    halo: float
    rows: tuple[int, ...]
    kept: float
    fits: bool = True

    @property
    def count(self) -> int:
        """The number of cells."""
        return len(self.bounds) + 1

    def lower(self) -> np.ndarray:
        """Per cell, the smallest projection it holds (-inf for the first)."""
        return np.concatenate([[-np.inf], np.asarray(self.bounds) - self.halo])

    def upper(self) -> np.ndarray:
        """Per cell, the projection its rows stay below (inf for the last)."""
        return np.concatenate([np.asarray(self.bounds) + self.halo, [np.inf]])

    def core(self, z: np.ndarray) -> np.ndarray:
        """The cell whose slab holds each projection."""
        return np.searchsorted(np.asarray(self.bounds), z, side="right")


def project_rows(x: np.ndarray, direction: np.ndarray | tuple[float, ...]) -> np.ndarray:
    """Each row's projection on ``direction``, summed feature after feature.

    The sum runs in feature order, one product at a time, as Spark's ``aggregate`` sums
    the search's projections, so a row's value depends on its features only.
    """
    weights = np.asarray(direction, np.float64)
    z = np.zeros(len(x), np.float64)
    for j, w in enumerate(weights.tolist()):
        z += x[:, j] * w
    return z


def _float32(value: np.ndarray) -> np.ndarray:
    """``value`` rounded to float32 precision, as float64.

    The direction and edges come from a small eigenproblem and quantiles, whose last
    bits may depend on the BLAS build; rounded, they are the same on any executor.
    """
    return np.asarray(value, np.float64).astype(np.float32).astype(np.float64)


def main_direction(x: np.ndarray) -> np.ndarray:
    """The unit first principal axis of ``x``'s rows, its largest entry positive."""
    centred = x - x.mean(axis=0)
    _, vectors = np.linalg.eigh(centred.T @ centred)
    direction = vectors[:, -1]
    if direction[np.argmax(np.abs(direction))] < 0:
        direction = -direction
    direction = _float32(direction)
    return direction / np.linalg.norm(direction)


def choose_cells(
    queries: np.ndarray,
    neighbors: np.ndarray,
    rows: int,
    cell_bytes: int,
    spread: np.ndarray | None = None,
) -> Cells:
    """The fewest cells of the rows whose estimated sizes fit ``cell_bytes``.

    Parameters
    ----------
    queries : ndarray (q, d)
        The tuning sample's features, in index order.
    neighbors : ndarray (q, k, d)
        The features of each sampled row's exact k nearest neighbours in the class.
    rows : int
        Rows of the class.
    cell_bytes : int
        The features a cell may hold (8 d bytes per row).
    spread : ndarray (s, d), optional
        A sample of all the rows being cut, when the queries are not one (a search
        among all classes for some classes' rows): the direction and the cells' sizes
        are taken from it. None: from the queries.

    Returns
    -------
    Cells
        At least two cells; :data:`MAX_CELLS` when even they are estimated to exceed
        ``cell_bytes``.

    """
    q, dimension = queries.shape
    rows_sample = queries if spread is None else spread
    direction = main_direction(rows_sample)
    z_queries = project_rows(queries, direction)
    z_neighbors = project_rows(neighbors.reshape(-1, dimension), direction).reshape(q, -1)
    offsets = np.abs(z_neighbors - z_queries[:, None])
    z = project_rows(rows_sample, direction)
    halo = float(_float32(np.quantile(offsets, HALO_QUANTILE))) if offsets.size else 0.0
    row_bytes = 8 * dimension
    fewest = max(2, -(-rows * row_bytes // cell_bytes))
    # (largest cell's rows, count, bounds, sizes) of each cut tried.
    tried: list[tuple[int, int, np.ndarray, np.ndarray]] = []
    for count in range(min(fewest, MAX_CELLS), MAX_CELLS + 1):
        bounds = _float32(np.quantile(z, np.arange(1, count) / count))
        lower = np.concatenate([[-np.inf], bounds - halo])
        upper = np.concatenate([bounds + halo, [np.inf]])
        shares = ((z[None, :] >= lower[:, None]) & (z[None, :] < upper[:, None])).mean(axis=1)
        sizes = np.ceil(shares * rows * _SIZE_MARGIN).astype(np.int64)
        tried.append((int(sizes.max()), count, bounds, sizes))
        if int(sizes.max()) * row_bytes <= cell_bytes:
            break
    else:
        # No cut fits (a halo as wide as most slabs): the smallest largest cell.
        _, _, bounds, sizes = min(tried, key=lambda cut: (cut[0], cut[1]))
    cells = Cells(
        tuple(direction.tolist()),
        tuple(bounds.tolist()),
        halo,
        tuple(sizes.tolist()),
        1.0,
        fits=int(sizes.max()) * row_bytes <= cell_bytes,
    )
    inside = reachable(cells, queries, neighbors)
    kept = round(float(inside.mean()), 4) if inside.size else 1.0
    return replace(cells, kept=kept)


def reachable(cells: Cells, queries: np.ndarray, neighbors: np.ndarray) -> np.ndarray:
    """Per query and neighbour (q, k): whether the neighbour lies in the query's cell."""
    q, dimension = queries.shape
    z = project_rows(queries, cells.direction)
    z_neighbors = project_rows(neighbors.reshape(-1, dimension), cells.direction).reshape(q, -1)
    core = cells.core(z)
    return (z_neighbors >= cells.lower()[core][:, None]) & (
        z_neighbors < cells.upper()[core][:, None]
    )
