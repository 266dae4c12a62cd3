"""The neighbours table and the search report: what every search path returns.

Part of the neighbour search (phase 4, :mod:`spark_smote._search`). The input is the
points table of :mod:`spark_smote._keys`; every path returns the *neighbours* table,
one row per point::

    _smote_class, _smote_idx, _smote_x, [_smote_id,]
    _smote_nbr   array<long>    indices of the k nearest other rows of the class,
                                nearest first (ties by index); exact duplicates of the
                                row count as neighbours at distance 0, the row itself never

and a :class:`NeighborReport` per class (with a :class:`CrossReport` when the search
looked among all classes). Also the helpers the Spark paths share.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_smote._keys import CLASS, ID, IDX, X

__all__ = [
    "DIST",
    "NBR",
    "SORT_KEY",
    "SORT_KEYS",
    "TABLE",
    "CrossReport",
    "NeighborReport",
    "neighbor_table_columns",
    "of_classes",
    "run_order",
    "sample_condition",
]

NBR = "_smote_nbr"
DIST = "_smote_dist"
# The LSH searches' per-table copies: the table of a copy, a row's sort key in one
# table, and its sort keys in every table before they are exploded into copies.
TABLE = "_smote_table"
SORT_KEY = "_smote_key"
SORT_KEYS = "_smote_keys"


@dataclass
class NeighborReport:
    """What the neighbour phase did, per query class ordinal.

    Attributes
    ----------
    method : dict
        'exact' or 'lsh' per class ordinal.
    parameters : dict
        Method parameters per class ordinal (block size, or LSH width/tables/...).
    cross : CrossReport or None
        A search among all classes: what it did as a whole (one method for every
        class, why, the measured recall); None for a search within each class.

    """

    method: dict[int, str] = field(default_factory=dict)
    parameters: dict[int, dict[str, Any]] = field(default_factory=dict)
    cross: CrossReport | None = None


@dataclass(frozen=True)
class CrossReport:
    """What one search among all classes did, as a whole.

    Attributes
    ----------
    method : str
        'exact' or 'lsh'.
    reason : str
        Why that method (the asked method, or the rule ``auto`` applied).
    k : int
        Neighbours per query.
    queries : int
        Query rows.
    rows : int
        Reference rows (all rows of all classes).
    parameters : dict
        Exact: block rows and block counts. LSH: bucket width, tables, hashes per
        table, bucket cap, the sample's median k-th distance and recall by tables.
    recall : float or None
        LSH only: recall@k of the search's output against exact search, measured on
        ``recall_sample`` seeded query rows. None for exact search (recall 1).
    recall_sample : int
        Query rows the recall was measured on.

    """

    method: str
    reason: str
    k: int
    queries: int
    rows: int
    parameters: dict[str, Any] = field(default_factory=dict)
    recall: float | None = None
    recall_sample: int = 0


def neighbor_table_columns(points: DataFrame) -> list[str]:
    """The points' columns a neighbours table carries: features, and the id if any."""
    return [X, *([ID] if ID in points.schema.names else [])]


def of_classes(points: DataFrame, classes: Collection[int], sizes: Mapping[int, int]) -> DataFrame:
    """The points of ``classes`` (all of ``points`` when they are all of ``sizes``)."""
    if len(classes) == len(sizes):
        return points
    return points.filter(F.col(CLASS).isin(sorted(classes)))


def run_order(tables: Mapping[int, int], sizes: Mapping[int, int], within: str) -> Column:
    """A row's place in the order its (class, ``within``) groups are dealt to the tasks.

    Each class has ``tables[class]`` groups, numbered by the column ``within`` (the
    table of a per-table copy, the share of a whole-class copy). Groups are dealt
    largest class first, so every task gets one group before any gets two and the tasks
    with two start first (see :func:`spark_smote._keys.place_by_position`).
    """
    order = sorted(tables, key=lambda o: (-sizes[o], o))
    first, cases = 0, []
    for ordinal in order:
        cases.append(f"WHEN {int(ordinal)} THEN {first}")
        first += tables[ordinal]
    return F.expr(f"CASE {CLASS} {' '.join(cases)} END + {within}")


def sample_condition(indices: Mapping[int, list[int]]) -> Any:
    """``class = o AND idx IN (...)`` for every class, as one SQL expression.

    One parsed expression instead of a literal Column per index (a py4j round trip
    each in a classic session: half a second for 1,500 indices).
    """
    terms = [
        f"({CLASS} = {int(ordinal)} AND {IDX} IN ({', '.join(str(int(i)) for i in rows)}))"
        for ordinal, rows in indices.items()
        if rows
    ]
    return F.expr(" OR ".join(terms)) if terms else F.lit(False)
