"""The cut of every row into spatial cells, for a search among all classes.

Phase 4 (neighbour engine), between the plan and
:mod:`spark_smote._search.cross_whole`. When the features of all rows exceed what one
task may hold and the queries are too many to copy to every shard (the plan's
``cell_classes`` with ``reference='all'``), the rows of every class are cut into cells
as a large class is (:mod:`spark_smote._search.cells`): slabs of one direction, each
with a halo, each held whole by its own tasks, a query answered in its slab's cell.
The cut is chosen here, on the driver, from the tuning sample's exact neighbours among
all rows (one exact search of the sample) and, when only some classes query, a sample
of all rows for the direction and the cells' sizes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_smote._keys import CLASS, IDX, X
from spark_smote._plan import SearchPlan
from spark_smote._search.cells import Cells, choose_cells
from spark_smote._search.cross_exact import (
    CROSS_STREAM_KEY,
    NBR,
    NBR_CLASS,
    sample_cross_neighbors,
    sample_queries,
)
from spark_smote._search.table import sample_condition

__all__ = ["cut_rows", "reference_cells"]

logger = logging.getLogger("spark_smote")

# The stream of the sample of every row that sizes the cells: not the tuner's sample.
_SPREAD_KEY = CROSS_STREAM_KEY + 1


def cut_rows(
    points: DataFrame,
    plan: SearchPlan,
    sample: Mapping[int, Sequence[int]],
    *,
    k: int,
    dimension: int,
    seed: int,
    sample_size: int,
) -> Cells | None:
    """The cut of every row into cells when ``plan`` asks for one and it fits, else None.

    ``sample`` is the tuning sample; when only some rows are queries, ``sample_size``
    rows of every class (a seeded sample of its own stream) size the cells. A cut
    that does not fit is reported by a warning: the search then runs per table.
    """
    if not plan.cell_classes:
        return None
    sizes = plan.reference_sizes
    restricted = sum(plan.class_sizes.values()) < sum(sizes.values())
    spread = sample_queries(sizes, sample_size, seed, _SPREAD_KEY) if restricted else None
    cells = reference_cells(
        points,
        sample=sample,
        spread=spread,
        sizes=sizes,
        k=k,
        dimension=dimension,
        cell_bytes=plan.cell_bytes,
    )
    if cells.fits:
        return cells
    logger.warning(
        "spark_smote LSH: the %d rows cannot be cut into cells of %.1f MB (their "
        "neighbours lie too far apart along every cut); searching over per-table copies.",
        sum(sizes.values()),
        plan.cell_bytes / 2**20,
    )
    return None


def reference_cells(
    points: DataFrame,
    *,
    sample: Mapping[int, Sequence[int]],
    spread: Mapping[int, Sequence[int]] | None,
    sizes: Mapping[int, int],
    k: int,
    dimension: int,
    cell_bytes: int,
) -> Cells:
    """Cut every row of ``points`` into cells of at most ``cell_bytes`` of features.

    Parameters
    ----------
    points : DataFrame
        The points table of every class.
    sample : mapping
        The tuning sample: class ordinal -> sampled query indices.
    spread : mapping, optional
        A sample of every class's rows (class ordinal -> indices) when the queries are
        not all rows; None when they are.
    sizes : mapping
        Rows per class ordinal of every class.
    k, dimension : int
        Neighbours per query and features per row.
    cell_bytes : int
        The features a cell may hold.

    Notes
    -----
    Two Spark jobs: the sample's exact search among all rows, and one collecting the
    features of the sampled rows, their neighbours and ``spread`` (a few thousand rows).

    """
    truth = sorted(
        sample_cross_neighbors(points, sample, sizes=sizes, k=k, dimension=dimension).collect(),
        key=lambda row: (int(row[CLASS]), int(row[IDX])),
    )
    queried = [(int(row[CLASS]), int(row[IDX])) for row in truth]
    found = [list(zip(row[NBR_CLASS], row[NBR], strict=True)) for row in truth]
    spread_rows = [(o, int(i)) for o in sorted(spread or {}) for i in (spread or {})[o]]
    wanted: dict[int, set[int]] = {}
    for ordinal, index in [*queried, *(pair for row in found for pair in row), *spread_rows]:
        wanted.setdefault(int(ordinal), set()).add(int(index))
    held = (
        points.where(sample_condition({o: sorted(idx) for o, idx in wanted.items()}))
        .select(CLASS, IDX, F.col(X).cast("array<double>").alias(X))
        .collect()
    )
    features = {(int(r[CLASS]), int(r[IDX])): np.array(r[X], np.float64) for r in held}
    queries = np.array([features[key] for key in queried]).reshape(len(queried), dimension)
    neighbors = np.array(
        [[features[(int(c), int(i))] for c, i in row] for row in found], np.float64
    ).reshape(len(queried), -1, dimension)
    rows_sample = np.array([features[key] for key in spread_rows]) if spread else None
    return choose_cells(queries, neighbors, sum(sizes.values()), cell_bytes, spread=rows_sample)
