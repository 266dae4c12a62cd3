"""Opt-in values of synthetic rows beyond the features: pass-through columns and ids.

Used between the keys phase and the output assembly, only when an option asks for it
(:func:`base_extras` gathers a base row's values for the synthesis):

- ``non_feature_fill``: what synthetic rows carry in columns that are neither label,
  id, feature nor categorical. 'null' (default, nothing carried), 'base' (the base
  row's values) or 'nearest' (the nearer of base and neighbour on the segment: the
  base when lambda < 0.5, else the neighbour). The columns travel as one struct
  ``_smote_pass`` in the points table.
- ``synthetic_ids``: fresh ids in ``id_col`` for synthetic rows, a pure function of
  (class, draw index), so deterministic and never equal to an input id:

  * integer id columns: ``max(input id) + 1 + offset(class) + draw`` where
    ``offset(class)`` is the number of synthetic rows of the grown classes with a
    smaller label; the ids are consecutive after the largest input id. An id type too
    small to hold the largest one is an error.
  * string id columns: ``"smote-<class ordinal>-<draw>"`` (class ordinal = position of
    the label in sorted label order); an input id already of that form is an error.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_smote._categorical import neighbor_votes
from spark_smote._errors import InvalidInputError
from spark_smote._features import FeatureLayout
from spark_smote._keys import CLASS, IDX, ClassPlan
from spark_smote._params import SMOTEParams
from spark_smote._synthesis import DRAW, LAMBDA

__all__ = [
    "NEIGHBOR_PASS",
    "PASS",
    "STRING_ID_PATTERN",
    "base_extras",
    "fresh_ids",
    "pass_struct",
    "pass_through_columns",
    "pass_through_values",
]

PASS = "_smote_pass"
NEIGHBOR_PASS = "_smote_neighbor_pass"
STRING_ID_PATTERN = "^smote-[0-9]+-[0-9]+$"

_INTEGER_MAX: dict[type[T.DataType], int] = {
    T.ByteType: 2**7 - 1,
    T.ShortType: 2**15 - 1,
    T.IntegerType: 2**31 - 1,
    T.LongType: 2**63 - 1,
}


def pass_through_columns(
    schema: T.StructType, layout: FeatureLayout, params: SMOTEParams
) -> list[str]:
    """Input columns that are neither label, id, feature nor categorical, in order."""
    taken = {params.label_col, params.id_col, *layout.columns, *layout.categorical}
    return [f.name for f in schema.fields if f.name not in taken]


def pass_struct(columns: Sequence[str]) -> Column:
    """The pass-through columns of a row packed into one struct."""
    return F.struct(*[F.col(name) for name in columns])


def pass_through_values(columns: Sequence[str], fill: str) -> dict[str, Column]:
    """Per pass-through column, its value in a synthetic row.

    Expressions over the synthetic table carrying ``_smote_pass`` and, for 'nearest',
    ``_smote_neighbor_pass``.
    """
    if fill == "base":
        return {name: F.col(PASS)[name] for name in columns}
    nearer_is_base = F.col(LAMBDA) < F.lit(0.5)
    return {
        name: F.when(nearer_is_base, F.col(PASS)[name]).otherwise(F.col(NEIGHBOR_PASS)[name])
        for name in columns
    }


def fresh_ids(
    df: DataFrame, id_col: str, id_type: T.DataType, grown: Sequence[ClassPlan]
) -> Column:
    """The id of each synthetic row (an expression over the synthetic table).

    Runs one small aggregation over the input (largest id, or ids of the generated
    form).

    Raises
    ------
    InvalidInputError
        The id type cannot hold the generated ids, or a string input id already has
        the generated form.

    """
    if isinstance(id_type, T.StringType):
        clashes = df.where(F.col(id_col).rlike(STRING_ID_PATTERN)).limit(3).collect()
        if clashes:
            examples = [row[id_col] for row in clashes]
            raise InvalidInputError(
                f"synthetic_ids=True: id_col={id_col!r} already holds ids of the generated "
                f"form 'smote-<class>-<draw>' (e.g. {examples}), so generated ids could "
                "collide. Rename those ids or use synthetic_ids=False."
            )
        return F.concat(
            F.lit("smote-"), F.col(CLASS).cast("string"), F.lit("-"), F.col(DRAW).cast("string")
        )
    largest = df.agg(F.max(F.col(id_col)).alias("m")).collect()[0]["m"]
    start = int(largest) + 1
    offsets: dict[int, int] = {}
    total = 0
    for plan in sorted(grown, key=lambda p: p.ordinal):
        offsets[plan.ordinal] = total
        total += plan.n_new
    limit = _INTEGER_MAX[type(id_type)]
    if start + total - 1 > limit:
        raise InvalidInputError(
            f"synthetic_ids=True: id_col={id_col!r} has type {id_type.simpleString()} and "
            f"its largest id is {largest}; the {total} generated ids would reach "
            f"{start + total - 1}, above the type's maximum {limit}. Cast the id column "
            "to long first, or use synthetic_ids=False."
        )
    offset: Column = F.lit(0).cast("long")
    for ordinal, first in offsets.items():
        offset = F.when(F.col(CLASS) == F.lit(ordinal), F.lit(first)).otherwise(offset)
    return F.lit(start).cast("long") + offset.cast("long") + F.col(DRAW).cast("long")


def base_extras(
    neighbors: DataFrame,
    points: DataFrame,
    layout: FeatureLayout,
    passed: list[str],
    seed: int,
) -> DataFrame | None:
    """Per minority row, the opt-in values its synthetic rows take from it (or None).

    The pass-through struct (``passed`` columns) and the categorical vote among the
    row's neighbours, keyed by class and index.
    """
    extras: DataFrame | None = None
    if passed:
        extras = points.select(CLASS, IDX, PASS)
    if layout.categorical:
        votes = neighbor_votes(neighbors, points, seed)
        extras = votes if extras is None else extras.join(votes, on=[CLASS, IDX])
    return extras
