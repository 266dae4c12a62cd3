"""How the LSH search among all classes chooses its parameters from the tuning's curves.

Part of the neighbour search (phase 4), numpy only: the chunk sizes tried
(:func:`cap_choices`), the cost of a choice (:func:`search_cost`, the cheapest
reaching the target: :func:`cheapest_reaching`), whether a wider
bucket is worth tuning (:func:`width_settled`) and the choice itself
(:func:`choose_tuning`). The curves come from
:func:`spark_smote._search.cross_whole.tune_whole_reference` (or the per-table tuning of
:mod:`spark_smote._search.cross_lsh`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

__all__ = [
    "CROSS_CAP_CHOICES",
    "ORDER_ROW_COST",
    "cap_choices",
    "cheapest_reaching",
    "choose_tuning",
    "search_cost",
    "tables_reaching",
    "width_settled",
]

# Cost of ordering one row in one table (projection, sort, kept rows) in candidates
# ranked: 0.9 s for 1.5M rows against about 4 ns a candidate (the 2.88M set, 18
# features, one shard of two, 4096-row chunks).
ORDER_ROW_COST = 150
# Chunk sizes the tuning chooses from (bucket_cap), the larger ones tried up to this
# fraction of the rows (cap_choices).
CROSS_CAP_CHOICES = (1024, 2048, 4096, 8192)
_CAP_SHARE = 16
# A second width's tuning pass costs about what the first does. At 2.88M rows, for the
# cleaners (every row a query; a search of about 60 and 200 passes by the cost model)
# 8x the median k-th distance reaches the target with 16 tables of 1024 rows (ENN) and
# 20 of 2048 (Tomek links) where 4x needs 21 of 2048 and 22 of 8192; for Borderline-1
# and ADASYN (about 4-6 passes) it finds nothing cheaper and the pass costs 18-31 s.
# So it is tuned for searches above this many passes.
_WIDTH_PAYBACK = 10


class _TuningTargets(Protocol):
    """What the choice of parameters reads of the LSH parameters."""

    @property
    def tables(self) -> int | None: ...
    @property
    def target_recall(self) -> float: ...


def search_cost(cap: int, tables: int, *, rows: int, queries: int) -> int:
    """Estimated cost of a search with ``tables`` tables, in candidates ranked.

    Every row is ordered in each table, each query ranked against its chunk of
    ``cap`` rows in each table.
    """
    return tables * (rows * ORDER_ROW_COST + queries * cap)


def tables_reaching(curve: Sequence[float] | np.ndarray, target_recall: float) -> int | None:
    """The fewest tables whose recall in ``curve`` reaches the target; None if none does."""
    reached = np.flatnonzero(np.asarray(curve, np.float64) >= target_recall)
    return int(reached[0]) + 1 if reached.size else None


def cheapest_reaching(
    curves: Sequence[Sequence[float] | np.ndarray],
    caps: Sequence[int],
    target_recall: float,
    *,
    rows: int,
    queries: int,
) -> int | None:
    """Cost of the cheapest (cap, tables) of ``curves`` reaching the target; None if none.

    ``curves`` gives one recall curve per cap of ``caps``, each costed at the fewest
    tables reaching ``target_recall`` (:func:`search_cost`).
    """
    costs = [
        search_cost(cap, tables, rows=rows, queries=queries)
        for cap, curve in zip(caps, curves, strict=True)
        if (tables := tables_reaching(curve, target_recall)) is not None
    ]
    return min(costs, default=None)


def width_settled(
    curves: Sequence[Sequence[float]],
    caps: Sequence[int],
    target_recall: float,
    *,
    rows: int,
    queries: int,
    tuning_pass: int,
) -> bool:
    """Whether tuning the next, wider bucket cannot pay for itself.

    ``curves`` are one width's recall curves, one per cap of ``caps`` (smallest
    first); ``rows`` and ``queries`` cost the search (:func:`search_cost`) and
    ``tuning_pass`` one more width's tuning in the same units. A wider bucket brings
    a query's neighbours nearer in each table's order, so what it can save is chunk
    size. Settled when the smallest cap reached the target, or when the cheapest
    choice reaching it costs at most ``_WIDTH_PAYBACK`` tuning passes; never when
    nothing reached it.
    """
    cheapest = cheapest_reaching(curves, caps, target_recall, rows=rows, queries=queries)
    if cheapest is None:
        return False
    if tables_reaching(curves[0], target_recall) is not None:
        return True
    return cheapest <= _WIDTH_PAYBACK * tuning_pass


def cap_choices(k: int, sizes: Mapping[int, int]) -> list[int]:
    """The chunk sizes tried when every row is held: the smallest, and larger ones.

    ``CROSS_CAP_CHOICES`` from the smallest fitting ``k``, the larger ones up to a
    sixteenth of the rows.

    A chunk spanning a large share of the order makes one table nearly a scan of one
    slab, and its sample recall then overstates the search: ENN at 3000 rows took one
    table of 2048 (sample recall 0.991) and agreed with exact search on 0.968 of the
    removals, against 0.992 with two tables of 1024.
    """
    rows = sum(sizes.values())
    fitting = [c for c in CROSS_CAP_CHOICES if c >= 4 * (k + 1)] or [4 * (k + 1)]
    return fitting[:1] + [c for c in fitting[1:] if c * _CAP_SHARE <= rows]


def choose_tuning(
    curves: list[tuple[tuple[float, int], np.ndarray]],
    params: _TuningTargets,
    *,
    rows: int,
    queries: int,
) -> tuple[float, int, int, np.ndarray]:
    """(width, cap, tables, curve): the cheapest choice reaching the target.

    ``curves`` gives, per (width, cap) tried in order, the sample recall with 1, 2,
    ... tables, costed by :func:`search_cost`. With
    ``tables`` given, that many, at the best recall; when nothing reaches the
    target, the best recall with every table. Ties go to the cheaper choice, then
    to the earlier one.
    """

    def cost(cap: int, tables: int) -> int:
        return search_cost(cap, tables, rows=rows, queries=queries)

    options = []
    for order, ((width, cap), curve) in enumerate(curves):
        reaching = tables_reaching(curve, params.target_recall)
        if params.tables is not None:
            tables = params.tables
        elif reaching is not None:
            tables = reaching
        else:
            tables = len(curve)
        recall = float(curve[tables - 1])
        met = params.tables is None and reaching is not None
        options.append((width, cap, tables, curve, met, recall, cost(cap, tables), order))
    if any(option[4] for option in options):
        width, cap, tables, curve = min((o for o in options if o[4]), key=lambda o: (o[6], o[7]))[
            :4
        ]
    else:
        width, cap, tables, curve = min(options, key=lambda o: (-o[5], o[6], o[7]))[:4]
    return width, cap, tables, curve
