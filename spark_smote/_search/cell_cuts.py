"""The cut of a large class into cells, chosen in Spark from the tuning sample.

Part of the neighbour search (phase 4, :mod:`spark_smote._search`): the Spark side of
:mod:`spark_smote._search.cells`, run by the tuning
(:func:`spark_smote._search.tuning.tune_classes`) for the plan's cell classes once the
sample's exact neighbours are known.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from spark_smote._arrow import matrix_from_binary_column, matrix_from_list_column
from spark_smote._keys import CLASS, IDX, X
from spark_smote._search.cells import Cells, choose_cells, reachable
from spark_smote._search.table import sample_condition

__all__ = ["class_cells", "core_cell", "holding_cells", "projection"]

_CELLS_SCHEMA = T.StructType(
    [
        T.StructField(CLASS, T.IntegerType()),
        T.StructField("direction", T.ArrayType(T.DoubleType())),
        T.StructField("bounds", T.ArrayType(T.DoubleType())),
        T.StructField("halo", T.DoubleType()),
        T.StructField("rows", T.ArrayType(T.LongType())),
        T.StructField("kept", T.DoubleType()),
        T.StructField("fits", T.BooleanType()),
        T.StructField("sampled", T.ArrayType(T.LongType())),
        T.StructField("reachable", T.ArrayType(T.BooleanType())),
    ]
)


def projection(cells: Cells) -> Column:
    """Each row's projection on the cells' direction, summed feature after feature.

    The same sums as :func:`~spark_smote._search.cells.project_rows`, so a row falls
    in the same cells in Spark as in numpy.
    """
    weights = ", ".join(repr(float(w)) for w in cells.direction)
    return F.expr(
        f"aggregate(zip_with({X}, array({weights}), (a, b) -> a * b), 0D, (s, v) -> s + v)"
    )


def holding_cells(cells: Cells, z: Column) -> Column:
    """The cells holding a row projected at ``z``: its slab's and the halos reaching it."""
    lower = F.array(*[F.lit(float(v)) for v in cells.lower()])
    upper = F.array(*[F.lit(float(v)) for v in cells.upper()])
    return F.filter(
        F.sequence(F.lit(0), F.lit(cells.count - 1)),
        lambda c: (z >= F.get(lower, c)) & (z < F.get(upper, c)),
    )


def core_cell(cells: Cells, z: Column) -> Column:
    """The cell of the slab of a row projected at ``z`` (where it is a query)."""
    bounds = F.array(*[F.lit(float(b)) for b in cells.bounds])
    return F.size(F.filter(bounds, lambda b: b <= z))


def class_cells(
    points: DataFrame,
    truth: Mapping[int, Mapping[int, list[int]]],
    sizes: Mapping[int, int],
    dimension: int,
    cell_bytes: int,
) -> dict[int, tuple[Cells, dict[int, np.ndarray]]]:
    """Cut each class of ``truth`` into cells (:func:`~spark_smote._search.cells.choose_cells`).

    One job: the tuning sample's rows and their exact neighbours (``truth``: per class,
    sampled index -> its k nearest indices) go to one task per class, which chooses
    the cells. Only the cells and, per sampled row, which of its neighbours lie in its
    cell (for the recall) reach the driver.
    """
    wanted = {
        o: sorted({i for q, nbrs in rows.items() for i in (q, *nbrs)}) for o, rows in truth.items()
    }

    def cut(group: pa.Table) -> pa.Table:
        ordinal = int(group.column(CLASS)[0].as_py())
        idx = group.column(IDX).to_numpy()
        features = group.column(X)
        if pa.types.is_binary(features.type):
            x = matrix_from_binary_column(features, dimension)
        else:
            x = matrix_from_list_column(features, dimension)
        position = dict(zip(idx.tolist(), range(len(idx)), strict=True))
        sampled = sorted(truth[ordinal])
        queries = x[[position[q] for q in sampled]]
        neighbors = x[[[position[i] for i in truth[ordinal][q]] for q in sampled]]
        cells = choose_cells(queries, neighbors, sizes[ordinal], cell_bytes)
        inside = reachable(cells, queries, neighbors)
        row = {
            CLASS: [ordinal],
            "direction": [list(cells.direction)],
            "bounds": [list(cells.bounds)],
            "halo": [cells.halo],
            "rows": [list(cells.rows)],
            "kept": [cells.kept],
            "fits": [cells.fits],
            "sampled": [sampled],
            "reachable": [inside.ravel().tolist()],
        }
        return pa.table(row).cast(to_arrow_schema(_CELLS_SCHEMA))

    found = (
        points.where(sample_condition(wanted))
        .select(CLASS, IDX, X)
        .groupBy(CLASS)
        .applyInArrow(cut, _CELLS_SCHEMA)
        .collect()
    )
    chosen: dict[int, tuple[Cells, dict[int, np.ndarray]]] = {}
    for row in found:
        cells = Cells(
            tuple(row["direction"]),
            tuple(row["bounds"]),
            float(row["halo"]),
            tuple(int(v) for v in row["rows"]),
            float(row["kept"]),
            bool(row["fits"]),
        )
        flags = np.array(row["reachable"], bool).reshape(len(row["sampled"]), -1)
        chosen[int(row[CLASS])] = (cells, dict(zip(row["sampled"], flags, strict=True)))
    return chosen
